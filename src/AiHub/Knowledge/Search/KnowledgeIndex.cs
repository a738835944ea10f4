using System.Security.Cryptography;
using System.Text;
using System.Numerics.Tensors;

namespace AiHub.Knowledge.Search;

/// <summary>Where a search may look: one organisation's knowledge bases, always both in the query.</summary>
internal sealed record SearchScope(Guid OrganizationId, IReadOnlyList<Guid> KnowledgeBaseIds);

/// <summary>One chunk a retriever found: its 1-based rank and the retriever's own score (bm25, ts_rank_cd or cosine).</summary>
internal readonly record struct IndexHit(long ChunkId, int Rank, double Score);

/// <summary>Writes and reads what EF does not map on knowledge_chunks: the vector and the full-text index.</summary>
internal interface IKnowledgeIndex
{
    /// <summary>Sets each chunk's vector (normalised to unit length) and its model, in one transaction.</summary>
    Task WriteEmbeddingsAsync(Guid organizationId, IReadOnlyList<(long ChunkId, float[] Vector)> vectors, string model, CancellationToken ct);

    Task ClearEmbeddingsAsync(Guid organizationId, Guid knowledgeBaseId, CancellationToken ct);

    /// <summary>Prepares the approximate index for one model and dimension, where the database has one.</summary>
    Task EnsureVectorIndexAsync(string model, int dimensions, CancellationToken ct);

    Task<IReadOnlyList<IndexHit>> LexicalAsync(SearchScope scope, string query, int limit, CancellationToken ct);

    /// <summary>The nearest chunks by cosine similarity; <see cref="IndexHit.Score"/> is the similarity.</summary>
    Task<IReadOnlyList<IndexHit>> VectorAsync(SearchScope scope, string model, float[] query, int limit, CancellationToken ct);
}

internal static class Vectors
{
    /// <summary>A unit-length copy, so that a dot product is the cosine; a zero vector stays zero.</summary>
    public static float[] Normalized(ReadOnlySpan<float> vector)
    {
        var copy = vector.ToArray();
        var norm = TensorPrimitives.Norm(copy);
        if (norm > 0 && float.IsFinite(norm))
            TensorPrimitives.Divide(copy, norm, copy);
        return copy;
    }

    public static void Check(float[] vector)
    {
        if (vector.Length == 0)
            throw new ArgumentException("An embedding has at least one dimension.", nameof(vector));
        foreach (var x in vector)
            if (!float.IsFinite(x))
                throw new ArgumentException("An embedding holds finite numbers only.", nameof(vector));
    }

    /// <summary>The words of free text as the full-text indexes see them: letters and digits, nothing of a query syntax.</summary>
    public static List<string> Words(string text, int max = 64)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        foreach (var c in text)
        {
            if (char.IsLetterOrDigit(c))
            {
                current.Append(char.ToLowerInvariant(c));
                continue;
            }
            if (current.Length > 0 && words.Count < max)
                words.Add(current.ToString());
            current.Clear();
        }
        if (current.Length > 0 && words.Count < max)
            words.Add(current.ToString());
        return words.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>A name that is the same for the same model and dimension and safe as an SQL identifier.</summary>
    public static string IndexName(string model, int dimensions)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{model}\n{dimensions}"));
        return $"ix_knowledge_chunks_hnsw_{dimensions}_{Convert.ToHexStringLower(hash)[..16]}";
    }
}
