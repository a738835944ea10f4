using System.Data.Common;
using System.Globalization;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Npgsql;
using Pgvector;

namespace AiHub.Knowledge.Search;

/// <summary>The cluster's index: the generated tsvector with GIN for words, pgvector with one partial HNSW index per model and dimension.</summary>
internal sealed class PostgresKnowledgeIndex(AppDbContext db, IOptions<SearchSettings> settings) : IKnowledgeIndex
{
    /// <summary>pgvector's HNSW indexes vectors of at most this many dimensions; wider ones are searched exactly.</summary>
    public const int MaxIndexedDimensions = 2000;

    public async Task WriteEmbeddingsAsync(Guid organizationId, IReadOnlyList<(long ChunkId, float[] Vector)> vectors, string model, CancellationToken ct)
    {
        if (vectors.Count == 0)
            return;
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        foreach (var (chunkId, vector) in vectors)
        {
            Vectors.Check(vector);
            var value = new Vector(Vectors.Normalized(vector));
            await db.Database.ExecuteSqlAsync(
                $"UPDATE knowledge_chunks SET embedding = {value}, embedding_model = {model} WHERE id = {chunkId} AND organization_id = {organizationId}", ct);
        }
        await transaction.CommitAsync(ct);
    }

    public async Task ClearEmbeddingsAsync(Guid organizationId, Guid knowledgeBaseId, CancellationToken ct) =>
        await db.Database.ExecuteSqlAsync(
            $"UPDATE knowledge_chunks SET embedding = NULL, embedding_model = NULL WHERE organization_id = {organizationId} AND knowledge_base_id = {knowledgeBaseId}", ct);

    /// <remarks>
    /// Partial per model and dimension, over the column cast to that dimension: the column has no fixed dimension
    /// because knowledge bases use different models (and one model may be asked for several sizes), and an HNSW index
    /// needs one. The name is a hash, so any model name is safe.
    /// </remarks>
    public async Task EnsureVectorIndexAsync(string model, int dimensions, CancellationToken ct)
    {
        if (dimensions is < 1 or > MaxIndexedDimensions)
            return;
        var literal = "'" + model.Replace("'", "''", StringComparison.Ordinal) + "'";
#pragma warning disable EF1002 // The name is a hash, the dimension an integer and the model an escaped literal: DDL takes no parameters.
        await db.Database.ExecuteSqlRawAsync($"""
            CREATE INDEX IF NOT EXISTS {Vectors.IndexName(model, dimensions)} ON knowledge_chunks
            USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
            WHERE embedding_model = {literal} AND vector_dims(embedding) = {dimensions}
            """, ct);
#pragma warning restore EF1002
    }

    public async Task<IReadOnlyList<IndexHit>> LexicalAsync(SearchScope scope, string query, int limit, CancellationToken ct)
    {
        if (Vectors.Words(query).Count == 0 || scope.KnowledgeBaseIds.Count == 0 || limit <= 0)
            return [];
        // websearch_to_tsquery requires every word; a question ("how do I reset my password") must also find a
        // chunk with only some of them, so any word matches and a chunk with all of them ranks first.
        return await ReadAsync(async command =>
        {
            command.CommandText = """
                WITH q AS (SELECT websearch_to_tsquery('english', @q) AS every_word,
                                  replace(plainto_tsquery('english', @q)::text, ' & ', ' | ')::tsquery AS any_word)
                SELECT c.id, (ts_rank_cd(c.search, q.any_word) + CASE WHEN c.search @@ q.every_word THEN 1 ELSE 0 END)::float8 AS score
                FROM knowledge_chunks AS c, q
                WHERE c.search @@ q.any_word AND c.organization_id = @org AND c.knowledge_base_id = ANY(@kbs)
                ORDER BY score DESC, c.id
                LIMIT @limit
                """;
            AddScope(command, scope);
            command.Parameters.Add(new NpgsqlParameter("q", query));
            command.Parameters.Add(new NpgsqlParameter("limit", limit));
            var hits = new List<IndexHit>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                hits.Add(new IndexHit(reader.GetInt64(0), hits.Count + 1, reader.GetDouble(1)));
            return hits;
        }, ct);
    }

    public async Task<IReadOnlyList<IndexHit>> VectorAsync(SearchScope scope, string model, float[] query, int limit, CancellationToken ct)
    {
        Vectors.Check(query);
        if (scope.KnowledgeBaseIds.Count == 0 || limit <= 0)
            return [];
        var dimensions = query.Length;
        var efSearch = Math.Max(settings.Value.EfSearch, limit);
        return await ReadAsync(async command =>
        {
            // The filter runs after the index yields candidates: iterative scans keep going until enough pass it.
            // relaxed_order may return them slightly out of order, so the outer query sorts the few found.
            command.CommandText = "SELECT set_config('hnsw.ef_search', @ef, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)";
            command.Parameters.Add(new NpgsqlParameter("ef", efSearch.ToString(CultureInfo.InvariantCulture)));
            await command.ExecuteNonQueryAsync(ct);
            command.Parameters.Clear();
            command.CommandText = $"""
                WITH nearest AS MATERIALIZED (
                    SELECT id, embedding::vector({dimensions}) <=> @q AS distance FROM knowledge_chunks
                    WHERE embedding_model = @model AND vector_dims(embedding) = {dimensions} AND organization_id = @org AND knowledge_base_id = ANY(@kbs)
                    ORDER BY embedding::vector({dimensions}) <=> @q
                    LIMIT @limit)
                SELECT id, distance FROM nearest ORDER BY distance, id
                """;
            AddScope(command, scope);
            command.Parameters.Add(new NpgsqlParameter("q", new Vector(Vectors.Normalized(query))));
            command.Parameters.Add(new NpgsqlParameter("model", model));
            command.Parameters.Add(new NpgsqlParameter("limit", limit));
            var hits = new List<IndexHit>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                hits.Add(new IndexHit(reader.GetInt64(0), hits.Count + 1, 1 - reader.GetDouble(1)));
            return hits;
        }, ct);
    }

    static void AddScope(DbCommand command, SearchScope scope)
    {
        command.Parameters.Add(new NpgsqlParameter("org", scope.OrganizationId));
        command.Parameters.Add(new NpgsqlParameter("kbs", scope.KnowledgeBaseIds.ToArray()));
    }

    /// <summary>In a transaction of its own unless the caller has one: SET LOCAL lasts until it ends.</summary>
    async Task<T> ReadAsync<T>(Func<DbCommand, Task<T>> read, CancellationToken ct)
    {
        var own = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(ct) : null;
        try
        {
            await using var command = db.Database.GetDbConnection().CreateCommand();
            command.Transaction = db.Database.CurrentTransaction!.GetDbTransaction();
            var result = await read(command);
            if (own is not null)
                await own.CommitAsync(ct);
            return result;
        }
        finally
        {
            if (own is not null)
                await own.DisposeAsync();
        }
    }
}
