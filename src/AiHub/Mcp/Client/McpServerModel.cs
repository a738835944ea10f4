using System.Text.Json;
using AiHub.Data;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Mcp.Client;

internal static class McpTransports
{
    public const string StreamableHttp = "streamable-http";
    public const string Sse = "sse";

    public static readonly IReadOnlyList<string> All = [StreamableHttp, Sse];
}

internal static class McpAuthKinds
{
    public const string None = "none";
    public const string Header = "header";
    public const string OAuthClientCredentials = "oauth-client-credentials";

    public static readonly IReadOnlyList<string> All = [None, Header, OAuthClientCredentials];
}

/// <summary>One tool a server listed when it was last refreshed.</summary>
/// <param name="InputSchema">The tool's JSON schema for its arguments, as the server sent it.</param>
internal sealed record McpToolInfo(string Name, string? Description, string InputSchema);

/// <summary>A remote MCP server an organisation registered: its enabled tools are offered to the org's chats.</summary>
/// <remarks>
/// The secret (a header's value or an OAuth client secret) is kept encrypted with Data Protection and dropped when the
/// URL or token URL changes; no response, log line or audit event carries it.
/// </remarks>
internal sealed class McpServerRegistration : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    /// <summary>Unique in the organisation; the prefix of its tools' names in a chat.</summary>
    public required string Name { get; set; }

    public required string Url { get; set; }

    public string Transport { get; set; } = McpTransports.StreamableHttp;

    public string AuthKind { get; set; } = McpAuthKinds.None;

    /// <summary>The header that carries the secret, for <see cref="McpAuthKinds.Header"/>.</summary>
    public string? HeaderName { get; set; }

    /// <summary>The header value or the OAuth client secret, as <see cref="McpServers"/> protected it.</summary>
    public string? SecretProtected { get; set; }

    public string? TokenUrl { get; set; }

    public string? ClientId { get; set; }

    public string? Scope { get; set; }

    public bool Enabled { get; set; } = true;

    public List<McpToolInfo> Tools { get; set; } = [];

    public DateTimeOffset? ToolsDiscoveredAt { get; set; }

    /// <summary>Names of the listed tools the org offers to its chats.</summary>
    public List<string> EnabledTools { get; set; } = [];

    public int TimeoutMs { get; set; }

    public int MaxResultBytes { get; set; }

    public Guid CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>A workspace that turned one of its org's MCP servers off: the server's tools are not offered in its chats.</summary>
internal sealed class McpServerWorkspaceOff : ITenantOwned
{
    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    public Guid ServerId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal sealed class McpServerConfiguration : IEntityTypeConfiguration<McpServerRegistration>, IEntityTypeConfiguration<McpServerWorkspaceOff>
{
    public const int NameLength = 32;
    public const int UrlLength = 500;

    public void Configure(EntityTypeBuilder<McpServerRegistration> builder)
    {
        builder.ToTable("mcp_servers");
        builder.Property(s => s.Name).HasMaxLength(NameLength);
        builder.Property(s => s.Url).HasMaxLength(UrlLength);
        builder.Property(s => s.Transport).HasMaxLength(32);
        builder.Property(s => s.AuthKind).HasMaxLength(32);
        builder.Property(s => s.HeaderName).HasMaxLength(100);
        builder.Property(s => s.SecretProtected).HasMaxLength(8000);
        builder.Property(s => s.TokenUrl).HasMaxLength(UrlLength);
        builder.Property(s => s.ClientId).HasMaxLength(200);
        builder.Property(s => s.Scope).HasMaxLength(500);
        Json(builder.Property(s => s.Tools));
        Json(builder.Property(s => s.EnabledTools));
        builder.HasIndex(s => new { s.OrganizationId, s.Name }).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(s => s.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<McpServerWorkspaceOff> builder)
    {
        builder.ToTable("mcp_server_workspaces_off");
        builder.HasKey(o => new { o.ServerId, o.WorkspaceId });
        builder.HasIndex(o => new { o.OrganizationId, o.WorkspaceId });
        builder.HasOne<McpServerRegistration>().WithMany().HasForeignKey(o => o.ServerId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Workspace>().WithMany().HasForeignKey(o => o.WorkspaceId).OnDelete(DeleteBehavior.Cascade);
    }

    /// <summary>JSON in a text column, the same on SQLite and PostgreSQL.</summary>
    static void Json<T>(PropertyBuilder<List<T>> property) => property.HasConversion(
        list => JsonSerializer.Serialize(list, JsonSerializerOptions.Web),
        json => JsonSerializer.Deserialize<List<T>>(json, JsonSerializerOptions.Web) ?? new List<T>(),
        new ValueComparer<List<T>>((a, b) => a!.SequenceEqual(b!), l => l.Aggregate(0, (h, s) => HashCode.Combine(h, s)), l => l.ToList()));
}
