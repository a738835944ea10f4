using System.Numerics.Tensors;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Search;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Knowledge.Search;

/// <summary>
/// Stands in for an embedding provider in the index tests only: a hashed bag of words, so texts that share words
/// are near and others are not, deterministically.
/// </summary>
internal sealed class HashedEmbedder : IQueryEmbedder
{
    public const string Model = "test/hashed-words";
    public const int Dimensions = 64;

    public int Calls;

    public Task<float[]> EmbedQueryAsync(Spender? spender, string model, string text, CancellationToken ct)
    {
        Interlocked.Increment(ref Calls);
        return Task.FromResult(Embed(text));
    }

    public static float[] Embed(string text)
    {
        var vector = new float[Dimensions];
        foreach (var word in text.ToLowerInvariant().Split([' ', ',', '.', ':', '?', '!', '\''], StringSplitOptions.RemoveEmptyEntries))
            vector[(int)(StableHash(word) % Dimensions)] += 1;
        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
            TensorPrimitives.Divide(vector, norm, vector);
        return vector;
    }

    static uint StableHash(string word)
    {
        var hash = 2166136261u;
        foreach (var c in word)
            hash = (hash ^ c) * 16777619u;
        return hash;
    }
}

/// <summary>Two orgs: the first with two workspaces, the second with one; knowledge inserted straight into the database.</summary>
internal sealed class SearchWorld
{
    public required IdentityHost Host { get; init; }
    public required AuthTokens OwnerA { get; init; }
    public required AuthTokens OwnerB { get; init; }
    public required Guid OrgA { get; init; }
    public required Guid OrgB { get; init; }
    public required Guid WorkspaceA1 { get; init; }
    public required Guid WorkspaceA2 { get; init; }
    public required Guid WorkspaceB { get; init; }

    public static async Task<SearchWorld> NewAsync(IdentityHost host, HttpClient client)
    {
        var ownerA = await host.NewUserAsync(client);
        var ownerB = await host.NewUserAsync(client);
        var orgA = await CreateOrgAsync(client, ownerA, "Creator A");
        var orgB = await CreateOrgAsync(client, ownerB, "Creator B");
        return new SearchWorld
        {
            Host = host,
            OwnerA = ownerA,
            OwnerB = ownerB,
            OrgA = orgA,
            OrgB = orgB,
            WorkspaceA1 = await CreateAsync(client, ownerA, orgA, "workspaces", new { name = "Videos" }),
            WorkspaceA2 = await CreateAsync(client, ownerA, orgA, "workspaces", new { name = "Private" }),
            WorkspaceB = await CreateAsync(client, ownerB, orgB, "workspaces", new { name = "Videos" }),
        };
    }

    public async Task<Guid> KnowledgeBaseAsync(Guid orgId, Guid workspaceId, string? model = null)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var kb = new KnowledgeBase
        {
            Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = workspaceId, Name = "KB", EmbeddingModel = model,
            EmbeddingDimensions = model is null ? null : HashedEmbedder.Dimensions, CreatedBy = Guid.NewGuid(), CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
        };
        db.Add(kb);
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        return kb.Id;
    }

    /// <summary>A source with one chunk per text (embedded with the hashed embedder when the KB has a model); the chunks' ids in order.</summary>
    public async Task<List<long>> SourceAsync(Guid orgId, Guid workspaceId, Guid kbId, string title, string[] texts, string? model = null,
        SourceFormat format = SourceFormat.Pdf, Func<int, (int? Page, double? Start)>? where = null)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var source = new KnowledgeSource
        {
            Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = workspaceId, KnowledgeBaseId = kbId, Title = title, Format = format,
            BlobKey = "blobs/" + Guid.NewGuid(), Status = SourceStatus.Completed, CreatedBy = Guid.NewGuid(), CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow,
        };
        db.Add(source);
        var chunks = texts.Select((text, i) =>
        {
            var (page, start) = where?.Invoke(i) ?? (i + 1, null);
            return new KnowledgeChunk
            {
                OrganizationId = orgId, KnowledgeBaseId = kbId, SourceId = source.Id, Ordinal = i, Text = text, Page = page,
                StartSeconds = start, EndSeconds = start + 5, HeadingPath = "Help > " + title,
            };
        }).ToList();
        db.AddRange(chunks);
        await db.SaveChangesAsync(ct);
        if (model is not null)
        {
            var index = scope.ServiceProvider.GetRequiredService<IKnowledgeIndex>();
            await index.WriteEmbeddingsAsync(orgId, chunks.Select(c => (c.Id, HashedEmbedder.Embed(c.Text))).ToList(), model, ct);
        }
        return chunks.Select(c => c.Id).ToList();
    }

    public async Task<IReadOnlyList<KnowledgeHit>> SearchAsync(Guid orgId, Guid workspaceId, string query, IReadOnlyList<Guid>? kbs = null, int topK = 10)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IKnowledgeSearch>()
            .SearchAsync(new KnowledgeQuery(orgId, workspaceId, query, kbs, topK, null), TestContext.Current.CancellationToken);
    }
}
