using AiHub.Identity;
using AiHub.Organizations;
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

    public DateTimeOffset CreatedAt { get; init; }
}

internal enum CreditKind
{
    Grant,
    Purchase,
    Promo,
    Reservation,
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

    /// <summary>Change of the reserved amount (reservations, releases and the settlement of a reservation).</summary>
    public long ReservedAmount { get; init; }

    public required string Reference { get; init; }

    public Guid? ActorId { get; init; }

    /// <summary>Unique: the same operation retried with the same key finds this entry instead of writing another.</summary>
    public required string IdempotencyKey { get; init; }

    public Guid? ReservationId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal enum ReservationState
{
    Open,
    Settled,
    Released,
}

/// <summary>Credits held for an AI call until its real cost is known.</summary>
internal sealed class CreditReservation
{
    public Guid Id { get; init; }

    public Guid AccountId { get; init; }

    public long Amount { get; init; }

    public ReservationState State { get; set; }

    public required string IdempotencyKey { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>An open reservation past this time was left behind by a crash; a job releases it.</summary>
    public DateTimeOffset ExpiresAt { get; init; }
}

internal sealed class CreditModelConfiguration :
    IEntityTypeConfiguration<CreditAccount>,
    IEntityTypeConfiguration<CreditEntry>,
    IEntityTypeConfiguration<CreditReservation>
{
    public void Configure(EntityTypeBuilder<CreditAccount> builder)
    {
        builder.ToTable("credit_accounts", t =>
        {
            t.HasCheckConstraint("ck_credit_accounts_reserved", "reserved >= 0");
            t.HasCheckConstraint("ck_credit_accounts_available", "balance - reserved >= 0");
        });
        builder.Property(a => a.Owner).HasConversion<string>().HasMaxLength(16);
        builder.HasIndex(a => new { a.Owner, a.UserId, a.OrganizationId }).IsUnique();
        builder.HasOne<AppUser>().WithMany().HasForeignKey(a => a.UserId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Organization>().WithMany().HasForeignKey(a => a.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<CreditEntry> builder)
    {
        builder.ToTable("credit_entries");
        builder.Property(e => e.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(e => e.Reference).HasMaxLength(200);
        builder.Property(e => e.IdempotencyKey).HasMaxLength(200);
        builder.HasIndex(e => e.IdempotencyKey).IsUnique();
        builder.HasIndex(e => new { e.AccountId, e.CreatedAt });
        builder.HasOne<CreditAccount>().WithMany().HasForeignKey(e => e.AccountId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<CreditReservation> builder)
    {
        builder.ToTable("credit_reservations");
        builder.Property(r => r.State).HasConversion<string>().HasMaxLength(16);
        builder.Property(r => r.IdempotencyKey).HasMaxLength(200);
        builder.HasIndex(r => r.IdempotencyKey).IsUnique();
        builder.HasIndex(r => new { r.State, r.ExpiresAt });
        builder.HasOne<CreditAccount>().WithMany().HasForeignKey(r => r.AccountId).OnDelete(DeleteBehavior.Cascade);
    }
}
