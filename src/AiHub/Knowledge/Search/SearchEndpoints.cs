using System.Globalization;
using System.Security.Claims;
using AiHub.Credits.Pools;
using AiHub.Infrastructure.OpenApi;
using AiHub.Knowledge.Ingestion;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Knowledge.Search;

internal sealed record SearchRequest(string? Query, List<Guid>? KnowledgeBaseIds, int? TopK);

internal sealed record SearchHitResponse(
    long ChunkId, Guid SourceId, Guid KnowledgeBaseId, string Title, SourceFormat? Format, string Text, int? Page, string? HeadingPath,
    double? Start, double? End, double Score, int? LexicalRank, int? VectorRank, double? Similarity, string Link);

internal sealed record SearchResponse(string Query, IReadOnlyList<SearchHitResponse> Hits);

internal static class SearchEndpoints
{
    public const int DefaultTopK = 10;

    public static void MapSearchEndpoints(IEndpointRouteBuilder app)
    {
        var search = OrgEndpoints.Org(app).MapGroup("/workspaces/{wsId:guid}/search").WithTags("Knowledge")
            .RequireAuthorization(OrgPermissions.KnowledgeRead);
        search.MapPost("", Search)
            .WithSummary("Searches the workspace's knowledge (or the knowledge bases named) by words and meaning; returns the best chunks with their sources.");
    }

    static async Task<Ok<SearchResponse>> Search(Guid orgId, Guid wsId, SearchRequest body, ClaimsPrincipal user, SpenderResolver spenders, IKnowledgeSearch search, CancellationToken ct)
    {
        var spender = await spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.KnowledgeRead, ct);
        var query = body.Query ?? "";
        var hits = await search.SearchAsync(new KnowledgeQuery(orgId, wsId, query, body.KnowledgeBaseIds, body.TopK ?? DefaultTopK, spender), ct);
        return TypedResults.Ok(new SearchResponse(query.Trim(), hits.Select(h => Describe(wsId, h)).ToList()));
    }

    static SearchHitResponse Describe(Guid wsId, KnowledgeHit h) => new(
        h.ChunkId, h.SourceId, h.KnowledgeBaseId, h.SourceTitle, h.Format, h.Text, h.Page, h.HeadingPath, h.StartSeconds, h.EndSeconds,
        h.Score, h.LexicalRank, h.VectorRank, h.Similarity, Link(wsId, h));

    /// <summary>Where the web app opens the source at the chunk: its page, or its moment in a recording.</summary>
    internal static string Link(Guid wsId, KnowledgeHit h)
    {
        var link = $"/knowledge/{wsId}/sources/{h.SourceId}";
        if (h.StartSeconds is { } start)
            return link + "#t=" + Math.Floor(start).ToString(CultureInfo.InvariantCulture);
        return h.Page is { } page ? link + "#page=" + page.ToString(CultureInfo.InvariantCulture) : link;
    }
}
