using AiHub.Identity;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Credits.Pools;

/// <summary>
/// A member whose draws on the org pool are capped. The cap is the balance of <see cref="AccountId"/>, an account of
/// owner kind <see cref="CreditOwner.Member"/>; without this row the member draws on the pool uncapped.
/// </summary>
/// <remarks>The account outlives the row (its entries are history); removing the cap writes its balance off first.</remarks>
internal sealed class MemberAllocation : AiHub.Data.ITenantOwned
{
    public Guid OrganizationId { get; init; }

    public Guid UserId { get; init; }

    public Guid AccountId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>How an org's pool is drawn on; an org without a row has the defaults.</summary>
internal sealed class PoolSettings : AiHub.Data.ITenantOwned
{
    public Guid OrganizationId { get; init; }

    /// <summary>When on, a member without an allocation cannot draw on the pool at all.</summary>
    public bool MembersNeedAllocation { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

internal enum CreditRequestStatus
{
    Pending,
    Approved,
    Denied,
}

/// <summary>A member asking the org's managers for more allowance.</summary>
internal sealed class CreditRequest : AiHub.Data.ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid UserId { get; init; }

    public long Amount { get; init; }

    public required string Reason { get; init; }

    public CreditRequestStatus Status { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public Guid? DecidedBy { get; set; }

    public DateTimeOffset? DecidedAt { get; set; }

    /// <summary>What was granted, which a manager may set differently from what was asked.</summary>
    public long? ApprovedAmount { get; set; }

    public string? DenyReason { get; set; }
}

/// <summary>What an API key spent and holds in one calendar month (UTC), against its monthly budget.</summary>
internal sealed class ApiKeySpend
{
    public Guid ApiKeyId { get; init; }

    /// <summary><c>yyyy-MM</c>, UTC.</summary>
    public required string Month { get; init; }

    public long Spent { get; set; }

    public long Held { get; set; }
}

internal sealed class PoolModelConfiguration :
    IEntityTypeConfiguration<MemberAllocation>,
    IEntityTypeConfiguration<PoolSettings>,
    IEntityTypeConfiguration<CreditRequest>,
    IEntityTypeConfiguration<ApiKeySpend>
{
    public void Configure(EntityTypeBuilder<MemberAllocation> builder)
    {
        builder.ToTable("credit_allocations");
        builder.HasKey(a => new { a.OrganizationId, a.UserId });
        builder.HasIndex(a => a.AccountId).IsUnique();
        // Leaving the org ends the cap; the account and its history stay.
        builder.HasOne<Membership>().WithMany().HasForeignKey(a => new { a.OrganizationId, a.UserId }).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<CreditAccount>().WithMany().HasForeignKey(a => a.AccountId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<PoolSettings> builder)
    {
        builder.ToTable("credit_pool_settings");
        builder.HasKey(s => s.OrganizationId);
        builder.HasOne<Organization>().WithMany().HasForeignKey(s => s.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<CreditRequest> builder)
    {
        builder.ToTable("credit_requests", t =>
        {
            t.HasCheckConstraint("ck_credit_requests_amount", "amount > 0");
            t.HasCheckConstraint("ck_credit_requests_approved_amount", "approved_amount IS NULL OR approved_amount > 0");
        });
        builder.Property(r => r.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(r => r.Reason).HasMaxLength(500);
        builder.Property(r => r.DenyReason).HasMaxLength(500);
        builder.HasIndex(r => new { r.OrganizationId, r.Status, r.CreatedAt });
        builder.HasIndex(r => new { r.OrganizationId, r.UserId, r.CreatedAt });
        builder.HasOne<Organization>().WithMany().HasForeignKey(r => r.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(r => r.UserId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<ApiKeySpend> builder)
    {
        builder.ToTable("api_key_spend", t =>
        {
            t.HasCheckConstraint("ck_api_key_spend_spent", "spent >= 0");
            t.HasCheckConstraint("ck_api_key_spend_held", "held >= 0");
        });
        builder.HasKey(s => new { s.ApiKeyId, s.Month });
        builder.Property(s => s.Month).HasMaxLength(7);
        builder.HasOne<ApiKey>().WithMany().HasForeignKey(s => s.ApiKeyId).OnDelete(DeleteBehavior.Cascade);
    }
}
