using AiHub.Chat.Engine;
using AiHub.Credits.Usage;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Providers;

/// <summary>
/// Picks the provider and client for a requested model, then its fallbacks. A model is named <c>model</c> or
/// <c>provider/model</c>; a bare model goes to the org's own providers before the deployment's.
/// </summary>
internal sealed class ModelRouter(ModelCatalog catalog, ChatClients clients, IOptions<ChatSettings> settings) : IModelRouter
{
    public const string NoProviderCode = "NO_PROVIDER";

    public async Task<IReadOnlyList<ModelTarget>> RouteAsync(Guid orgId, string? model, ProviderChoice? provider, CancellationToken ct)
    {
        var models = await catalog.ForOrgAsync(orgId, ct);
        if (models.Count == 0)
            throw NoProvider(orgId);
        var chat = settings.Value;
        var asked = string.IsNullOrWhiteSpace(model) ? null : model.Trim();
        if (provider is not null)
        {
            // Narrowed before the first pick: another provider serving the same model id must not hide this one's.
            models = [.. models.Where(m => provider.Matches(m.Source.Name, m.Source.Kind))];
            if (models.Count == 0 || asked is not null && !models.Any(m => ModelCatalog.Names(m, asked)))
                throw provider.Unavailable(asked);
        }
        CatalogModel first;
        if (asked is null)
            first = ModelCatalog.DefaultOf(models, chat.DefaultModel) ?? throw NoUsableModel(orgId, models);
        else
        {
            var serving = models.Where(m => ModelCatalog.Names(m, asked)).ToList();
            if (serving.Count == 0)
                throw new ProblemException(StatusCodes.Status404NotFound, "No such model.",
                    $"No provider of this organisation serves '{asked}'. GET /api/orgs/{orgId}/models lists the models it may use.", ProblemTypes.ModelNotFound);
            first = serving.FirstOrDefault(m => m.Allowed) ?? throw NotAllowed(orgId, asked);
        }

        var chain = new List<CatalogModel> { first };
        // The chain is configured for the name as asked, else for the bare model id.
        var fallbacks = asked is not null && chat.Fallbacks.ContainsKey(asked) ? chat.FallbacksOf(asked) : chat.FallbacksOf(first.Model);
        foreach (var name in fallbacks)
        {
            // A fallback the org cannot use is skipped, not an error: the chain is the deployment's, the plan is the org's.
            if (models.FirstOrDefault(m => m.Allowed && ModelCatalog.Names(m, name)) is { } next && !chain.Contains(next))
                chain.Add(next);
        }
        return chain.Select(Target).ToList();
    }

    public async Task<ModelTarget?> CheapAsync(Guid orgId, CancellationToken ct)
    {
        var usable = (await catalog.ForOrgAsync(orgId, ct)).Where(m => m.Allowed).ToList();
        if (settings.Value.CheapModel is { Length: > 0 } cheap && usable.FirstOrDefault(m => ModelCatalog.Names(m, cheap)) is { } configured)
            return Target(configured);
        var cheapest = usable.Where(m => m.Price is not null)
            .OrderBy(m => m.Price!.InputMicrosPerMillion + m.Price.OutputMicrosPerMillion)
            .FirstOrDefault();
        return cheapest is null ? null : Target(cheapest);
    }

    ModelTarget Target(CatalogModel m) =>
        new(m.Source.Name, m.Source.Kind, m.Model, m.DisplayName, m.ContextLength, m.Capabilities, m.Price, clients.Get(m.Source, m.Model),
            m.Source.Origin == ProviderOrigins.Org, m.Source);

    static ProblemException NoProvider(Guid orgId) => new(StatusCodes.Status503ServiceUnavailable, "No AI provider is configured.",
        $"Neither this deployment nor this organisation has a provider to chat with. An operator adds one in the settings (Providers:0:Name, Kind, BaseUrl, ApiKey, Models:0), or an organisation admin adds the organisation's own on its Providers page (/orgs/{orgId}/providers).",
        ProblemTypes.NoProvider)
    {
        Extensions = new Dictionary<string, object?> { ["code"] = NoProviderCode },
    };

    /// <summary>No model is both in the plan and priced: the plan's refusal when the plan is why, else the price's.</summary>
    static ProblemException NoUsableModel(Guid orgId, IReadOnlyList<CatalogModel> models) =>
        models.FirstOrDefault(m => m.Allowed) is { } allowed ? PriceCatalog.NotPriced(allowed.Source.Name, allowed.Model) : NotAllowed(orgId, "any model");

    static ProblemException NotAllowed(Guid orgId, string model) => new(StatusCodes.Status403Forbidden, "This model is not in your plan.",
        $"The organisation's plan does not include '{model}'. Choose another model from GET /api/orgs/{orgId}/models, or see the plans at /plans.",
        ProblemTypes.ModelNotAllowed);
}
