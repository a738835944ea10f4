using AiHub.Data;
using System.Text.Json;
using AiHub.Chat.Engine;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Chat.Providers;

/// <summary>A provider an organisation brought itself: its models serve that organisation besides the deployment's.</summary>
/// <remarks>The API key is kept encrypted with Data Protection; no response, log line or audit event carries it.</remarks>
internal sealed class OrgProvider : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    /// <summary>Unique in the organisation; models may be named <c>name/model</c>.</summary>
    public required string Name { get; set; }

    public required string Kind { get; set; }

    /// <summary>Null for the kind's public endpoint.</summary>
    public string? BaseUrl { get; set; }

    /// <summary>The key as <see cref="OrgProviders"/> protected it; null when the provider needs none.</summary>
    public string? ApiKeyProtected { get; set; }

    public List<string> Models { get; set; } = [];

    public Guid CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>An admin's changes to one model of the catalog; a null field keeps what AiHub knows of the model.</summary>
internal sealed class ModelSetting
{
    public required string Provider { get; init; }

    public required string Model { get; init; }

    public string? DisplayName { get; set; }

    public int? ContextLength { get; set; }

    public ModelCapabilities? Capabilities { get; set; }

    /// <summary>Codes of the plans whose organisations may not use the model.</summary>
    public List<string> DisabledPlans { get; set; } = [];

    public DateTimeOffset UpdatedAt { get; set; }

    public Guid? UpdatedBy { get; set; }
}

internal sealed class ProviderModelConfiguration : IEntityTypeConfiguration<OrgProvider>, IEntityTypeConfiguration<ModelSetting>
{
    public const int NameLength = 64;
    public const int ModelLength = 128;
    public const int MaxModels = 100;

    public void Configure(EntityTypeBuilder<OrgProvider> builder)
    {
        builder.ToTable("org_providers");
        builder.Property(p => p.Name).HasMaxLength(NameLength);
        builder.Property(p => p.Kind).HasMaxLength(32);
        builder.Property(p => p.BaseUrl).HasMaxLength(500);
        builder.Property(p => p.ApiKeyProtected).HasMaxLength(4000);
        JsonList(builder.Property(p => p.Models)).HasMaxLength(20_000);
        builder.HasIndex(p => new { p.OrganizationId, p.Name }).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(p => p.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<ModelSetting> builder)
    {
        builder.ToTable("model_settings", t => t.HasCheckConstraint("ck_model_settings_context_length", "context_length IS NULL OR context_length > 0"));
        builder.HasKey(s => new { s.Provider, s.Model });
        builder.Property(s => s.Provider).HasMaxLength(NameLength);
        builder.Property(s => s.Model).HasMaxLength(ModelLength);
        builder.Property(s => s.DisplayName).HasMaxLength(200);
        builder.Property(s => s.Capabilities).HasConversion<string>().HasMaxLength(100);
        JsonList(builder.Property(s => s.DisabledPlans)).HasMaxLength(4000);
    }

    /// <summary>A JSON array in a text column, the same on SQLite and PostgreSQL (which would otherwise pick an array type).</summary>
    static PropertyBuilder<List<string>> JsonList(PropertyBuilder<List<string>> property) => property.HasConversion(
        list => JsonSerializer.Serialize(list, JsonSerializerOptions.Default),
        json => JsonSerializer.Deserialize<List<string>>(json, JsonSerializerOptions.Default) ?? new List<string>(),
        new ValueComparer<List<string>>((a, b) => a!.SequenceEqual(b!), l => l.Aggregate(0, (h, s) => HashCode.Combine(h, s.GetHashCode(StringComparison.Ordinal))), l => l.ToList()));
}
