using AiHub.Data;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Credits.Plans;

/// <summary>Over what time a chat allowance counts: the account's whole life, or one UTC day.</summary>
internal enum QuotaPeriod
{
    Total,
    Day,
}

/// <summary>A tier of service: what an organisation on it may use, and what it costs per month.</summary>
/// <remarks>Every amount is an integer; a null limit means unlimited.</remarks>
internal sealed class Plan
{
    public const string Free = "FREE";

    public required string Code { get; init; }

    public required string Name { get; set; }

    public int? ChatQuestions { get; set; }

    public QuotaPeriod ChatPeriod { get; set; }

    public long? StorageBytes { get; set; }

    /// <summary>Videos held at once, like storage: deleting one frees its place.</summary>
    public int? Videos { get; set; }

    /// <summary>The largest single file a member may upload.</summary>
    public long? MaxFileBytes { get; set; }

    /// <summary>Per month, in the currency's smallest unit.</summary>
    public long PriceCents { get; set; }

    public required string Currency { get; set; }

    /// <summary>Micro-credits given when an account starts on this plan.</summary>
    public long GrantMicros { get; set; }

    /// <summary>Offered on the plans page and assignable; organisations already on an inactive plan keep it.</summary>
    public bool Active { get; set; }

    public int SortOrder { get; set; }
}

/// <summary>Which plan an organisation is on; an organisation without a row is on <see cref="Plan.Free"/>.</summary>
internal sealed class OrgPlan : ITenantOwned
{
    public Guid OrganizationId { get; init; }

    public required string PlanCode { get; set; }

    public DateTimeOffset Since { get; set; }

    public Guid? ChangedBy { get; set; }
}

internal enum QuotaKind
{
    ChatQuestions,
    StorageBytes,
    Videos,
}

/// <summary>How much of one quota an organisation has used in one period; only conditional updates change it.</summary>
internal sealed class QuotaUsage : ITenantOwned
{
    public Guid OrganizationId { get; init; }

    public QuotaKind Kind { get; init; }

    /// <summary>The UTC midnight of a daily period; the Unix epoch for a running total.</summary>
    public DateTimeOffset PeriodStart { get; init; }

    public long Used { get; set; }
}

/// <summary>One use counted against a quota, unique by its key so that a retry never counts twice, and released at most once.</summary>
internal sealed class QuotaConsumption : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public QuotaKind Kind { get; init; }

    public required string IdempotencyKey { get; init; }

    public DateTimeOffset PeriodStart { get; init; }

    public long Amount { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? ReleasedAt { get; init; }
}

/// <summary>A threshold warning already sent for a subject in a period; the unique key makes it at most once.</summary>
internal sealed class LimitWarning
{
    public required string Subject { get; init; }

    public required string Period { get; init; }

    public int Threshold { get; init; }

    public DateTimeOffset SentAt { get; init; }
}

internal sealed class PlanModelConfiguration :
    IEntityTypeConfiguration<Plan>,
    IEntityTypeConfiguration<OrgPlan>,
    IEntityTypeConfiguration<QuotaUsage>,
    IEntityTypeConfiguration<QuotaConsumption>,
    IEntityTypeConfiguration<LimitWarning>
{
    const long GB = 1_000_000_000;

    public void Configure(EntityTypeBuilder<Plan> builder)
    {
        builder.ToTable("plans", t =>
        {
            t.HasCheckConstraint("ck_plans_chat_questions", "chat_questions IS NULL OR chat_questions >= 0");
            t.HasCheckConstraint("ck_plans_storage_bytes", "storage_bytes IS NULL OR storage_bytes >= 0");
            t.HasCheckConstraint("ck_plans_videos", "videos IS NULL OR videos >= 0");
            t.HasCheckConstraint("ck_plans_price_cents", "price_cents >= 0");
            t.HasCheckConstraint("ck_plans_grant_micros", "grant_micros >= 0");
        });
        builder.HasKey(p => p.Code);
        builder.Property(p => p.Code).HasMaxLength(32);
        builder.Property(p => p.Name).HasMaxLength(100);
        builder.Property(p => p.ChatPeriod).HasConversion<string>().HasMaxLength(16);
        builder.Property(p => p.Currency).HasMaxLength(3);
        builder.HasData(
            new Plan { Code = Plan.Free, Name = "Free", ChatQuestions = 3, ChatPeriod = QuotaPeriod.Total, StorageBytes = 5 * GB, Videos = 10, PriceCents = 0, Currency = "USD", GrantMicros = 10 * Micros.PerCredit, Active = true, SortOrder = 0 },
            new Plan { Code = "BASIC", Name = "Basic", ChatQuestions = 100, ChatPeriod = QuotaPeriod.Day, StorageBytes = 25 * GB, Videos = 50, PriceCents = 2_900, Currency = "USD", GrantMicros = 0, Active = true, SortOrder = 1 },
            new Plan { Code = "PRO", Name = "Pro", ChatQuestions = 500, ChatPeriod = QuotaPeriod.Day, StorageBytes = 100 * GB, Videos = 200, PriceCents = 7_900, Currency = "USD", GrantMicros = 0, Active = true, SortOrder = 2 },
            new Plan { Code = "ENTERPRISE", Name = "Enterprise", ChatQuestions = null, ChatPeriod = QuotaPeriod.Day, StorageBytes = 500 * GB, Videos = null, PriceCents = 29_900, Currency = "USD", GrantMicros = 0, Active = true, SortOrder = 3 });
    }

    public void Configure(EntityTypeBuilder<OrgPlan> builder)
    {
        builder.ToTable("org_plans");
        builder.HasKey(p => p.OrganizationId);
        builder.Property(p => p.PlanCode).HasMaxLength(32);
        builder.HasIndex(p => p.PlanCode);
        builder.HasOne<Organization>().WithOne().HasForeignKey<OrgPlan>(p => p.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Plan>().WithMany().HasForeignKey(p => p.PlanCode).OnDelete(DeleteBehavior.Restrict);
    }

    public void Configure(EntityTypeBuilder<QuotaUsage> builder)
    {
        builder.ToTable("quota_usage", t => t.HasCheckConstraint("ck_quota_usage_used", "used >= 0"));
        builder.HasKey(u => new { u.OrganizationId, u.Kind, u.PeriodStart });
        builder.Property(u => u.Kind).HasConversion<string>().HasMaxLength(16);
        builder.HasOne<Organization>().WithMany().HasForeignKey(u => u.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<QuotaConsumption> builder)
    {
        builder.ToTable("quota_consumptions", t => t.HasCheckConstraint("ck_quota_consumptions_amount", "amount > 0"));
        builder.Property(c => c.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(c => c.IdempotencyKey).HasMaxLength(200);
        builder.HasIndex(c => new { c.OrganizationId, c.Kind, c.IdempotencyKey }).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(c => c.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<LimitWarning> builder)
    {
        builder.ToTable("limit_warnings");
        builder.HasKey(w => new { w.Subject, w.Period, w.Threshold });
        builder.Property(w => w.Subject).HasMaxLength(200);
        builder.Property(w => w.Period).HasMaxLength(64);
    }
}
