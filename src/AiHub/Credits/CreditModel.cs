using AiHub.Identity;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Credits;

internal enum CreditOwner
{
    /// <summary>A user's own credits.</summary>
    User,

    /// <summary>An organisation's pool.</summary>
    Organization,

    /// <summary>A member's allocation inside an org pool, with a cap.</summary>
    Member,
}

/// <summary>
/// One account of the ledger. <see cref="Balance"/> and <see cref="Reserved"/> change only in the same transaction as
/// the <see cref="CreditEntry"/> that explains them, so each always equals the sum of its entries.
/// </summary>
/// <remarks>Amounts are integer micro-credits: there is no floating point anywhere in money.</remarks>
internal sealed class CreditAccount
{
    public Guid Id { get; init; }

    public CreditOwner Owner { get; init; }

    public Guid? UserId { get; init; }

    public Guid? OrganizationId { get; init; }

    public long Balance { get; set; }

    public long Reserved { get; set; }

    /// <summary>A refund or dispute took back credits already spent, so the balance is below what is held; nothing more can be taken until it is paid back.</summary>
    public bool Overdrawn { get; set; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal enum CreditKind
{
    Grant,
    Purchase,
    Promo,

    /// <summary>Historical: holds were entries before they became <see cref="LedgerHold"/> rows.</summary>
    Reservation,

    /// <summary>Historical, like <see cref="Reservation"/>.</summary>
    Release,
    Usage,
    Adjustment,
    Refund,
    Allocation,
    Expiry,
}

/// <summary>An append-only line of the ledger: what moved, why, who did it, and the key that makes a retry harmless.</summary>
internal sealed class CreditEntry
{
    public Guid Id { get; init; }

    public Guid AccountId { get; init; }

    public CreditKind Kind { get; init; }

    /// <summary>Change of the balance.</summary>
    public long Amount { get; init; }

    /// <summary>Historical change of the reserved amount; holds are counted from <see cref="LedgerHold"/> rows now.</summary>
    public long ReservedAmount { get; init; }

    public required string Reference { get; init; }

    public Guid? ActorId { get; init; }

    /// <summary>Unique: the same operation retried with the same key finds this entry instead of writing another.</summary>
    public required string IdempotencyKey { get; init; }

    /// <summary>The hold whose posting this usage entry is.</summary>
    public Guid? HoldId { get; init; }

    /// <summary>The account's balance right after this entry, decided under the account's lock; null on entries written before it was kept.</summary>
    public long? BalanceAfter { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal enum HoldState
{
    Pending,
    Posted,
    Voided,
}

/// <summary>
/// The credits held for one AI call, recorded once with its legs: the payer's account, the member's allocation, the API
/// key's monthly budget and the plan quota it counts against. Pending until the real cost is known, then posted (the
/// cost becomes usage entries, the quota use stays) or voided (everything goes back), exactly once.
/// </summary>
/// <remarks>An account's <c>reserved</c> is the sum of the pending holds that name it.</remarks>
internal sealed class LedgerHold
{
    public Guid Id { get; init; }

    public required string IdempotencyKey { get; init; }

    public Guid? OrganizationId { get; init; }

    public Guid? UserId { get; init; }

    public Guid? ApiKeyId { get; init; }

    public Guid? WorkspaceId { get; init; }

    public required string Reference { get; init; }

    public Guid PayerAccountId { get; init; }

    public Guid? AllocationAccountId { get; init; }

    /// <summary>The month whose <see cref="Pools.ApiKeySpend"/> row of <see cref="ApiKeyId"/> holds the budget leg; null when the key has no budget.</summary>
    public string? BudgetMonth { get; init; }

    /// <summary>The quota this call counts against, and the period it was counted in; null when it counts none.</summary>
    public Plans.QuotaKind? QuotaKind { get; init; }

    public DateTimeOffset? QuotaPeriodStart { get; init; }

    public long QuotaAmount { get; init; }

    public long Amount { get; init; }

    public long? ActualCost { get; set; }

    public HoldState State { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>A pending hold past this time was left behind by a call that never came back; the expiry job voids it.</summary>
    public DateTimeOffset ExpiresAt { get; init; }

    public DateTimeOffset? ClosedAt { get; set; }
}

internal sealed class CreditModelConfiguration :
    IEntityTypeConfiguration<CreditAccount>,
    IEntityTypeConfiguration<CreditEntry>,
    IEntityTypeConfiguration<LedgerHold>
{
    public void Configure(EntityTypeBuilder<CreditAccount> builder)
    {
        builder.ToTable("credit_accounts", t =>
        {
            t.HasCheckConstraint("ck_credit_accounts_reserved", "reserved >= 0");
            t.HasCheckConstraint("ck_credit_accounts_available", "balance - reserved >= 0 OR overdrawn");
        });
        builder.Property(a => a.Owner).HasConversion<string>().HasMaxLength(16);
        builder.HasIndex(a => new { a.Owner, a.UserId, a.OrganizationId }).IsUnique();
        // Append-only means the history stays: purging an org or a user unnames its accounts instead of deleting them.
        builder.HasOne<AppUser>().WithMany().HasForeignKey(a => a.UserId).OnDelete(DeleteBehavior.SetNull);
        builder.HasOne<Organization>().WithMany().HasForeignKey(a => a.OrganizationId).OnDelete(DeleteBehavior.SetNull);
    }

    public void Configure(EntityTypeBuilder<CreditEntry> builder)
    {
        builder.ToTable("credit_entries");
        builder.Property(e => e.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(e => e.Reference).HasMaxLength(200);
        builder.Property(e => e.IdempotencyKey).HasMaxLength(200);
        builder.HasIndex(e => e.IdempotencyKey).IsUnique();
        builder.HasIndex(e => new { e.AccountId, e.CreatedAt });
        builder.HasOne<CreditAccount>().WithMany().HasForeignKey(e => e.AccountId).OnDelete(DeleteBehavior.Restrict);
    }

    public void Configure(EntityTypeBuilder<LedgerHold> builder)
    {
        builder.ToTable("credit_holds", t =>
        {
            t.HasCheckConstraint("ck_credit_holds_amount", "amount >= 0");
            t.HasCheckConstraint("ck_credit_holds_quota_amount", "quota_amount >= 0");
        });
        builder.Property(h => h.State).HasConversion<string>().HasMaxLength(16);
        builder.Property(h => h.QuotaKind).HasConversion<string>().HasMaxLength(16);
        builder.Property(h => h.IdempotencyKey).HasMaxLength(200);
        builder.Property(h => h.Reference).HasMaxLength(200);
        builder.Property(h => h.BudgetMonth).HasMaxLength(7);
        builder.HasIndex(h => h.IdempotencyKey).IsUnique();
        builder.HasIndex(h => new { h.State, h.ExpiresAt });
        builder.HasIndex(h => new { h.OrganizationId, h.UserId, h.CreatedAt });
        // Money history outlives its owners: a purged org, user or key leaves its holds, unnamed.
        builder.HasOne<Organization>().WithMany().HasForeignKey(h => h.OrganizationId).OnDelete(DeleteBehavior.SetNull);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(h => h.UserId).OnDelete(DeleteBehavior.SetNull);
        builder.HasOne<ApiKey>().WithMany().HasForeignKey(h => h.ApiKeyId).OnDelete(DeleteBehavior.SetNull);
        builder.HasOne<CreditAccount>().WithMany().HasForeignKey(h => h.PayerAccountId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<CreditAccount>().WithMany().HasForeignKey(h => h.AllocationAccountId).OnDelete(DeleteBehavior.Restrict);
    }
}
