using System.Text.Json.Serialization;
using AiHub.Chat.Providers;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Gateway.Models;

/// <summary>One model as OpenAI's <c>GET /v1/models</c> lists it.</summary>
internal sealed record OpenAIModel(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("created")] long Created,
    [property: JsonPropertyName("owned_by")] string OwnedBy);

internal sealed record OpenAIModelList(
    [property: JsonPropertyName("object")] string Object,
    [property: JsonPropertyName("data")] IReadOnlyList<OpenAIModel> Data);

/// <summary>One model as Anthropic's <c>GET /v1/models</c> lists it.</summary>
internal sealed record AnthropicModel(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("display_name")] string DisplayName,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt);

internal sealed record AnthropicModelList(
    [property: JsonPropertyName("data")] IReadOnlyList<AnthropicModel> Data,
    [property: JsonPropertyName("has_more")] bool HasMore,
    [property: JsonPropertyName("first_id")] string? FirstId,
    [property: JsonPropertyName("last_id")] string? LastId);

/// <summary>A model the key may name, with the id a client sends for it.</summary>
internal sealed record GatewayModel(string Id, string OwnedBy, string DisplayName);

/// <summary>When this node began serving its catalog: the <c>created</c> of every model, since providers do not say when theirs were made.</summary>
internal sealed class ServingSince(TimeProvider clock)
{
    public DateTimeOffset At { get; } = TruncateToSeconds(clock.GetUtcNow());

    static DateTimeOffset TruncateToSeconds(DateTimeOffset t) => DateTimeOffset.FromUnixTimeSeconds(t.ToUnixTimeSeconds());
}

/// <summary>
/// <c>GET /v1/models</c> and <c>GET /v1/models/{id}</c>: the models the key's org may call (in its plan and priced), in
/// OpenAI's shape, or Anthropic's when the request carries <c>anthropic-version</c> as Anthropic's SDKs send it.
/// </summary>
internal static class ModelEndpoints
{
    const string AnthropicVersionHeader = "anthropic-version";
    const int AnthropicDefaultLimit = 20;
    const int AnthropicMaxLimit = 1000;

    public static void Map(IEndpointRouteBuilder app)
    {
        // The key is checked by GatewayCaller, so that a refusal is written in the caller's wire format.
        var models = app.MapGroup("/v1/models").AllowAnonymous().WithMetadata(ApiKeysAllowedMetadata.Instance).WithTags("Gateway");
        models.MapGet("", List).WithSummary("The models this API key may use (OpenAI's list, or Anthropic's with an anthropic-version header).");
        models.MapGet("/{**id}", Get).WithSummary("One model this API key may use; 404 for any other.");
    }

    static async Task<Results<Ok<OpenAIModelList>, Ok<AnthropicModelList>>> List(
        HttpContext http, ModelCatalog catalog, ServingSince since, CancellationToken ct,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "limit")] int? limit = null,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "after_id")] string? afterId = null,
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "before_id")] string? beforeId = null)
    {
        var key = await GatewayCaller.RequireAsync(http, OrgPermissions.ChatUse);
        var models = Listed(await catalog.ForOrgAsync(key.OrganizationId, ct));
        if (!IsAnthropic(http))
            return TypedResults.Ok(new OpenAIModelList("list", [.. models.Select(m => OpenAI(m, since))]));
        return TypedResults.Ok(Page(models, since, limit, afterId, beforeId));
    }

    static async Task<Results<Ok<OpenAIModel>, Ok<AnthropicModel>>> Get(string id, HttpContext http, ModelCatalog catalog, ServingSince since, CancellationToken ct)
    {
        var key = await GatewayCaller.RequireAsync(http, OrgPermissions.ChatUse);
        var model = Listed(await catalog.ForOrgAsync(key.OrganizationId, ct)).FirstOrDefault(m => string.Equals(m.Id, id.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such model.",
                $"The model '{id}' does not exist or this API key may not use it; GET /v1/models lists the models it may use.", ProblemTypes.ModelNotFound);
        return IsAnthropic(http) ? TypedResults.Ok(Anthropic(model, since)) : TypedResults.Ok(OpenAI(model, since));
    }

    /// <summary>
    /// Every usable model by its bare id (which routes to the org's own provider first, as the catalog lists it), and
    /// also as <c>provider/model</c> for each provider when more than one serves the id, so a client can pick one.
    /// </summary>
    internal static List<GatewayModel> Listed(IReadOnlyList<CatalogModel> catalog)
    {
        var usable = catalog.Where(m => m.Usable).ToList();
        var list = new List<GatewayModel>();
        foreach (var group in usable.GroupBy(m => m.Model, StringComparer.OrdinalIgnoreCase))
        {
            var first = group.First();
            list.Add(new GatewayModel(first.Model, first.Source.Name, first.DisplayName));
            if (group.Select(m => m.Source.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count() > 1)
                list.AddRange(group.Select(m => new GatewayModel($"{m.Source.Name}/{m.Model}", m.Source.Name, $"{m.DisplayName} ({m.Source.Name})"))
                    .DistinctBy(m => m.Id, StringComparer.OrdinalIgnoreCase));
        }
        return list;
    }

    static AnthropicModelList Page(List<GatewayModel> models, ServingSince since, int? limit, string? afterId, string? beforeId)
    {
        var size = limit ?? AnthropicDefaultLimit;
        if (size is < 1 or > AnthropicMaxLimit)
            throw ProblemException.Invalid("limit", $"limit is between 1 and {AnthropicMaxLimit}.");
        if (afterId is not null && beforeId is not null)
            throw ProblemException.Invalid("before_id", "Give after_id or before_id, not both.");
        int IndexOf(string id, string field) => models.FindIndex(m => string.Equals(m.Id, id, StringComparison.OrdinalIgnoreCase)) is >= 0 and var i ? i
            : throw ProblemException.Invalid(field, $"'{id}' is not a model of this list.");
        List<GatewayModel> page;
        bool more;
        if (beforeId is not null)
        {
            var end = IndexOf(beforeId, "before_id");
            var start = Math.Max(0, end - size);
            (page, more) = (models[start..end], start > 0);
        }
        else
        {
            var start = afterId is null ? 0 : IndexOf(afterId, "after_id") + 1;
            var end = Math.Min(models.Count, start + size);
            (page, more) = (models[start..end], end < models.Count);
        }
        return new AnthropicModelList([.. page.Select(m => Anthropic(m, since))], more, page.FirstOrDefault()?.Id, page.LastOrDefault()?.Id);
    }

    static bool IsAnthropic(HttpContext http) => http.Request.Headers.ContainsKey(AnthropicVersionHeader);

    static OpenAIModel OpenAI(GatewayModel m, ServingSince since) => new(m.Id, "model", since.At.ToUnixTimeSeconds(), m.OwnedBy);

    static AnthropicModel Anthropic(GatewayModel m, ServingSince since) => new("model", m.Id, m.DisplayName, since.At);
}
