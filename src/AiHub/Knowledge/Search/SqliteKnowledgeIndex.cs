using System.Data.Common;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using AiHub.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace AiHub.Knowledge.Search;

/// <summary>The embedded index: FTS5 with bm25 for words, an exact cosine scan over float32 blobs for vectors.</summary>
internal sealed class SqliteKnowledgeIndex(AppDbContext db, SqliteVectorCache cache) : IKnowledgeIndex
{
    /// <summary>bm25 column weights (text, heading_path): a heading names many chunks, so a hit there counts less.</summary>
    const double TextWeight = 1.0, HeadingWeight = 0.4;

    public async Task WriteEmbeddingsAsync(Guid organizationId, IReadOnlyList<(long ChunkId, float[] Vector)> vectors, string model, CancellationToken ct)
    {
        if (vectors.Count == 0)
            return;
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        foreach (var (chunkId, vector) in vectors)
        {
            Vectors.Check(vector);
            var blob = ToBlob(Vectors.Normalized(vector));
            await db.Database.ExecuteSqlAsync(
                $"UPDATE knowledge_chunks SET embedding = {blob}, embedding_model = {model} WHERE id = {chunkId} AND organization_id = {organizationId}", ct);
        }
        await transaction.CommitAsync(ct);
        cache.Changed();
    }

    public async Task ClearEmbeddingsAsync(Guid organizationId, Guid knowledgeBaseId, CancellationToken ct)
    {
        await db.Database.ExecuteSqlAsync(
            $"UPDATE knowledge_chunks SET embedding = NULL, embedding_model = NULL WHERE organization_id = {organizationId} AND knowledge_base_id = {knowledgeBaseId}", ct);
        cache.Changed();
    }

    public Task EnsureVectorIndexAsync(string model, int dimensions, CancellationToken ct) => Task.CompletedTask;

    public async Task<IReadOnlyList<IndexHit>> LexicalAsync(SearchScope scope, string query, int limit, CancellationToken ct)
    {
        var match = MatchExpression(query);
        if (match is null || scope.KnowledgeBaseIds.Count == 0 || limit <= 0)
            return [];
        return await ReadAsync(async command =>
        {
            command.CommandText = $"""
                SELECT c.id, bm25(knowledge_chunks_fts, {TextWeight.ToString(System.Globalization.CultureInfo.InvariantCulture)}, {HeadingWeight.ToString(System.Globalization.CultureInfo.InvariantCulture)}) AS score
                FROM knowledge_chunks_fts JOIN knowledge_chunks AS c ON c.id = knowledge_chunks_fts.rowid
                WHERE knowledge_chunks_fts MATCH $match AND c.organization_id = $org AND c.knowledge_base_id IN ({InList(command, scope)})
                ORDER BY score LIMIT $limit
                """;
            command.Parameters.Add(new SqliteParameter("$match", match));
            command.Parameters.Add(new SqliteParameter("$org", Text(scope.OrganizationId)));
            command.Parameters.Add(new SqliteParameter("$limit", limit));
            var hits = new List<IndexHit>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                // bm25 is lower for a better match; the score handed on is higher-is-better.
                hits.Add(new IndexHit(reader.GetInt64(0), hits.Count + 1, -reader.GetDouble(1)));
            return hits;
        }, ct);
    }

    public async Task<IReadOnlyList<IndexHit>> VectorAsync(SearchScope scope, string model, float[] query, int limit, CancellationToken ct)
    {
        Vectors.Check(query);
        if (scope.KnowledgeBaseIds.Count == 0 || limit <= 0)
            return [];
        var unit = Vectors.Normalized(query);
        var best = new PriorityQueue<long, float>(limit + 1);
        foreach (var kb in scope.KnowledgeBaseIds)
        {
            var entry = await VectorsOfAsync(scope.OrganizationId, kb, model, ct);
            // Vectors of another dimension (a model re-configured) cannot be compared; they wait for their re-embed.
            if (entry.Dimensions != unit.Length)
                continue;
            var vectors = entry.Vectors.AsSpan();
            for (var i = 0; i < entry.Ids.Length; i++)
            {
                var similarity = TensorPrimitives.Dot(vectors.Slice(i * unit.Length, unit.Length), unit);
                if (best.Count < limit)
                    best.Enqueue(entry.Ids[i], similarity);
                else if (best.TryPeek(out _, out var worst) && similarity > worst)
                    best.EnqueueDequeue(entry.Ids[i], similarity);
            }
        }
        var found = new List<(long Id, float Similarity)>(best.Count);
        while (best.TryDequeue(out var id, out var similarity))
            found.Add((id, similarity));
        found.Reverse();
        return found.Select((f, i) => new IndexHit(f.Id, i + 1, f.Similarity)).ToList();
    }

    /// <summary>A knowledge base's vectors of one model: from the cache while nothing changed, else read once and kept.</summary>
    async Task<SqliteVectorCache.Entry> VectorsOfAsync(Guid org, Guid kb, string model, CancellationToken ct)
    {
        var version = cache.Version;
        var (count, idTotal) = await ReadAsync(async command =>
        {
            // Index-only: the (organization, knowledge base, model) index holds the rowid.
            command.CommandText = "SELECT count(*), total(id) FROM knowledge_chunks WHERE organization_id = $org AND knowledge_base_id = $kb AND embedding_model = $model";
            AddScope(command, org, kb, model);
            await using var reader = await command.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            return (reader.GetInt64(0), reader.GetDouble(1));
        }, ct);
        if (cache.Find(org, kb, model, count, idTotal) is { } cached)
            return cached;
        var entry = await ReadAsync(async command =>
        {
            command.CommandText = "SELECT id, embedding FROM knowledge_chunks WHERE organization_id = $org AND knowledge_base_id = $kb AND embedding_model = $model AND embedding IS NOT NULL";
            AddScope(command, org, kb, model);
            var ids = new List<long>();
            var floats = new List<float>();
            var dimensions = 0;
            var buffer = Array.Empty<byte>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var bytes = (int)reader.GetBytes(1, 0, null, 0, 0);
                if (dimensions == 0)
                    dimensions = bytes / sizeof(float);
                if (bytes != dimensions * sizeof(float))
                    continue;
                if (buffer.Length < bytes)
                    buffer = new byte[bytes];
                reader.GetBytes(1, 0, buffer, 0, bytes);
                ids.Add(reader.GetInt64(0));
                floats.AddRange(MemoryMarshal.Cast<byte, float>(buffer.AsSpan(0, bytes)));
            }
            return new SqliteVectorCache.Entry(version, count, idTotal, [.. ids], [.. floats], dimensions);
        }, ct);
        cache.Keep(org, kb, model, entry);
        return entry;
    }

    static void AddScope(DbCommand command, Guid org, Guid kb, string model)
    {
        command.Parameters.Add(new SqliteParameter("$org", Text(org)));
        command.Parameters.Add(new SqliteParameter("$kb", Text(kb)));
        command.Parameters.Add(new SqliteParameter("$model", model));
    }

    /// <summary>Each word of the question quoted, any of them enough: the user's text never reaches FTS5's query syntax.</summary>
    internal static string? MatchExpression(string query)
    {
        var words = Vectors.Words(query);
        return words.Count == 0 ? null : string.Join(" OR ", words.Select(w => "\"" + w + "\""));
    }

    static byte[] ToBlob(float[] vector)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("Vectors are stored as little-endian float32.");
        return MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();
    }

    /// <summary>EF stores a Guid on SQLite as upper-case text; a raw parameter must match it.</summary>
    static string Text(Guid id) => id.ToString().ToUpperInvariant();

    static string InList(DbCommand command, SearchScope scope)
    {
        var names = new List<string>(scope.KnowledgeBaseIds.Count);
        for (var i = 0; i < scope.KnowledgeBaseIds.Count; i++)
        {
            names.Add("$kb" + i);
            command.Parameters.Add(new SqliteParameter("$kb" + i, Text(scope.KnowledgeBaseIds[i])));
        }
        return string.Join(", ", names);
    }

    async Task<T> ReadAsync<T>(Func<DbCommand, Task<T>> read, CancellationToken ct)
    {
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
            return await read(command);
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }
}
