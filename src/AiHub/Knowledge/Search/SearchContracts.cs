using AiHub.Credits.Pools;
using AiHub.Knowledge.Ingestion;

namespace AiHub.Knowledge.Search;

/// <summary>A search of a workspace's knowledge: in the knowledge bases named, or in all of the workspace's.</summary>
/// <param name="Spender">Who pays for embedding the query, when a knowledge base searched has an embedding model.</param>
internal sealed record KnowledgeQuery(
    Guid OrganizationId,
    Guid WorkspaceId,
    string Query,
    IReadOnlyList<Guid>? KnowledgeBaseIds,
    int TopK,
    Spender? Spender);

/// <summary>One chunk found, with where it comes from, and how each retriever ranked it.</summary>
/// <param name="Score">The fused score (Reciprocal Rank Fusion, or the reranker's when one is on); higher is better.</param>
/// <param name="LexicalRank">1-based rank in the full-text results, or null when full text did not find it.</param>
/// <param name="VectorRank">1-based rank in the vector results, or null.</param>
internal sealed record KnowledgeHit(
    long ChunkId,
    Guid SourceId,
    Guid KnowledgeBaseId,
    string SourceTitle,
    SourceFormat? Format,
    string Text,
    int? Page,
    string? HeadingPath,
    double? StartSeconds,
    double? EndSeconds,
    double Score,
    int? LexicalRank,
    int? VectorRank,
    double? Similarity);

/// <summary>Hybrid search over a workspace's knowledge, always fenced by organisation and workspace.</summary>
internal interface IKnowledgeSearch
{
    Task<IReadOnlyList<KnowledgeHit>> SearchAsync(KnowledgeQuery query, CancellationToken ct);
}
