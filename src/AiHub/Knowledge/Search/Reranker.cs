using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Search;

/// <summary>Reorders fused hits through a Cohere-style <c>POST /rerank</c>; when it fails the fused order stands.</summary>
internal sealed partial class Reranker(HttpClient http, IOptions<RerankSettings> options, ILogger<Reranker> logger)
{
    readonly RerankSettings _settings = options.Value;

    public bool Enabled => _settings.Kind != RerankKind.None;

    public int TopN => _settings.TopN;

    public async Task<List<KnowledgeHit>> RerankAsync(string query, List<KnowledgeHit> hits, CancellationToken ct)
    {
        if (!Enabled || hits.Count < 2)
            return hits;
        var sent = hits.Take(_settings.TopN).ToList();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_settings.Timeout);
            using var request = new HttpRequestMessage(HttpMethod.Post, Endpoint())
            {
                Content = JsonContent.Create(new RerankRequest(_settings.Model!, query, sent.Select(h => h.Text).ToList(), sent.Count)),
            };
            if (!string.IsNullOrEmpty(_settings.ApiKey))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.ApiKey);
            using var response = await http.SendAsync(request, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                LogFailed(logger, $"status {(int)response.StatusCode}");
                return hits;
            }
            var body = await response.Content.ReadFromJsonAsync<RerankResponse>(timeout.Token);
            return Reorder(hits, sent.Count, body?.Results ?? []) ?? Malformed(hits);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !ct.IsCancellationRequested)
        {
            LogFailed(logger, e.GetType().Name);
            return hits;
        }
    }

    List<KnowledgeHit> Malformed(List<KnowledgeHit> hits)
    {
        LogFailed(logger, "an answer without a valid index for every document");
        return hits;
    }

    /// <summary>The reranked documents first by relevance, then any it left out in fused order; null when an index is invalid.</summary>
    internal static List<KnowledgeHit>? Reorder(List<KnowledgeHit> hits, int sent, IReadOnlyList<RerankResult> results)
    {
        if (results.Count == 0 || results.Any(r => r.Index < 0 || r.Index >= sent) || results.DistinctBy(r => r.Index).Count() != results.Count)
            return null;
        var ranked = results.OrderByDescending(r => r.RelevanceScore).Select(r => hits[r.Index] with { Score = r.RelevanceScore }).ToList();
        var chosen = results.Select(r => r.Index).ToHashSet();
        return [.. ranked, .. hits.Where((_, i) => !chosen.Contains(i))];
    }

    Uri Endpoint()
    {
        var root = _settings.BaseUrl!.ToString();
        return new Uri(root.EndsWith('/') ? root + "rerank" : root + "/rerank");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The reranker failed ({Reason}); the results keep the fused order.")]
    static partial void LogFailed(ILogger logger, string reason);

    internal sealed record RerankRequest(
        [property: JsonPropertyName("model")] string Model,
        [property: JsonPropertyName("query")] string Query,
        [property: JsonPropertyName("documents")] List<string> Documents,
        [property: JsonPropertyName("top_n")] int TopN);

    internal sealed record RerankResponse([property: JsonPropertyName("results")] List<RerankResult>? Results);

    internal sealed record RerankResult(
        [property: JsonPropertyName("index")] int Index,
        [property: JsonPropertyName("relevance_score")] double RelevanceScore);
}
