using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using AiHub.Data;
using AiHub.Knowledge.Search;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Pgvector;
using Pgvector.Npgsql;

namespace AiHub.Benchmarks;

/// <summary>
/// Vector search latency and recall@10 through the real knowledge index: PostgreSQL's partial HNSW index against an
/// exact scan, and SQLite's exact scan, over synthetic clustered unit vectors.
/// </summary>
/// <remarks>A latency run, not a BenchmarkDotNet micro-benchmark: one query at a time, each in a scope of its own as a request.</remarks>
public static class KnowledgeSearchBench
{
    const string Model = "bench/synthetic";
    const int K = 10;

    public static async Task<int> RunAsync(string[] args)
    {
        var sizes = (Option(args, "--sizes") ?? "100000").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var dimensions = int.Parse(Option(args, "--dimensions") ?? "512", CultureInfo.InvariantCulture);
        var queries = int.Parse(Option(args, "--queries") ?? "200", CultureInfo.InvariantCulture);
        var target = Option(args, "--database") ?? "postgres";
        var efs = (Option(args, "--ef") ?? "100").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var connection = Option(args, "--connection") ?? Environment.GetEnvironmentVariable("AIHUB_TEST_POSTGRES");
        foreach (var size in sizes)
        {
            if (target == "sqlite")
                await SqliteAsync(size, dimensions, queries);
            else if (connection is null)
            {
                Console.Error.WriteLine("usage: search [--database postgres|sqlite] [--connection <PostgreSQL>] [--sizes 100000,1000000] [--dimensions 512] [--queries 200] [--ef 100,200,400]");
                return 64;
            }
            else
                await PostgresAsync(connection, size, dimensions, queries, efs);
        }
        return 0;
    }

    static async Task PostgresAsync(string connection, int size, int dimensions, int queryCount, int[] efs)
    {
        var database = "aihub_bench_search_" + Guid.NewGuid().ToString("N")[..8];
        await LedgerThroughput.ExecuteAsync(connection, $"CREATE DATABASE \"{database}\"");
        try
        {
            var connectionString = new NpgsqlConnectionStringBuilder(connection) { Database = database, CommandTimeout = 0 }.ConnectionString;
            await using var services = Services(connectionString, postgres: true);
            await using (var scope = services.CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.MigrateAsync();
            var data = new Synthetic(dimensions, seed: 42);
            var scope0 = new SearchScope(Guid.CreateVersion7(), [Guid.CreateVersion7()]);

            var clock = Stopwatch.StartNew();
            await using var source0 = DataSource(connectionString);
            await using (var npgsql = await source0.OpenConnectionAsync())
            {
                await using (var off = new NpgsqlCommand("SET session_replication_role = replica", npgsql))
                    await off.ExecuteNonQueryAsync();
                await using var copy = await npgsql.BeginBinaryImportAsync(
                    "COPY knowledge_chunks (organization_id, knowledge_base_id, source_id, ordinal, text, token_count, start_offset, end_offset, embedding_model, embedding) FROM STDIN (FORMAT BINARY)");
                var source = Guid.CreateVersion7();
                for (var i = 0; i < size; i++)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync(scope0.OrganizationId, NpgsqlDbType.Uuid);
                    await copy.WriteAsync(scope0.KnowledgeBaseIds[0], NpgsqlDbType.Uuid);
                    await copy.WriteAsync(source, NpgsqlDbType.Uuid);
                    await copy.WriteAsync(i, NpgsqlDbType.Integer);
                    await copy.WriteAsync("synthetic chunk " + i.ToString(CultureInfo.InvariantCulture), NpgsqlDbType.Text);
                    await copy.WriteAsync(3, NpgsqlDbType.Integer);
                    await copy.WriteAsync(0L, NpgsqlDbType.Bigint);
                    await copy.WriteAsync(0L, NpgsqlDbType.Bigint);
                    await copy.WriteAsync(Model, NpgsqlDbType.Varchar);
                    await copy.WriteAsync(new Vector(data.Next()), "vector");
                }
                await copy.CompleteAsync();
            }
            await LedgerThroughput.ExecuteAsync(connectionString, "VACUUM ANALYZE knowledge_chunks");
            var loaded = clock.Elapsed;

            clock.Restart();
            await using (var scope = services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
                await db.Database.OpenConnectionAsync();
                await db.Database.ExecuteSqlRawAsync("SET maintenance_work_mem = '4GB'");
                await db.Database.ExecuteSqlRawAsync("SET max_parallel_maintenance_workers = 2");
                await scope.ServiceProvider.GetRequiredService<IKnowledgeIndex>().EnsureVectorIndexAsync(Model, dimensions, CancellationToken.None);
            }
            var built = clock.Elapsed;
            await LedgerThroughput.ExecuteAsync(connectionString, "ANALYZE knowledge_chunks");

            var queries = Enumerable.Range(0, queryCount).Select(_ => data.Next()).ToList();
            clock.Restart();
            var exact = Exact(size, dimensions, queries);
            var exactTime = clock.Elapsed;
            foreach (var ef in efs)
            {
                await using var tuned = Services(connectionString, postgres: true, ef);
                // Warm the index pages and the pool, as a node that has been serving does.
                await MeasureAsync(tuned, scope0, queries.Take(20).ToList());
                var (latencies, found) = await MeasureAsync(tuned, scope0, queries);
                Report($"PostgreSQL HNSW (partial, m=16, ef_construction=64, ef_search={ef}, iterative relaxed_order)", size, dimensions, latencies, Recall(found, exact),
                    $"load {loaded.TotalSeconds:N0} s, index build {built.TotalSeconds:N0} s, brute force {exactTime.TotalSeconds:N0} s");
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await LedgerThroughput.ExecuteAsync(connection, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        }
    }

    /// <summary>The true ten nearest by brute force: the same seeded stream again, the i-th vector being chunk i + 1.</summary>
    static List<long[]> Exact(int size, int dimensions, List<float[]> queries)
    {
        var data = new Synthetic(dimensions, seed: 42);
        var best = queries.Select(_ => new PriorityQueue<long, float>(K + 1)).ToList();
        for (var i = 0; i < size; i++)
        {
            var vector = data.Next();
            for (var q = 0; q < queries.Count; q++)
            {
                var similarity = TensorPrimitives.Dot(vector, queries[q]);
                if (best[q].Count < K)
                    best[q].Enqueue(i + 1L, similarity);
                else if (best[q].TryPeek(out _, out var worst) && similarity > worst)
                    best[q].EnqueueDequeue(i + 1L, similarity);
            }
        }
        return best.Select(heap => heap.UnorderedItems.Select(x => x.Element).ToArray()).ToList();
    }

    static async Task SqliteAsync(int size, int dimensions, int queryCount)
    {
        var folder = Directory.CreateTempSubdirectory("aihub-bench-search-").FullName;
        try
        {
            var connectionString = $"Data Source={Path.Combine(folder, "bench.db")}";
            await using var services = Services(connectionString, postgres: false);
            await using (var scope = services.CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.MigrateAsync();
            var data = new Synthetic(dimensions, seed: 42);
            var scope0 = new SearchScope(Guid.CreateVersion7(), [Guid.CreateVersion7()]);
            var clock = Stopwatch.StartNew();
            await using (var sqlite = new SqliteConnection(connectionString))
            {
                await sqlite.OpenAsync();
                await using (var off = new SqliteCommand("PRAGMA foreign_keys = OFF", sqlite))
                    await off.ExecuteNonQueryAsync();
                await using var transaction = (SqliteTransaction)await sqlite.BeginTransactionAsync();
                await using var insert = new SqliteCommand("""
                    INSERT INTO knowledge_chunks (organization_id, knowledge_base_id, source_id, ordinal, text, token_count, start_offset, end_offset, embedding_model, embedding)
                    VALUES ($org, $kb, $source, $ordinal, $text, 3, 0, 0, $model, $embedding)
                    """, sqlite, transaction);
                var source = Guid.CreateVersion7().ToString().ToUpperInvariant();
                insert.Parameters.AddWithValue("$org", scope0.OrganizationId.ToString().ToUpperInvariant());
                insert.Parameters.AddWithValue("$kb", scope0.KnowledgeBaseIds[0].ToString().ToUpperInvariant());
                insert.Parameters.AddWithValue("$source", source);
                var ordinal = insert.Parameters.Add("$ordinal", SqliteType.Integer);
                var text = insert.Parameters.Add("$text", SqliteType.Text);
                insert.Parameters.AddWithValue("$model", Model);
                var embedding = insert.Parameters.Add("$embedding", SqliteType.Blob);
                for (var i = 0; i < size; i++)
                {
                    var vector = data.Next();
                    ordinal.Value = i;
                    text.Value = "synthetic chunk " + i.ToString(CultureInfo.InvariantCulture);
                    embedding.Value = MemoryMarshal.AsBytes(vector.AsSpan()).ToArray();
                    await insert.ExecuteNonQueryAsync();
                }
                await transaction.CommitAsync();
            }
            var loaded = clock.Elapsed;
            var queries = Enumerable.Range(0, queryCount).Select(_ => data.Next()).ToList();
            await MeasureAsync(services, scope0, queries.Take(20).ToList());
            var (latencies, found) = await MeasureAsync(services, scope0, queries);
            // Brute force over the same vectors: the index must agree with it exactly.
            var exact = Exact(size, dimensions, queries);
            Report("SQLite exact scan (float32 blobs, TensorPrimitives.Dot)", size, dimensions, latencies, Recall(found, exact), $"load {loaded.TotalSeconds:N0} s");
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(folder, recursive: true);
        }
    }

    static async Task<(List<double> Latencies, List<long[]> Found)> MeasureAsync(ServiceProvider services, SearchScope scope, List<float[]> queries)
    {
        var latencies = new List<double>();
        var found = new List<long[]>();
        foreach (var query in queries)
        {
            var started = Stopwatch.GetTimestamp();
            await using (var request = services.CreateAsyncScope())
            {
                var hits = await request.ServiceProvider.GetRequiredService<IKnowledgeIndex>().VectorAsync(scope, Model, query, K, CancellationToken.None);
                found.Add(hits.Select(h => h.ChunkId).ToArray());
            }
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        return (latencies, found);
    }

    static double Recall(List<long[]> found, List<long[]> exact) =>
        found.Zip(exact).Average(p => p.Second.Length == 0 ? 1.0 : (double)p.First.Intersect(p.Second).Count() / p.Second.Length);

    static void Report(string what, int size, int dimensions, List<double> latencies, double recall, string notes)
    {
        latencies.Sort();
        Console.WriteLine($"| {what} | {size:N0} | {dimensions} | {Percentile(latencies, 0.5):N1} ms | {Percentile(latencies, 0.95):N1} ms | {recall:N3} | {notes} |");
    }

    static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>The index's part of the app's container: the database and the settings it reads.</summary>
    static ServiceProvider Services(string connectionString, bool postgres, int efSearch = 100)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        if (postgres)
        {
            services.AddDbContext<PostgresAppDbContext>(options => DataExtensions.ConfigurePostgres(options, connectionString));
            services.AddScoped<AppDbContext>(sp => sp.GetRequiredService<PostgresAppDbContext>());
            services.AddScoped<IKnowledgeIndex, PostgresKnowledgeIndex>();
        }
        else
        {
            services.AddDbContext<SqliteAppDbContext>(options => DataExtensions.ConfigureSqlite(options, connectionString));
            services.AddScoped<AppDbContext>(sp => sp.GetRequiredService<SqliteAppDbContext>());
            services.AddScoped<IKnowledgeIndex, SqliteKnowledgeIndex>();
            services.AddSingleton<SqliteVectorCache>();
        }
        services.AddSingleton(Options.Create(new SearchSettings { EfSearch = efSearch }));
        return services.BuildServiceProvider();
    }

    static NpgsqlDataSource DataSource(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.UseVector();
        return builder.Build();
    }

    static string? Option(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

    /// <summary>Unit vectors around 1,000 random centres, as embeddings of many documents on fewer topics cluster.</summary>
    sealed class Synthetic(int dimensions, int seed)
    {
        readonly Random _random = new(seed);
        float[][]? _centres;

        public float[] Next()
        {
            _centres ??= Enumerable.Range(0, 1000).Select(_ => Gaussian(1f)).ToArray();
            var centre = _centres[_random.Next(_centres.Length)];
            var vector = Gaussian(0.6f);
            TensorPrimitives.Add(vector, centre, vector);
            TensorPrimitives.Divide(vector, TensorPrimitives.Norm(vector), vector);
            return vector;
        }

        float[] Gaussian(float sigma)
        {
            var v = new float[dimensions];
            for (var i = 0; i < v.Length; i++)
                v[i] = sigma * (float)(Math.Sqrt(-2 * Math.Log(1 - _random.NextDouble())) * Math.Cos(2 * Math.PI * _random.NextDouble()));
            return v;
        }
    }
}
