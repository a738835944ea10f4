using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Credits.Usage;

internal enum UsageStatus
{
    Succeeded,
    Failed,

    /// <summary>The provider stopped early (a stream cut short); the tokens that did flow are still counted.</summary>
    Incomplete,
    Cancelled,
}

/// <summary>One AI call: who made it, against which model, what it used and what it cost.</summary>
/// <remarks>Cost is integer micro-credits; there is no floating point anywhere in money.</remarks>
internal sealed class UsageRecord : ITenantOwned
{
    public Guid Id { get; init; }

    /// <summary>Unique: the caller's id for the call, so a retried record is written once.</summary>
    public required string IdempotencyKey { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid UserId { get; init; }

    public Guid? ApiKeyId { get; init; }

    public Guid? WorkspaceId { get; init; }

    public required string Provider { get; init; }

    public required string Model { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public long CostMicros { get; init; }

    public long LatencyMs { get; init; }

    public UsageStatus Status { get; init; }

    public Guid? ReservationId { get; init; }

    /// <summary>The surface the call came through when it was not the app or the API (<see cref="UsageChannels.Mcp"/>); null otherwise.</summary>
    public string? Channel { get; init; }

    /// <summary>The OAuth client that made the call for the person, if one did.</summary>
    public string? ClientId { get; init; }

    /// <summary>When the call happened; the hour it is counted in.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary><see cref="CreatedAt"/> truncated to the hour (UTC), the bucket of <see cref="UsageHourly"/> it belongs to.</summary>
    public DateTimeOffset HourStart { get; init; }

    /// <summary>
    /// Set by the aggregation that counted it into <see cref="UsageHourly"/>. Readers add the records not yet set, so a
    /// late record for an aggregated hour is never lost and never counted twice.
    /// </summary>
    public bool Aggregated { get; set; }
}

/// <summary>The sums of one hour's usage records per (org, user, key, channel, provider, model).</summary>
internal sealed class UsageHourly : ITenantOwned
{
    public Guid Id { get; init; }

    public DateTimeOffset HourStart { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid UserId { get; init; }

    public Guid? ApiKeyId { get; init; }

    /// <summary>The surface of the records summed here (<see cref="UsageChannels.Mcp"/>); null for the app and the API.</summary>
    public string? Channel { get; init; }

    public required string Provider { get; init; }

    public required string Model { get; init; }

    public long Requests { get; init; }

    public long Failures { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public long CostMicros { get; init; }

    public long LatencyMsSum { get; init; }
}

/// <summary>How far the hourly aggregation has come: every complete hour before <see cref="AggregatedUntil"/> has been aggregated once.</summary>
internal sealed class UsageWatermark
{
    public const int SingletonId = 1;

    public int Id { get; init; }

    public DateTimeOffset AggregatedUntil { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>What one million tokens of a model cost, in micro-credits, in and out.</summary>
internal sealed class ModelPrice
{
    public required string Provider { get; init; }

    public required string Model { get; init; }

    public long InputMicrosPerMillion { get; set; }

    public long OutputMicrosPerMillion { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>The admin who set it; null for the prices AiHub ships with.</summary>
    public Guid? UpdatedBy { get; set; }
}

internal sealed class UsageModelConfiguration :
    IEntityTypeConfiguration<UsageRecord>,
    IEntityTypeConfiguration<UsageHourly>,
    IEntityTypeConfiguration<UsageWatermark>,
    IEntityTypeConfiguration<ModelPrice>
{
    public const int ProviderLength = 64;
    public const int ModelLength = 128;

    public void Configure(EntityTypeBuilder<UsageRecord> builder)
    {
        builder.ToTable("usage_records", t =>
        {
            t.HasCheckConstraint("ck_usage_records_tokens", "input_tokens >= 0 AND output_tokens >= 0");
            t.HasCheckConstraint("ck_usage_records_cost", "cost_micros >= 0 AND latency_ms >= 0");
        });
        builder.Property(r => r.IdempotencyKey).HasMaxLength(200);
        builder.Property(r => r.Provider).HasMaxLength(ProviderLength);
        builder.Property(r => r.Model).HasMaxLength(ModelLength);
        builder.Property(r => r.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(r => r.Channel).HasMaxLength(UsageChannels.MaxLength);
        builder.Property(r => r.ClientId).HasMaxLength(UsageChannels.MaxClientIdLength);
        builder.HasIndex(r => r.IdempotencyKey).IsUnique();
        builder.HasIndex(r => new { r.OrganizationId, r.CreatedAt });
        builder.HasIndex(r => new { r.UserId, r.CreatedAt });
        builder.HasIndex(r => new { r.ApiKeyId, r.CreatedAt });
        builder.HasIndex(r => new { r.Aggregated, r.HourStart });
        // A credit lease nobody closed is posted at the sum of the records that name it (Ledger.ReconcileLeaseAsync).
        builder.HasIndex(r => r.ReservationId);
        // No keys to users or the org: usage records are money history and outlive both, keeping only their ids.
    }

    public void Configure(EntityTypeBuilder<UsageHourly> builder)
    {
        builder.ToTable("usage_hourly");
        builder.Property(h => h.Provider).HasMaxLength(ProviderLength);
        builder.Property(h => h.Model).HasMaxLength(ModelLength);
        builder.Property(h => h.Channel).HasMaxLength(UsageChannels.MaxLength);
        // Null keys are equal here, so one bucket per hour and caller even without a key.
        builder.HasIndex(h => new { h.HourStart, h.OrganizationId, h.UserId, h.ApiKeyId, h.Channel, h.Provider, h.Model }).IsUnique().AreNullsDistinct(false);
        builder.HasIndex(h => new { h.OrganizationId, h.HourStart });
        builder.HasIndex(h => new { h.UserId, h.HourStart });
        builder.HasIndex(h => new { h.ApiKeyId, h.HourStart });
        builder.HasOne<Organization>().WithMany().HasForeignKey(h => h.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<UsageWatermark> builder)
    {
        builder.ToTable("usage_watermark");
        builder.Property(w => w.Id).ValueGeneratedNever();
        builder.HasData(new UsageWatermark { Id = UsageWatermark.SingletonId, AggregatedUntil = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch });
    }

    public void Configure(EntityTypeBuilder<ModelPrice> builder)
    {
        builder.ToTable("model_prices", t => t.HasCheckConstraint("ck_model_prices_non_negative", "input_micros_per_million >= 0 AND output_micros_per_million >= 0"));
        builder.HasKey(p => new { p.Provider, p.Model });
        builder.Property(p => p.Provider).HasMaxLength(ProviderLength);
        builder.Property(p => p.Model).HasMaxLength(ModelLength);
        builder.HasData(PriceCatalog.Seed);
    }
}
