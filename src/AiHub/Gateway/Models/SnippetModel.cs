using AiHub.Chat.Providers;
using AiHub.Organizations.ApiKeys;

namespace AiHub.Gateway.Models;

/// <summary>The org's default model, named as <c>GET /v1/models</c> lists it, for the API-keys page's SDK snippets.</summary>
internal sealed class SnippetModel(ModelCatalog catalog) : IKeySnippetModel
{
    public async Task<string?> ExampleModelAsync(Guid orgId, CancellationToken ct)
    {
        var models = await catalog.ListForOrgAsync(orgId, ct);
        var chosen = models.FirstOrDefault(m => m.Default);
        return chosen?.Id;
    }
}
