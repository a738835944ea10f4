using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Outbound;
using AiHub.Organizations;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Chat.Providers;

/// <summary>An org provider as the API shows it: whether it has a key, never the key.</summary>
/// <param name="KeyCleared">This change dropped the stored key, because it sent the provider elsewhere without one.</param>
internal sealed record OrgProviderResponse(
    Guid Id, string Name, string Kind, string? BaseUrl, IReadOnlyList<string> Models, bool HasApiKey, Guid CreatedBy, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt,
    bool KeyCleared = false);

/// <summary>
/// A new provider, or a change to one: on PATCH a missing field, or a blank key, keeps what is there, except that a change
/// of base URL or kind drops the stored key unless the same request sends one.
/// </summary>
internal sealed record OrgProviderRequest(string? Name, string? Kind, string? BaseUrl, string? ApiKey, IReadOnlyList<string>? Models);

internal static class ProviderAuditKinds
{
    public const string Created = "org.provider_created";
    public const string Updated = "org.provider_updated";
    public const string Deleted = "org.provider_deleted";
}

/// <summary>An organisation's own providers, for the API and the web UI alike.</summary>
internal sealed class OrgProviders(AppDbContext db, DeploymentProviders deployment, IDataProtectionProvider protection, OutboundPolicy outbound, AuditLog audit, TimeProvider clock)
{
    public const int MaxPerOrg = 50;

    public async Task<List<OrgProviderResponse>> ListAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.ChatUse);
        var list = await db.Set<OrgProvider>().AsNoTracking().Where(p => p.OrganizationId == caller.OrganizationId).OrderBy(p => p.Name).ToListAsync(ct);
        return list.Select(Describe).ToList();
    }

    public async Task<OrgProviderResponse> CreateAsync(OrgGrant caller, Guid actorId, OrgProviderRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var orgId = caller.OrganizationId;
        var name = RequireName(body.Name);
        var kind = RequireKind(body.Kind);
        var baseUrl = RequireBaseUrl(kind, body.BaseUrl);
        var models = RequireModels(body.Models);
        var key = string.IsNullOrWhiteSpace(body.ApiKey) ? null : body.ApiKey.Trim();
        if (key is null && ProviderKinds.NeedsKey(kind))
            throw ProblemException.Invalid("apiKey", $"A provider of kind {kind} needs its API key.");
        if (await db.Set<OrgProvider>().CountAsync(p => p.OrganizationId == orgId, ct) >= MaxPerOrg)
            throw ProblemException.Invalid("name", $"An organisation has at most {MaxPerOrg} providers; remove one first.");
        await RequireFreeNameAsync(orgId, name, null, ct);

        var now = clock.GetUtcNow();
        var provider = new OrgProvider
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = orgId,
            Name = name,
            Kind = kind,
            BaseUrl = baseUrl,
            ApiKeyProtected = key is null ? null : ProviderDirectory.Protector(protection).Protect(key),
            Models = models,
            CreatedBy = actorId,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Add(provider);
        audit.Add(ProviderAuditKinds.Created, null, new { provider.Id, name, kind, baseUrl, models, hasApiKey = key is not null }, actorId, orgId);
        await SaveAsync(name, ct);
        return Describe(provider);
    }

    public async Task<OrgProviderResponse> UpdateAsync(OrgGrant caller, Guid actorId, Guid id, OrgProviderRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var provider = await FindAsync(caller.OrganizationId, id, ct);
        var before = Describe(provider);
        if (body.Name is not null)
        {
            var name = RequireName(body.Name);
            if (name != provider.Name)
                await RequireFreeNameAsync(provider.OrganizationId, name, provider.Id, ct);
            provider.Name = name;
        }
        if (body.Kind is not null)
            provider.Kind = RequireKind(body.Kind);
        if (body.BaseUrl is not null || body.Kind is not null)
            provider.BaseUrl = RequireBaseUrl(provider.Kind, body.BaseUrl ?? provider.BaseUrl);
        if (body.Models is not null)
            provider.Models = RequireModels(body.Models);
        var keyChanged = !string.IsNullOrWhiteSpace(body.ApiKey);
        // The key was given for one server: sent elsewhere, it would be handed to whoever listens there.
        var moved = provider.Kind != before.Kind || provider.BaseUrl != before.BaseUrl;
        var keyCleared = moved && !keyChanged && provider.ApiKeyProtected is not null;
        if (keyChanged)
            provider.ApiKeyProtected = ProviderDirectory.Protector(protection).Protect(body.ApiKey!.Trim());
        else if (keyCleared)
            provider.ApiKeyProtected = null;
        if (provider.ApiKeyProtected is null && ProviderKinds.NeedsKey(provider.Kind))
            throw ProblemException.Invalid("apiKey", keyCleared
                ? $"Changing a provider's base URL or kind drops its stored key: send apiKey again in the same change (a provider of kind {provider.Kind} needs one)."
                : $"A provider of kind {provider.Kind} needs its API key.");
        provider.UpdatedAt = clock.GetUtcNow();
        var after = Describe(provider) with { KeyCleared = keyCleared };
        audit.Add(ProviderAuditKinds.Updated, null, new { provider.Id, before, after, keyChanged, keyCleared }, actorId, provider.OrganizationId);
        await SaveAsync(provider.Name, ct);
        return after;
    }

    public async Task DeleteAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgManage);
        var provider = await FindAsync(caller.OrganizationId, id, ct);
        db.Remove(provider);
        audit.Add(ProviderAuditKinds.Deleted, null, new { provider.Id, provider.Name, provider.Kind }, actorId, provider.OrganizationId);
        await db.SaveChangesAsync(ct);
    }

    /// <remarks>Fetched by (org, id): another organisation's provider is simply not found.</remarks>
    async Task<OrgProvider> FindAsync(Guid orgId, Guid id, CancellationToken ct) =>
        await db.Set<OrgProvider>().FirstOrDefaultAsync(p => p.OrganizationId == orgId && p.Id == id, ct)
        ?? throw Orgs.NotFound("No such provider.", "It does not exist in this organisation.");

    async Task RequireFreeNameAsync(Guid orgId, string name, Guid? except, CancellationToken ct)
    {
        // A deployment provider's name would make provider/model ambiguous for this org.
        if (deployment.All.Any(p => p.Name == name))
            throw ProblemException.Invalid("name", $"'{name}' is the name of one of this deployment's providers; choose another.");
        if (await db.Set<OrgProvider>().AnyAsync(p => p.OrganizationId == orgId && p.Name == name && p.Id != except, ct))
            throw Orgs.Conflict("A provider has this name.", $"This organisation already has a provider named '{name}'.");
    }

    async Task SaveAsync(string name, CancellationToken ct)
    {
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            throw Orgs.Conflict("A provider has this name.", $"This organisation already has a provider named '{name}'.");
        }
    }

    static string RequireName(string? value)
    {
        var name = value?.Trim().ToLowerInvariant() ?? "";
        return ProviderKinds.IsValidName(name) ? name
            : throw ProblemException.Invalid("name", "A provider name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (models are then named name/model).");
    }

    static string RequireKind(string? value) => ProviderKinds.Parse(value)
        ?? throw ProblemException.Invalid("kind", $"kind is one of {string.Join(", ", ProviderKinds.All)}.");

    string? RequireBaseUrl(string kind, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
            return kind == ProviderKinds.OpenAICompatible
                ? throw ProblemException.Invalid("baseUrl", "An OpenAI-compatible provider needs its base URL, such as https://llm.example.com/v1.")
                : null;
        var url = ProviderKinds.ParseUrl(value) ?? throw ProblemException.Invalid("baseUrl", "baseUrl is an absolute http or https URL.");
        if (outbound.Refuse(url) is { } why)
            throw ProblemException.Invalid("baseUrl", "baseUrl " + why);
        return url.ToString().Length > 500 ? throw ProblemException.Invalid("baseUrl", "baseUrl is at most 500 characters.") : url.ToString();
    }

    static List<string> RequireModels(IReadOnlyList<string>? values)
    {
        var models = (values ?? []).Where(m => !string.IsNullOrWhiteSpace(m)).Select(m => m.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (models.Count == 0)
            throw ProblemException.Invalid("models", "List at least one model the provider serves, such as gpt-4o-mini.");
        if (models.Count > ProviderModelConfiguration.MaxModels)
            throw ProblemException.Invalid("models", $"A provider lists at most {ProviderModelConfiguration.MaxModels} models.");
        if (models.FirstOrDefault(m => m.Length > ProviderModelConfiguration.ModelLength || m.Any(char.IsControl)) is { } bad)
            throw ProblemException.Invalid("models", $"'{bad}' is not a model id (at most {ProviderModelConfiguration.ModelLength} printable characters).");
        return models;
    }

    public static OrgProviderResponse Describe(OrgProvider p) =>
        new(p.Id, p.Name, p.Kind, p.BaseUrl, p.Models, p.ApiKeyProtected is not null, p.CreatedBy, p.CreatedAt, p.UpdatedAt);
}
