using AiHub.Organizations;
using AiHub.Infrastructure.Audit;
using AiHub.Chat.Engine;
using AiHub.Credits.Plans;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Providers;

/// <summary>A model an organisation may call, as <c>GET /api/orgs/{orgId}/models</c> shows it.</summary>
internal sealed record ModelResponse(
    string Provider, string Id, string DisplayName, int ContextLength, IReadOnlyList<string> Capabilities,
    decimal? InputPerMillion, decimal? OutputPerMillion, string Source, bool Default);

/// <summary>A model of the deployment with the admin's settings, as <c>GET /api/admin/models</c> shows it.</summary>
internal sealed record AdminModelResponse(
    string Provider, string Id, string Kind, string DisplayName, int ContextLength, IReadOnlyList<string> Capabilities,
    decimal? InputPerMillion, decimal? OutputPerMillion, IReadOnlyList<string> DisabledPlans, ModelOverrides Overrides);

/// <summary>What the admin set; null where AiHub's own knowledge of the model applies.</summary>
internal sealed record ModelOverrides(string? DisplayName, int? ContextLength, IReadOnlyList<string>? Capabilities);

/// <summary>The whole setting of a model: fields left null fall back to what AiHub knows of it.</summary>
internal sealed record ModelSettingRequest(string? DisplayName, int? ContextLength, IReadOnlyList<string>? Capabilities, IReadOnlyList<string>? DisabledPlans);

/// <summary>A model served by one provider, with what it can do, what it costs and whether the org's plan allows it.</summary>
internal sealed record CatalogModel(ProviderSource Source, string Model, string DisplayName, int ContextLength, ModelCapabilities Capabilities, ModelRate? Price, bool Allowed)
{
    /// <summary>The org may call it and it can be charged: only such a model can answer.</summary>
    public bool Usable => Allowed && Price is not null;
}

internal static class ModelAuditKinds
{
    public const string SettingsChanged = "model.settings_changed";
}

/// <summary>
/// Every model AiHub can reach: what is known of well-known ids, what admins changed, prices, and which plans may use
/// each. The admin settings are cached (one key, removed on every edit) because every chat message routes through them.
/// </summary>
internal sealed class ModelCatalog(
    AppDbContext db, ProviderDirectory directory, DeploymentProviders deployment, PriceCatalog prices, HybridCache cache,
    IServiceScopeFactory scopes, AuditLog audit, IOptions<ChatSettings> chat, TimeProvider clock) : IDefaultModelCheck
{
    const string CacheKey = "model-settings";

    /// <summary>Unknown models get a context length that fits every current model, so nothing is sent that cannot fit.</summary>
    public const int UnknownContextLength = 8_192;

    const ModelCapabilities All = ModelCapabilities.Vision | ModelCapabilities.Tools | ModelCapabilities.Streaming;
    const ModelCapabilities TextTools = ModelCapabilities.Tools | ModelCapabilities.Streaming;

    /// <summary>Well-known model ids by prefix (the longest match wins), so dated ids like <c>claude-sonnet-4-20250514</c> are known too.</summary>
    internal static readonly (string Prefix, string DisplayName, int ContextLength, ModelCapabilities Capabilities)[] Known =
    [
        ("gpt-4o-mini", "GPT-4o mini", 128_000, All),
        ("gpt-4o", "GPT-4o", 128_000, All),
        ("gpt-4.1-nano", "GPT-4.1 nano", 1_047_576, All),
        ("gpt-4.1-mini", "GPT-4.1 mini", 1_047_576, All),
        ("gpt-4.1", "GPT-4.1", 1_047_576, All),
        ("gpt-5-nano", "GPT-5 nano", 400_000, All),
        ("gpt-5-mini", "GPT-5 mini", 400_000, All),
        ("gpt-5", "GPT-5", 400_000, All),
        ("o1", "o1", 200_000, All),
        ("o3-mini", "o3-mini", 200_000, TextTools),
        ("o3", "o3", 200_000, All),
        ("o4-mini", "o4-mini", 200_000, All),
        ("claude-opus-4", "Claude Opus 4", 200_000, All),
        ("claude-sonnet-4", "Claude Sonnet 4", 200_000, All),
        ("claude-3-7-sonnet", "Claude 3.7 Sonnet", 200_000, All),
        ("claude-3-5-sonnet", "Claude 3.5 Sonnet", 200_000, All),
        ("claude-3-5-haiku", "Claude 3.5 Haiku", 200_000, TextTools),
        ("claude-haiku-4", "Claude Haiku 4", 200_000, All),
        ("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", 1_048_576, All),
        ("gemini-2.0-flash", "Gemini 2.0 Flash", 1_048_576, All),
        ("gemini-2.5-pro", "Gemini 2.5 Pro", 1_048_576, All),
        ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", 1_048_576, All),
        ("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, All),
        ("gemini-1.5-pro", "Gemini 1.5 Pro", 2_097_152, All),
        ("gemini-1.5-flash", "Gemini 1.5 Flash", 1_048_576, All),
    ];

    /// <summary>What AiHub knows of a model id without any admin setting.</summary>
    public static (string DisplayName, int ContextLength, ModelCapabilities Capabilities) Describe(string model)
    {
        var known = Known.Where(k => model.StartsWith(k.Prefix, StringComparison.OrdinalIgnoreCase)).OrderByDescending(k => k.Prefix.Length).FirstOrDefault();
        return known.Prefix is null ? (model, UnknownContextLength, ModelCapabilities.Streaming) : (known.DisplayName, known.ContextLength, known.Capabilities);
    }

    /// <summary>Every model of every provider serving the org, the org's own first, each marked allowed or not on its plan.</summary>
    public async Task<List<CatalogModel>> ForOrgAsync(Guid orgId, CancellationToken ct)
    {
        var sources = await directory.ForOrgAsync(orgId, ct);
        if (sources.Count == 0)
            return [];
        var plan = await PlanCodeAsync(orgId, ct);
        var settings = await SettingsAsync(ct);
        var book = await prices.BookAsync(ct);
        return [.. sources.SelectMany(source => source.Models.Select(model => Model(source, model, settings, plan, book)))];
    }

    /// <summary>The models the org may use, as the API lists them; the default is the one routing picks when a request names none.</summary>
    public async Task<List<ModelResponse>> ListForOrgAsync(Guid orgId, CancellationToken ct)
    {
        var usable = (await ForOrgAsync(orgId, ct)).Where(m => m.Allowed).ToList();
        var chosen = DefaultOf(usable, chat.Value.DefaultModel);
        return usable.Select(m => new ModelResponse(
            m.Source.Name, m.Model, m.DisplayName, m.ContextLength, CapabilityNames(m.Capabilities), m.Price?.InputPerMillion, m.Price?.OutputPerMillion,
            m.Source.Origin, ReferenceEquals(m, chosen))).ToList();
    }

    /// <summary>
    /// The configured default when the org may use it and it has a price, else the first such model: a request that
    /// names no model never lands on one that would be refused.
    /// </summary>
    internal static CatalogModel? DefaultOf(IReadOnlyList<CatalogModel> models, string? defaultModel) =>
        (defaultModel is null ? null : models.FirstOrDefault(m => m.Usable && Names(m, defaultModel))) ?? models.FirstOrDefault(m => m.Usable);

    /// <summary>
    /// Refuses, with a 400 naming <paramref name="field"/>, a model the org cannot chat with as a default: one no provider
    /// of the org serves, one its plan leaves out, or one nothing prices.
    /// </summary>
    public async Task RequireUsableAsync(Guid orgId, string model, string field, CancellationToken ct)
    {
        var name = model.Trim();
        var serving = (await ForOrgAsync(orgId, ct)).Where(m => Names(m, name)).ToList();
        if (serving.Count == 0)
            throw ProblemException.Invalid(field, $"No provider of this organisation serves '{name}'. GET /api/orgs/{orgId}/models lists the models it may use.");
        if (!serving.Any(m => m.Allowed))
            throw ProblemException.Invalid(field, $"The organisation's plan does not include '{name}'. GET /api/orgs/{orgId}/models lists the models it may use.");
        if (!serving.Any(m => m.Usable))
            throw ProblemException.Invalid(field, $"'{name}' has no price, so a chat with it would be refused. Choose a model with a price from GET /api/orgs/{orgId}/models, or ask an admin to price it.");
    }

    /// <summary>Whether <paramref name="name"/> (<c>model</c> or <c>provider/model</c>) names this model.</summary>
    internal static bool Names(CatalogModel m, string name) =>
        string.Equals(m.Model, name, StringComparison.OrdinalIgnoreCase)
        || string.Equals($"{m.Source.Name}/{m.Model}", name, StringComparison.OrdinalIgnoreCase);

    public async Task<List<AdminModelResponse>> ListForAdminAsync(CancellationToken ct)
    {
        var settings = await SettingsAsync(ct);
        var book = await prices.BookAsync(ct);
        var list = new List<AdminModelResponse>();
        foreach (var source in deployment.All)
            foreach (var model in source.Models)
            {
                var m = Model(source, model, settings, null, book);
                var s = settings.GetValueOrDefault((source.Name, model.ToLowerInvariant()));
                list.Add(new AdminModelResponse(
                    source.Name, model, source.Kind, m.DisplayName, m.ContextLength, CapabilityNames(m.Capabilities), m.Price?.InputPerMillion, m.Price?.OutputPerMillion,
                    s?.DisabledPlans ?? [], new ModelOverrides(s?.DisplayName, s?.ContextLength, s?.Capabilities is { } c ? CapabilityNames(c) : null)));
            }
        return list;
    }

    /// <summary>Replaces the admin's setting of a deployment model; it applies to the next request on every node within 30 seconds.</summary>
    public async Task<AdminModelResponse> SetAsync(string provider, string model, ModelSettingRequest body, Guid actorId, CancellationToken ct)
    {
        var (source, id) = DeploymentModel(provider, model);
        var wanted = await ValidateAsync(body, ct);
        await WriteSettingAsync(source.Name, id, wanted, actorId, ct);
        await cache.RemoveAsync(CacheKey, ct);
        return (await ListForAdminAsync(ct)).First(m => m.Provider == source.Name && string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A setting checked against the model limits and the plans that exist.</summary>
    sealed record ValidSetting(string? DisplayName, int? ContextLength, ModelCapabilities? Capabilities, List<string> DisabledPlans);

    /// <summary>The deployment's provider and the model's stored id (lower case), or not found.</summary>
    (ProviderSource Source, string Id) DeploymentModel(string provider, string model)
    {
        var source = deployment.All.FirstOrDefault(s => string.Equals(s.Name, provider.Trim(), StringComparison.OrdinalIgnoreCase) && s.Serves(model.Trim()))
            ?? throw Orgs.NotFound("No such model.", $"No provider named '{provider}' serves a model '{model}'; GET /api/admin/models lists them.");
        return (source, source.Models.First(m => string.Equals(m, model.Trim(), StringComparison.OrdinalIgnoreCase)).ToLowerInvariant());
    }

    async Task<ValidSetting> ValidateAsync(ModelSettingRequest body, CancellationToken ct)
    {
        var displayName = body.DisplayName?.Trim() is { Length: > 0 } name ? name : null;
        if (displayName is { Length: > 200 })
            throw ProblemException.Invalid("displayName", "A display name is at most 200 characters.");
        if (body.ContextLength is <= 0 or > 100_000_000)
            throw ProblemException.Invalid("contextLength", "contextLength is the model's context window in tokens, from 1 to 100000000; leave it out to use AiHub's.");
        ModelCapabilities? capabilities = body.Capabilities is null ? null : ParseCapabilities(body.Capabilities);
        var plans = (body.DisabledPlans ?? []).Select(p => p.Trim().ToUpperInvariant()).Distinct().ToList();
        var known = await db.Set<Plan>().AsNoTracking().Select(p => p.Code).ToListAsync(ct);
        if (plans.FirstOrDefault(p => !known.Contains(p)) is { } unknown)
            throw ProblemException.Invalid("disabledPlans", $"'{unknown}' is not a plan; GET /api/admin/plans lists them.");
        return new ValidSetting(displayName, body.ContextLength, capabilities, plans);
    }

    /// <summary>Inserts or updates the one row of the model, audited; a concurrent first insert of the same model is a 409.</summary>
    async Task WriteSettingAsync(string provider, string id, ValidSetting wanted, Guid actorId, CancellationToken ct)
    {
        var setting = await db.Set<ModelSetting>().FirstOrDefaultAsync(s => s.Provider == provider && s.Model == id, ct);
        var before = setting is null ? null : new { setting.DisplayName, setting.ContextLength, capabilities = setting.Capabilities?.ToString(), setting.DisabledPlans };
        if (setting is null)
            db.Add(setting = new ModelSetting { Provider = provider, Model = id });
        (setting.DisplayName, setting.ContextLength, setting.Capabilities, setting.DisabledPlans) =
            (wanted.DisplayName, wanted.ContextLength, wanted.Capabilities, wanted.DisabledPlans);
        (setting.UpdatedAt, setting.UpdatedBy) = (clock.GetUtcNow(), actorId);
        audit.Add(ModelAuditKinds.SettingsChanged, null, new
        {
            provider, model = id, before,
            after = new { displayName = wanted.DisplayName, contextLength = wanted.ContextLength, capabilities = wanted.Capabilities?.ToString(), disabledPlans = wanted.DisabledPlans },
        }, actorId);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            throw Orgs.Conflict("The model's setting changed at the same time.", "Someone else changed it just now; read it again and retry.");
        }
    }

    /// <summary>
    /// The model as the org sees it, with the price a call is charged: an org's own provider is paid by the org, so its
    /// models cost the platform's rate (<see cref="ChatSettings.OrgProviderPrice"/>), whatever its name; the
    /// deployment's cost what <see cref="PriceBook.Resolve"/> finds.
    /// </summary>
    CatalogModel Model(ProviderSource source, string model, IReadOnlyDictionary<(string, string), ModelSetting> settings, string? plan, PriceBook book)
    {
        var (displayName, contextLength, capabilities) = Describe(model);
        var s = settings.GetValueOrDefault((source.Name, model.ToLowerInvariant()));
        var allowed = plan is null || s is null || !s.DisabledPlans.Contains(plan, StringComparer.OrdinalIgnoreCase);
        return new CatalogModel(source, model, s?.DisplayName ?? displayName, s?.ContextLength ?? contextLength, s?.Capabilities ?? capabilities,
            source.Origin == ProviderOrigins.Org ? chat.Value.OrgProviderRate() : book.Resolve(source.Name, model), allowed);
    }

    async Task<string> PlanCodeAsync(Guid orgId, CancellationToken ct) =>
        await db.Set<OrgPlan>().AsNoTracking().Where(p => p.OrganizationId == orgId).Select(p => p.PlanCode).FirstOrDefaultAsync(ct) ?? Plan.Free;

    async Task<IReadOnlyDictionary<(string, string), ModelSetting>> SettingsAsync(CancellationToken ct)
    {
        var all = await cache.GetOrCreateAsync(CacheKey, scopes, LoadAsync, cancellationToken: ct);
        return all.ToDictionary(s => (s.Provider, s.Model));
    }

    static async ValueTask<List<ModelSetting>> LoadAsync(IServiceScopeFactory scopes, CancellationToken ct)
    {
        // Its own scope: the cache may run this for another caller after this caller's DbContext is gone.
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<ModelSetting>().AsNoTracking().ToListAsync(ct);
    }

    public static IReadOnlyList<string> CapabilityNames(ModelCapabilities capabilities) =>
        Enum.GetValues<ModelCapabilities>().Where(c => c != ModelCapabilities.None && capabilities.HasFlag(c)).Select(c => c.ToString().ToLowerInvariant()).ToList();

    static ModelCapabilities ParseCapabilities(IReadOnlyList<string> names)
    {
        var result = ModelCapabilities.None;
        foreach (var name in names)
        {
            if (!Enum.TryParse<ModelCapabilities>(name?.Trim(), ignoreCase: true, out var c) || c == ModelCapabilities.None || int.TryParse(name, out _))
                throw ProblemException.Invalid("capabilities", $"'{name}' is not a capability; use vision, tools and streaming.");
            result |= c;
        }
        return result;
    }
}
