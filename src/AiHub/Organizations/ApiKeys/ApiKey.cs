using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Organizations.ApiKeys;

/// <summary>
/// A secret that acts in one organisation with a fixed set of its permissions. Only the SHA-256 of the whole key is
/// stored; the key itself is shown once, when it is made or rotated.
/// </summary>
internal sealed class ApiKey : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid? WorkspaceId { get; init; }

    public required string Name { get; set; }

    /// <summary>The short public part of the key, so that a list can tell keys apart without their secrets.</summary>
    public required string Prefix { get; set; }

    public required string SecretHash { get; set; }

    /// <summary>Org permission names, space-separated: <c>workspaces:read chat:use</c>.</summary>
    public required string Permissions { get; init; }

    public Guid CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public DateTimeOffset? LastUsedAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }

    public int? RateLimitPerMinute { get; set; }

    /// <summary>Input and output tokens a minute that calls made with this key may use; <see cref="KeyTokenLimits"/> enforces it.</summary>
    public int? TokensPerMinute { get; set; }

    /// <summary>Whole credits a month that calls made with this key may spend; CreditGate enforces it.</summary>
    public long? MonthlyBudgetCredits { get; set; }

    public IReadOnlyList<string> PermissionList() => ApiKeySecrets.ParsePermissions(Permissions);
}

internal sealed class ApiKeyConfiguration : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> builder)
    {
        builder.ToTable("api_keys", table =>
        {
            table.HasCheckConstraint("ck_api_keys_rate_limit", "rate_limit_per_minute IS NULL OR rate_limit_per_minute BETWEEN 1 AND 100000");
            table.HasCheckConstraint("ck_api_keys_tokens_per_minute", "tokens_per_minute IS NULL OR tokens_per_minute BETWEEN 1 AND 100000000");
            table.HasCheckConstraint("ck_api_keys_budget", "monthly_budget_credits IS NULL OR monthly_budget_credits >= 0");
        });
        builder.Property(k => k.Name).HasMaxLength(100);
        builder.Property(k => k.Prefix).HasMaxLength(16);
        builder.Property(k => k.SecretHash).HasMaxLength(64);
        builder.Property(k => k.Permissions).HasMaxLength(1000);
        builder.HasIndex(k => k.Prefix).IsUnique();
        builder.HasIndex(k => k.SecretHash).IsUnique();
        builder.HasIndex(k => new { k.OrganizationId, k.CreatedAt });
        builder.HasOne<Organization>().WithMany().HasForeignKey(k => k.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Workspace>().WithMany().HasForeignKey(k => k.WorkspaceId).OnDelete(DeleteBehavior.Cascade);
    }
}
