using System.Net;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Search;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Knowledge.Search;

/// <summary>Hybrid search over a workspace's knowledge: words, vectors, their fusion, and the tenancy fence around both.</summary>
public abstract class KnowledgeSearchTests(IdentityHost host)
{
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected const string Model = HashedEmbedder.Model;

    static readonly string[] Help =
    [
        "To reset your password, open Settings and choose Reset password.",
        "The invoice lists every charge of the month, with taxes.",
        "Uploading videos: drag a file onto the library page.",
    ];

    [Fact]
    public async Task Full_text_finds_stemmed_words_and_questions_that_share_only_some_words()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1);
        var ids = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Account help", Help);

        var stemmed = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "resetting passwords");
        var question = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "how can I reset a forgotten password?");
        var nothing = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "\"*\" OR NEAR( -");

        var first = stemmed[0];
        Assert.Equal(ids[0], first.ChunkId);
        Assert.Equal((1, null, null), (first.LexicalRank, first.VectorRank, first.Similarity));
        Assert.Equal(("Account help", SourceFormat.Pdf, 1, kb), (first.SourceTitle, first.Format, first.Page, first.KnowledgeBaseId));
        Assert.Equal(ids[0], question[0].ChunkId);
        Assert.DoesNotContain(stemmed, h => h.ChunkId == ids[2]);
        // FTS syntax in the question is just punctuation: no error, and nothing to find.
        Assert.Empty(nothing);
    }

    [Fact]
    public async Task Vector_search_returns_the_nearest_chunks_by_cosine()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, Model);
        var ids = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Axes", ["one", "two", "three"]);
        await using var scope = host.App.Services.CreateAsyncScope();
        var index = scope.ServiceProvider.GetRequiredService<IKnowledgeIndex>();
        // Not unit length on purpose: the index normalises what it stores and what it is asked.
        await index.WriteEmbeddingsAsync(world.OrgA, [(ids[0], [3, 0, 0, 0]), (ids[1], [0, 2, 0, 0]), (ids[2], [1, 1, 0, 0])], Model, Ct);

        var hits = await index.VectorAsync(new SearchScope(world.OrgA, [kb]), Model, [0, 5, 0, 0.1f], 2, Ct);
        var otherModel = await index.VectorAsync(new SearchScope(world.OrgA, [kb]), "other/model", [0, 5, 0, 0.1f], 2, Ct);

        Assert.Equal([ids[1], ids[2]], hits.Select(h => h.ChunkId));
        Assert.Equal([1, 2], hits.Select(h => h.Rank));
        Assert.Equal(5 / Math.Sqrt(25.01), hits[0].Score, 4);
        Assert.Equal(Math.Sqrt(0.5) * 5 / Math.Sqrt(25.01), hits[1].Score, 4);
        Assert.Empty(otherModel);
    }

    [Fact]
    public async Task Hybrid_search_ranks_first_a_chunk_that_both_words_and_meaning_find()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var embedder = (HashedEmbedder)host.App.Services.GetRequiredService<IQueryEmbedder>();
        var vectorKb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, Model);
        var wordsKb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1);
        var embedded = await world.SourceAsync(world.OrgA, world.WorkspaceA1, vectorKb, "Billing", [
            "refund invoice refund invoice",
            "billing refund policy and invoice refund rules for every plan and every month of the year",
            "camera microphone lighting",
        ], Model);
        var plain = await world.SourceAsync(world.OrgA, world.WorkspaceA1, wordsKb, "Notes", ["a refund is possible within thirty days of the first invoice we sent out"]);
        var before = embedder.Calls;

        var hits = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "refund invoice");

        Assert.Equal(embedded[0], hits[0].ChunkId);
        Assert.Equal((1, 1), (hits[0].LexicalRank, hits[0].VectorRank));
        Assert.Equal(1.0, hits[0].Similarity!.Value, 3);
        Assert.Equal(2.0 / 61, hits[0].Score, 6);
        // The knowledge base without a model is still searched, by its words.
        Assert.Contains(hits, h => h.ChunkId == plain[0] && h.VectorRank is null && h.LexicalRank is not null);
        // Found by its vector alone (the only other vector), below everything its words also found.
        Assert.Contains(hits, h => h.ChunkId == embedded[2] && h.LexicalRank is null && h.VectorRank == 3);
        Assert.Equal(1, embedder.Calls - before);
    }

    [Fact]
    public async Task Another_orgs_and_another_workspaces_chunks_never_come_back_even_for_their_exact_text()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        const string Secret = "the launch plan for the winter collection";
        var mineKb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, Model);
        var otherWorkspaceKb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA2, Model);
        var otherOrgKb = await world.KnowledgeBaseAsync(world.OrgB, world.WorkspaceB, Model);
        var mine = await world.SourceAsync(world.OrgA, world.WorkspaceA1, mineKb, "Mine", ["a plan for the spring"], Model);
        var otherWorkspace = await world.SourceAsync(world.OrgA, world.WorkspaceA2, otherWorkspaceKb, "Private", [Secret], Model);
        var otherOrg = await world.SourceAsync(world.OrgB, world.WorkspaceB, otherOrgKb, "Creator B", [Secret], Model);

        var hits = await world.SearchAsync(world.OrgA, world.WorkspaceA1, Secret, topK: 50);
        var theirs = await world.SearchAsync(world.OrgB, world.WorkspaceB, Secret, topK: 50);

        Assert.Equal(mine, hits.Select(h => h.ChunkId));
        Assert.Equal(otherOrg, theirs.Select(h => h.ChunkId));
        Assert.DoesNotContain(hits, h => otherWorkspace.Contains(h.ChunkId) || otherOrg.Contains(h.ChunkId));
        await using var scope = host.App.Services.CreateAsyncScope();
        var index = scope.ServiceProvider.GetRequiredService<IKnowledgeIndex>();
        // The index itself: the org and the knowledge bases are both in every query.
        var crossed = await index.LexicalAsync(new SearchScope(world.OrgA, [otherOrgKb]), Secret, 50, Ct);
        var crossedVector = await index.VectorAsync(new SearchScope(world.OrgA, [otherOrgKb]), Model, HashedEmbedder.Embed(Secret), 50, Ct);
        Assert.Empty(crossed);
        Assert.Empty(crossedVector);
    }

    [Fact]
    public async Task Knowledge_bases_of_another_workspace_or_org_are_not_found()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var mine = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1);
        var otherWorkspace = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA2);
        var otherOrg = await world.KnowledgeBaseAsync(world.OrgB, world.WorkspaceB);
        var path = $"/api/orgs/{world.OrgA}/workspaces/{world.WorkspaceA1}/search";

        var workspace = await SendAsync(client, world.OwnerA, HttpMethod.Post, path, new { query = "plan", knowledgeBaseIds = new[] { mine, otherWorkspace } }, HttpStatusCode.NotFound);
        var org = await SendAsync(client, world.OwnerA, HttpMethod.Post, path, new { query = "plan", knowledgeBaseIds = new[] { otherOrg } }, HttpStatusCode.NotFound);
        var foreignWorkspace = await SendAsync(client, world.OwnerA, HttpMethod.Post, $"/api/orgs/{world.OrgA}/workspaces/{world.WorkspaceB}/search", new { query = "plan" }, HttpStatusCode.NotFound);
        var stranger = await SendAsync(client, world.OwnerB, HttpMethod.Post, path, new { query = "plan" }, HttpStatusCode.NotFound);

        Assert.Equal("No such knowledge base.", workspace.GetProperty("title").GetString());
        Assert.Contains(otherWorkspace.ToString(), workspace.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal("No such knowledge base.", org.GetProperty("title").GetString());
        Assert.Equal("No such workspace.", foreignWorkspace.GetProperty("title").GetString());
        Assert.Equal(ProblemTypes.NotFound, stranger.GetProperty("type").GetString());
    }

    [Fact]
    public async Task An_empty_query_or_a_topK_out_of_range_is_a_400_naming_the_field()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var path = $"/api/orgs/{world.OrgA}/workspaces/{world.WorkspaceA1}/search";

        var empty = await SendAsync(client, world.OwnerA, HttpMethod.Post, path, new { query = "   " }, HttpStatusCode.BadRequest);
        var missing = await SendAsync(client, world.OwnerA, HttpMethod.Post, path, new { topK = 5 }, HttpStatusCode.BadRequest);
        var zero = await SendAsync(client, world.OwnerA, HttpMethod.Post, path, new { query = "plan", topK = 0 }, HttpStatusCode.BadRequest);
        var tooMany = await SendAsync(client, world.OwnerA, HttpMethod.Post, path, new { query = "plan", topK = 51 }, HttpStatusCode.BadRequest);
        await SendAsync(client, world.OwnerA, HttpMethod.Post, path, new { query = "plan", topK = 50 });

        Assert.True(empty.GetProperty("errors").TryGetProperty("query", out _), empty.ToString());
        Assert.True(missing.GetProperty("errors").TryGetProperty("query", out _), missing.ToString());
        Assert.True(zero.GetProperty("errors").TryGetProperty("topK", out _), zero.ToString());
        Assert.True(tooMany.GetProperty("errors").TryGetProperty("topK", out _), tooMany.ToString());
    }

    [Fact]
    public async Task A_deleted_chunk_is_no_longer_found_by_its_words_or_its_vector()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, Model);
        var ids = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Gone", ["the zeppelin hangar schedule", "the harbour timetable"], Model);
        Assert.Equal(ids[0], (await world.SearchAsync(world.OrgA, world.WorkspaceA1, "zeppelin"))[0].ChunkId);

        await using (var scope = host.App.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<KnowledgeChunk>().Where(c => c.Id == ids[0]).ExecuteDeleteAsync(Ct);

        var hits = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "zeppelin hangar");
        Assert.DoesNotContain(hits, h => h.ChunkId == ids[0]);
        await using var check = host.App.Services.CreateAsyncScope();
        var lexical = await check.ServiceProvider.GetRequiredService<IKnowledgeIndex>().LexicalAsync(new SearchScope(world.OrgA, [kb]), "zeppelin", 10, Ct);
        Assert.Empty(lexical);
    }

    [Fact]
    public async Task Clearing_a_knowledge_bases_embeddings_leaves_it_searchable_by_words()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, Model);
        var ids = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Cleared", ["the glacier walking tour"], Model);
        await using var scope = host.App.Services.CreateAsyncScope();
        var index = scope.ServiceProvider.GetRequiredService<IKnowledgeIndex>();

        await index.ClearEmbeddingsAsync(world.OrgA, kb, Ct);

        Assert.Empty(await index.VectorAsync(new SearchScope(world.OrgA, [kb]), Model, HashedEmbedder.Embed("glacier walking tour"), 10, Ct));
        var hit = Assert.Single(await world.SearchAsync(world.OrgA, world.WorkspaceA1, "glacier"));
        Assert.Equal((ids[0], (int?)1, (int?)null), (hit.ChunkId, hit.LexicalRank, hit.VectorRank));
    }

    [Fact]
    public async Task Members_and_guests_search_through_the_api_and_get_sources_with_links()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, Model);
        var video = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Studio tour", ["the lighting rig above the green screen"], Model,
            SourceFormat.Video, _ => (null, 83.6));
        var pdf = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Gear list", ["a lighting kit for small rooms"], Model, SourceFormat.Pdf, _ => (7, null));
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(client, memberEmail);
        var guestEmail = NewEmail("guest");
        var guest = await host.NewUserAsync(client, guestEmail);
        await JoinAsync(host, client, world.OwnerA, world.OrgA, memberEmail, member);
        await JoinAsync(host, client, world.OwnerA, world.OrgA, guestEmail, guest, "Guest");
        var path = $"/api/orgs/{world.OrgA}/workspaces/{world.WorkspaceA1}/search";

        var asMember = await SendAsync(client, member, HttpMethod.Post, path, new { query = " lighting rig ", knowledgeBaseIds = new[] { kb }, topK = 5 });
        var asGuest = await SendAsync(client, guest, HttpMethod.Post, path, new { query = "lighting" });

        Assert.Equal("lighting rig", asMember.GetProperty("query").GetString());
        var hits = asMember.GetProperty("hits").EnumerateArray().ToList();
        Assert.Equal(video[0], hits[0].GetProperty("chunkId").GetInt64());
        Assert.Equal("Studio tour", hits[0].GetProperty("title").GetString());
        Assert.Equal("video", hits[0].GetProperty("format").GetString());
        Assert.Equal(83.6, hits[0].GetProperty("start").GetDouble());
        Assert.Equal(kb, hits[0].GetProperty("knowledgeBaseId").GetGuid());
        Assert.True(hits[0].GetProperty("score").GetDouble() > 0);
        Assert.Equal(1, hits[0].GetProperty("lexicalRank").GetInt32());
        Assert.Equal($"/knowledge/{world.WorkspaceA1}/sources/{hits[0].GetProperty("sourceId").GetGuid()}#t=83", hits[0].GetProperty("link").GetString());
        var page = hits.Single(h => h.GetProperty("chunkId").GetInt64() == pdf[0]);
        Assert.EndsWith("#page=7", page.GetProperty("link").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, asGuest.GetProperty("hits").GetArrayLength());
    }
}

public sealed class SearchSqliteFixture() : IdentityFixture("Sqlite", services: s => s.AddSingleton<IQueryEmbedder, HashedEmbedder>());

public sealed class SearchPostgresFixture() : IdentityFixture("Postgres", services: s => s.AddSingleton<IQueryEmbedder, HashedEmbedder>());

public sealed class KnowledgeSearchOnSqlite(SearchSqliteFixture fixture) : KnowledgeSearchTests(fixture.Host), IClassFixture<SearchSqliteFixture>;

public sealed class KnowledgeSearchOnPostgres(SearchPostgresFixture fixture) : KnowledgeSearchTests(fixture.Host), IClassFixture<SearchPostgresFixture>
{
    [Fact]
    public async Task The_partial_hnsw_index_is_created_once_per_model_and_dimension_and_serves_that_models_queries()
    {
        var host = fixture.Host;
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, Model);
        await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Indexed", ["one chunk", "another chunk"], Model);
        var narrow = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Narrow", ["asked for fewer dimensions"]);
        const string Quoted = "it's/odd model";
        await using var scope = host.App.Services.CreateAsyncScope();
        var index = scope.ServiceProvider.GetRequiredService<IKnowledgeIndex>();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        // The same model at another size: neither index may choke on it, nor may a query of either size.
        await index.WriteEmbeddingsAsync(world.OrgA, [(narrow[0], [1, 0, 0, 0])], Model, Ct);

        await index.EnsureVectorIndexAsync(Model, HashedEmbedder.Dimensions, Ct);
        await index.EnsureVectorIndexAsync(Model, HashedEmbedder.Dimensions, Ct);
        await index.EnsureVectorIndexAsync(Quoted, 3, Ct);

        var name = Vectors.IndexName(Model, HashedEmbedder.Dimensions);
        var definitions = await db.Database.SqlQuery<string>($"SELECT indexdef AS \"Value\" FROM pg_indexes WHERE tablename = 'knowledge_chunks' AND indexname LIKE 'ix_knowledge_chunks_hnsw_%'").ToListAsync(Ct);
        Assert.Equal(2, definitions.Count);
        var definition = Assert.Single(definitions, d => d.Contains(name, StringComparison.Ordinal));
        Assert.Contains("hnsw", definition, StringComparison.Ordinal);
        Assert.Contains("vector(64)", definition, StringComparison.Ordinal);
        Assert.Contains(definitions, d => d.Contains("'it''s/odd model'", StringComparison.Ordinal));
        var wide = await index.VectorAsync(new SearchScope(world.OrgA, [kb]), Model, HashedEmbedder.Embed("one chunk"), 10, Ct);
        var small = await index.VectorAsync(new SearchScope(world.OrgA, [kb]), Model, [1, 0, 0, 0], 10, Ct);
        Assert.Equal(2, wide.Count);
        Assert.Equal(narrow, small.Select(h => h.ChunkId));

        var plan = await ExplainAsync(db, kb, world.OrgA, Model);
        var otherPlan = await ExplainAsync(db, kb, world.OrgA, "another/model");
        Assert.Contains($"Index Scan using {name}", plan, StringComparison.Ordinal);
        Assert.DoesNotContain(name, otherPlan, StringComparison.Ordinal);
    }

    /// <summary>The vector query's plan, as the index runs it, with sequential scans priced out as on a big table.</summary>
    static async Task<string> ExplainAsync(AppDbContext db, Guid kb, Guid org, string model)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(Ct);
        await db.Database.ExecuteSqlRawAsync("SET LOCAL enable_seqscan = off", Ct);
        await using var command = db.Database.GetDbConnection().CreateCommand();
        command.Transaction = transaction.GetDbTransaction();
        command.CommandText = """
            EXPLAIN SELECT id FROM knowledge_chunks
            WHERE embedding_model = @model AND vector_dims(embedding) = 64 AND organization_id = @org AND knowledge_base_id = ANY(@kbs)
            ORDER BY embedding::vector(64) <=> @q LIMIT 10
            """;
        command.Parameters.Add(new Npgsql.NpgsqlParameter("model", model));
        command.Parameters.Add(new Npgsql.NpgsqlParameter("org", org));
        command.Parameters.Add(new Npgsql.NpgsqlParameter("kbs", new[] { kb }));
        command.Parameters.Add(new Npgsql.NpgsqlParameter("q", new Pgvector.Vector(HashedEmbedder.Embed("one chunk"))));
        var lines = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync(Ct))
            while (await reader.ReadAsync(Ct))
                lines.Add(reader.GetString(0));
        await transaction.RollbackAsync(Ct);
        return string.Join('\n', lines);
    }
}

/// <summary>No embedding provider configured at all: every knowledge base is searched by its words, and still well.</summary>
public abstract class LexicalOnlySearchTests(IdentityHost host)
{
    [Fact]
    public async Task Without_an_embedder_a_knowledge_base_with_a_model_is_searched_by_its_words()
    {
        using var client = host.Client();
        var world = await SearchWorld.NewAsync(host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1, HashedEmbedder.Model);
        var plain = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1);
        var ids = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Embedded", ["how to export the mailing list"], HashedEmbedder.Model);
        var words = await world.SourceAsync(world.OrgA, world.WorkspaceA1, plain, "Plain", ["exporting subscribers to a spreadsheet"]);

        var hits = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "export my mailing list");

        Assert.Empty(host.App.Services.GetRequiredService<AiHub.Knowledge.Embeddings.EmbeddingModels>().All);
        Assert.Equal([ids[0], words[0]], hits.Select(h => h.ChunkId));
        Assert.All(hits, h => Assert.Null(h.VectorRank));
    }
}

public sealed class LexicalOnlySearchOnSqlite(SqliteIdentityFixture fixture) : LexicalOnlySearchTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class LexicalOnlySearchOnPostgres(PostgresIdentityFixture fixture) : LexicalOnlySearchTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
