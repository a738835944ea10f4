using AiHub.Chat.Providers;
using AiHub.Credits.Usage;
using Microsoft.Extensions.AI;

namespace AiHub.Chat.Engine;

/// <summary>What a model can do besides plain text.</summary>
[Flags]
internal enum ModelCapabilities
{
    None = 0,
    Vision = 1,
    Tools = 2,
    Streaming = 4,
}

/// <summary>One model reachable through one provider, with the client that calls it (its pipeline already built).</summary>
/// <param name="Provider">The provider's configured name (<c>Providers:N:Name</c>, or an org provider's name); also the price catalog's provider.</param>
/// <param name="Kind">OpenAI, Anthropic, Gemini or OpenAICompatible.</param>
/// <param name="Model">The model id the provider knows; also the price catalog's model.</param>
/// <param name="Price">What a call is charged, as the model list shows it; null when the model has no price.</param>
/// <param name="TenantSupplied">An org's own provider: its failures are described without anything its server said.</param>
/// <param name="Source">The provider's endpoint and key, for callers that speak its wire format themselves (the gateway).</param>
internal sealed record ModelTarget(
    string Provider,
    string Kind,
    string Model,
    string DisplayName,
    int ContextLength,
    ModelCapabilities Capabilities,
    ModelRate? Price,
    IChatClient Client,
    bool TenantSupplied = false,
    ProviderSource? Source = null);

/// <summary>Resolves a requested model to the targets to try, in order: the model itself, then its fallbacks.</summary>
internal interface IModelRouter
{
    /// <summary>
    /// The asked model (or the org's default when <paramref name="model"/> is null) followed by its fallback chain, each
    /// one the org may use on its plan. 503 <c>no-provider</c> when no provider is configured for the org; 404 for a
    /// model no provider serves; 403 for a model the org's plan does not allow.
    /// </summary>
    Task<IReadOnlyList<ModelTarget>> RouteAsync(Guid orgId, string? model, CancellationToken ct) => RouteAsync(orgId, model, null, ct);

    /// <summary>
    /// As above, among the providers of <paramref name="provider"/> only (null: any); 404 <c>provider-unavailable</c>
    /// when none of them serves the model.
    /// </summary>
    Task<IReadOnlyList<ModelTarget>> RouteAsync(Guid orgId, string? model, ProviderChoice? provider, CancellationToken ct);

    /// <summary>A cheap model for side work (titles, follow-ups), or null when none is configured.</summary>
    Task<ModelTarget?> CheapAsync(Guid orgId, CancellationToken ct);
}
