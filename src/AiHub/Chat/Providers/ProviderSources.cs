using System.Security.Cryptography;
using System.Text;
using AiHub.Data;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Providers;

/// <summary>Where a provider was configured: the deployment's settings, or an organisation's own providers.</summary>
internal static class ProviderOrigins
{
    public const string Deployment = "deployment";
    public const string Org = "org";
}

/// <summary>A provider ready to call: endpoint, key and the models it serves.</summary>
/// <remarks>A class, not a record: a record's generated ToString would print the key into any log that formats it.</remarks>
internal sealed class ProviderSource(string name, string kind, Uri baseUrl, string? apiKey, IReadOnlyList<string> models, string origin, Guid? organizationId, string version)
{
    public const string ClientPrefix = "chat-provider:";

    public string Name { get; } = name;

    public string Kind { get; } = kind;

    public Uri BaseUrl { get; } = baseUrl;

    public string? ApiKey { get; } = apiKey;

    public IReadOnlyList<string> Models { get; } = models;

    public string Origin { get; } = origin;

    public Guid? OrganizationId { get; } = organizationId;

    /// <summary>Changes whenever the endpoint or the key does, so that a cached client built with the old ones is replaced.</summary>
    public string Version { get; } = version;

    /// <summary>The named HttpClient, and so the circuit breaker, of this provider; an org's provider never shares the deployment's.</summary>
    public string ClientName => OrganizationId is { } org ? $"{ClientPrefix}{org:N}/{Name}" : ClientPrefix + Name;

    /// <summary>Whether a client name is an org provider's: only theirs hold a '/', which a provider name never does.</summary>
    public static bool IsOrgClient(string clientName) => clientName.Contains('/', StringComparison.Ordinal);

    public bool Serves(string model) => Models.Contains(model, StringComparer.OrdinalIgnoreCase);

    public override string ToString() => $"{Name} ({Kind}, {Origin})";
}

/// <summary>The deployment's providers, read once from settings.</summary>
internal sealed class DeploymentProviders(IOptions<ProvidersSettings> settings)
{
    readonly Lazy<IReadOnlyList<ProviderSource>> _all = new(() => settings.Value.Items.Select(p =>
    {
        var kind = ProviderKinds.Parse(p.Kind)!;
        var url = ProviderKinds.ParseUrl(p.BaseUrl) ?? ProviderKinds.DefaultBaseUrl(kind)!;
        var models = p.Models.Where(m => !string.IsNullOrWhiteSpace(m)).Select(m => m.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        return new ProviderSource(p.Name!.Trim().ToLowerInvariant(), kind, url, string.IsNullOrWhiteSpace(p.ApiKey) ? null : p.ApiKey.Trim(), models, ProviderOrigins.Deployment, null, "settings");
    }).ToList());

    public IReadOnlyList<ProviderSource> All => _all.Value;
}

/// <summary>The providers that serve one organisation: its own first, then the deployment's.</summary>
internal sealed class ProviderDirectory(AppDbContext db, DeploymentProviders deployment, IDataProtectionProvider protection)
{
    public const string ProtectorPurpose = "AiHub.Chat.ProviderKeys";

    public async Task<IReadOnlyList<ProviderSource>> ForOrgAsync(Guid orgId, CancellationToken ct)
    {
        var own = await db.Set<OrgProvider>().AsNoTracking().Where(p => p.OrganizationId == orgId).OrderBy(p => p.CreatedAt).ToListAsync(ct);
        return [.. own.Select(p => Source(p, protection)), .. deployment.All];
    }

    public static ProviderSource Source(OrgProvider p, IDataProtectionProvider protection)
    {
        var key = p.ApiKeyProtected is null ? null : Protector(protection).Unprotect(p.ApiKeyProtected);
        var url = ProviderKinds.ParseUrl(p.BaseUrl) ?? ProviderKinds.DefaultBaseUrl(p.Kind)!;
        // A digest of what the client is built from: a changed key or endpoint gives a new client.
        var version = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{p.Kind}\n{url}\n{p.ApiKeyProtected}")), 0, 8);
        return new ProviderSource(p.Name, p.Kind, url, key, p.Models, ProviderOrigins.Org, p.OrganizationId, version);
    }

    public static IDataProtector Protector(IDataProtectionProvider protection) => protection.CreateProtector(ProtectorPurpose);
}
