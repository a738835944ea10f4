using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Search;

/// <summary>Turns a question into a vector with a knowledge base's embedding model, paid for by the spender; empty when the model can no longer embed.</summary>
internal interface IQueryEmbedder
{
    Task<float[]> EmbedQueryAsync(Spender? spender, string model, string text, CancellationToken ct);
}

/// <summary>Full text and vectors, fused by Reciprocal Rank Fusion, optionally reranked.</summary>
/// <remarks>
/// Tenancy: the knowledge bases are fetched by (org, workspace) and every index query carries the org and their ids,
/// so a question in one workspace never reaches another's chunks, nor another org's. Without an embedder (none
/// configured) or for knowledge bases without a model, the search is by words alone.
/// </remarks>
internal sealed class KnowledgeSearch(
    AppDbContext db, IKnowledgeIndex index, IOptions<SearchSettings> settings, Reranker reranker, IQueryEmbedder? embedder = null) : IKnowledgeSearch
{
    public const int MaxTopK = 50;
    public const int MaxQueryLength = 2000;

    public async Task<IReadOnlyList<KnowledgeHit>> SearchAsync(KnowledgeQuery query, CancellationToken ct)
    {
        // The workspace first: another workspace's id is "not found" whatever else the request gets wrong.
        var bases = await KnowledgeBasesAsync(query, ct);
        var text = Validate(query);
        if (bases.Count == 0)
            return [];
        var candidates = Math.Max(settings.Value.Candidates, query.TopK);
        var scope = new SearchScope(query.OrganizationId, bases.Select(b => b.Id).ToList());
        var lexical = await index.LexicalAsync(scope, text, candidates, ct);
        var vector = await VectorAsync(query, text, bases, candidates, ct);

        var fused = Fuse(lexical, vector, settings.Value.RrfK);
        var top = fused.Take(Math.Max(query.TopK, reranker.Enabled ? reranker.TopN : 0)).ToList();
        var hits = await DescribeAsync(query.OrganizationId, scope, top, ct);
        hits = await reranker.RerankAsync(text, hits, ct);
        return hits.Take(query.TopK).ToList();
    }

    static string Validate(KnowledgeQuery query)
    {
        var text = query.Query?.Trim() ?? "";
        if (text.Length == 0)
            throw ProblemException.Invalid("query", "query is required: the question or words to search for.");
        if (text.Length > MaxQueryLength)
            throw ProblemException.Invalid("query", $"query is at most {MaxQueryLength} characters.");
        if (query.TopK is < 1 or > MaxTopK)
            throw ProblemException.Invalid("topK", $"topK is between 1 and {MaxTopK}.");
        return text;
    }

    async Task<List<KnowledgeBase>> KnowledgeBasesAsync(KnowledgeQuery query, CancellationToken ct)
    {
        if (!await db.Workspaces.AnyAsync(w => w.OrganizationId == query.OrganizationId && w.Id == query.WorkspaceId, ct))
            throw Orgs.NotFound("No such workspace.", "It does not exist in this organisation, or was deleted.");
        var bases = await db.Set<KnowledgeBase>().AsNoTracking()
            .Where(k => k.OrganizationId == query.OrganizationId && k.WorkspaceId == query.WorkspaceId).ToListAsync(ct);
        if (query.KnowledgeBaseIds is not { Count: > 0 } asked)
            return bases;
        var missing = asked.Where(id => bases.All(b => b.Id != id)).ToList();
        if (missing.Count > 0)
            throw Orgs.NotFound("No such knowledge base.", $"Not in this workspace: {string.Join(", ", missing)}.");
        return bases.Where(b => asked.Contains(b.Id)).ToList();
    }

    /// <summary>One vector search per embedding model, the question embedded once for each.</summary>
    async Task<List<IndexHit>> VectorAsync(KnowledgeQuery query, string text, List<KnowledgeBase> bases, int candidates, CancellationToken ct)
    {
        if (embedder is null)
            return [];
        var lists = new List<IReadOnlyList<IndexHit>>();
        foreach (var model in bases.Where(b => b.EmbeddingModel is not null).GroupBy(b => b.EmbeddingModel!))
        {
            var vector = await embedder.EmbedQueryAsync(query.Spender, model.Key, text, ct);
            if (vector.Length == 0)
                continue;
            lists.Add(await index.VectorAsync(new SearchScope(query.OrganizationId, model.Select(b => b.Id).ToList()), model.Key, vector, candidates, ct));
        }
        if (lists.Count == 1)
            return [.. lists[0]];
        // Cosines of different models are not comparable, but each list is ordered: interleave by rank.
        return lists.SelectMany(l => l).OrderBy(h => h.Rank).ThenByDescending(h => h.Score).Take(candidates)
            .Select((h, i) => h with { Rank = i + 1 }).ToList();
    }

    internal sealed record Fused(long ChunkId, double Score, int? LexicalRank, int? VectorRank, double? Similarity);

    /// <summary>Reciprocal Rank Fusion: each list adds 1/(k + rank); a chunk both found ranks above one found by either.</summary>
    internal static List<Fused> Fuse(IReadOnlyList<IndexHit> lexical, IReadOnlyList<IndexHit> vector, int k)
    {
        var byId = new Dictionary<long, Fused>();
        foreach (var hit in lexical)
            byId[hit.ChunkId] = new Fused(hit.ChunkId, 1.0 / (k + hit.Rank), hit.Rank, null, null);
        foreach (var hit in vector)
        {
            var score = 1.0 / (k + hit.Rank);
            byId[hit.ChunkId] = byId.TryGetValue(hit.ChunkId, out var seen)
                ? seen with { Score = seen.Score + score, VectorRank = hit.Rank, Similarity = hit.Score }
                : new Fused(hit.ChunkId, score, null, hit.Rank, hit.Score);
        }
        return byId.Values.OrderByDescending(f => f.Score).ThenBy(f => Math.Min(f.LexicalRank ?? int.MaxValue, f.VectorRank ?? int.MaxValue))
            .ThenBy(f => f.ChunkId).ToList();
    }

    async Task<List<KnowledgeHit>> DescribeAsync(Guid organizationId, SearchScope scope, List<Fused> top, CancellationToken ct)
    {
        if (top.Count == 0)
            return [];
        var ids = top.Select(f => f.ChunkId).ToList();
        var kbs = scope.KnowledgeBaseIds.ToList();
        // The scope again: the ids came from raw SQL, and this read is what the caller sees.
        var rows = await (from c in db.Set<KnowledgeChunk>().AsNoTracking()
                          join s in db.Set<KnowledgeSource>().AsNoTracking() on c.SourceId equals s.Id
                          where c.OrganizationId == organizationId && s.OrganizationId == organizationId
                                && kbs.Contains(c.KnowledgeBaseId) && ids.Contains(c.Id)
                          select new { c.Id, c.SourceId, c.KnowledgeBaseId, s.Title, s.Format, c.Text, c.Page, c.HeadingPath, c.StartSeconds, c.EndSeconds })
            .ToDictionaryAsync(r => r.Id, ct);
        return top.Where(f => rows.ContainsKey(f.ChunkId)).Select(f =>
        {
            var r = rows[f.ChunkId];
            return new KnowledgeHit(r.Id, r.SourceId, r.KnowledgeBaseId, r.Title, r.Format, r.Text, r.Page, r.HeadingPath, r.StartSeconds, r.EndSeconds,
                f.Score, f.LexicalRank, f.VectorRank, f.Similarity);
        }).ToList();
    }
}
