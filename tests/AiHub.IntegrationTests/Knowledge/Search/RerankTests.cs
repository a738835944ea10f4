using System.Collections.Concurrent;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace AiHub.IntegrationTests.Knowledge.Search;

/// <summary>
/// A rerank server as Cohere, Jina, vLLM and TEI speak it: <c>POST /rerank {model, query, documents, top_n}</c> →
/// <c>{results: [{index, relevance_score}]}</c>. It scores a document by how often it says "chosen".
/// </summary>
public sealed class FakeRerankServer : IAsyncDisposable
{
    WebApplication _app = null!;

    public ConcurrentQueue<(string? Authorization, JsonElement Body)> Requests { get; } = new();

    public bool Failing { get; set; }

    public string BaseUrl { get; private set; } = "";

    public static async Task<FakeRerankServer> StartAsync()
    {
        var server = new FakeRerankServer();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        server._app = builder.Build();
        server._app.MapPost("/v2/rerank", async (HttpContext http) =>
        {
            var body = await JsonDocument.ParseAsync(http.Request.Body);
            server.Requests.Enqueue((http.Request.Headers.Authorization.ToString(), body.RootElement.Clone()));
            if (server.Failing)
                return Results.Problem("overloaded", statusCode: 503);
            var documents = body.RootElement.GetProperty("documents").EnumerateArray().Select(d => d.GetString()!).ToList();
            var results = documents.Select((d, i) => new { index = i, relevance_score = d.Split(' ').Count(w => w == "chosen") / 10.0 })
                .OrderByDescending(r => r.relevance_score).Take(body.RootElement.GetProperty("top_n").GetInt32());
            return Results.Json(new { id = "rr-1", results });
        });
        await server._app.StartAsync();
        var address = server._app.Urls.First();
        server.BaseUrl = address + "/v2";
        return server;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

public sealed class RerankFixture : IAsyncLifetime
{
    public FakeRerankServer Reranker { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Reranker = await FakeRerankServer.StartAsync();
        Host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["Knowledge:Rerank:Kind"] = "Cohere",
            ["Knowledge:Rerank:BaseUrl"] = Reranker.BaseUrl,
            ["Knowledge:Rerank:ApiKey"] = "rerank-secret",
            ["Knowledge:Rerank:Model"] = "rerank-test",
            ["Knowledge:Rerank:TopN"] = "20",
        });
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Reranker.DisposeAsync();
    }
}

/// <summary>The optional reranker reorders what fusion found; when it fails the search still answers, in fused order.</summary>
public sealed class RerankTests(RerankFixture fixture) : IClassFixture<RerankFixture>
{
    static readonly string[] Texts =
    [
        "garden tools garden tools garden tools",
        "garden tools chosen",
        "garden tools for a chosen chosen few",
    ];

    [Fact]
    public async Task The_reranker_orders_the_hits_by_its_relevance_and_gets_the_query_the_documents_and_the_key()
    {
        using var client = fixture.Host.Client();
        var world = await SearchWorld.NewAsync(fixture.Host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1);
        var ids = await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Garden", Texts);
        fixture.Reranker.Requests.Clear();

        var hits = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "garden tools", topK: 2);

        Assert.Equal([ids[2], ids[1]], hits.Select(h => h.ChunkId));
        Assert.Equal([0.2, 0.1], hits.Select(h => h.Score));
        // Fusion's ranks stay for the caller to see why a chunk was found.
        Assert.All(hits, h => Assert.NotNull(h.LexicalRank));
        var (authorization, body) = Assert.Single(fixture.Reranker.Requests);
        Assert.Equal("Bearer rerank-secret", authorization);
        Assert.Equal("rerank-test", body.GetProperty("model").GetString());
        Assert.Equal("garden tools", body.GetProperty("query").GetString());
        Assert.Equal(3, body.GetProperty("documents").GetArrayLength());
        Assert.Equal(3, body.GetProperty("top_n").GetInt32());
    }

    [Fact]
    public async Task A_failing_reranker_leaves_the_fused_order()
    {
        using var client = fixture.Host.Client();
        var world = await SearchWorld.NewAsync(fixture.Host, client);
        var kb = await world.KnowledgeBaseAsync(world.OrgA, world.WorkspaceA1);
        await world.SourceAsync(world.OrgA, world.WorkspaceA1, kb, "Garden", Texts);
        fixture.Reranker.Failing = true;
        try
        {
            var hits = await world.SearchAsync(world.OrgA, world.WorkspaceA1, "garden tools", topK: 3);

            Assert.Equal(3, hits.Count);
            Assert.Equal(hits.OrderByDescending(h => h.Score).Select(h => h.ChunkId), hits.Select(h => h.ChunkId));
            Assert.All(hits, h => Assert.Equal(1.0 / (60 + h.LexicalRank!.Value), h.Score, 9));
        }
        finally
        {
            fixture.Reranker.Failing = false;
        }
    }
}
