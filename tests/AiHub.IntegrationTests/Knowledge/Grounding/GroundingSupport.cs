using AiHub.Data;
using AiHub.IntegrationTests.Chat;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Search;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Knowledge.Grounding;

/// <summary>
/// A search that stands in for the hybrid one: chunks whose text contains a word of the query (LIKE), fenced by org,
/// workspace and knowledge bases exactly as <see cref="IKnowledgeSearch"/> promises, ranked by how many words matched.
/// </summary>
internal sealed class LikeKnowledgeSearch(AppDbContext db) : IKnowledgeSearch
{
    public async Task<IReadOnlyList<KnowledgeHit>> SearchAsync(KnowledgeQuery query, CancellationToken ct)
    {
        var words = new string([.. query.Query.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) ? c : ' ')])
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => w.Length > 3).Distinct().ToList();
        var rows = from c in db.Set<KnowledgeChunk>().AsNoTracking()
                   join s in db.Set<KnowledgeSource>() on c.SourceId equals s.Id
                   where c.OrganizationId == query.OrganizationId && s.OrganizationId == query.OrganizationId && s.WorkspaceId == query.WorkspaceId
                   select new { Chunk = c, s.Title, s.Format };
        if (query.KnowledgeBaseIds is { } bases)
            rows = rows.Where(r => bases.Contains(r.Chunk.KnowledgeBaseId));
        var matched = new Dictionary<long, (KnowledgeChunk Chunk, string Title, SourceFormat? Format, int Words)>();
        foreach (var word in words)
        {
            var pattern = $"%{word}%";
            foreach (var r in await rows.Where(r => EF.Functions.Like(r.Chunk.Text.ToLower(), pattern)).ToListAsync(ct))
                matched[r.Chunk.Id] = (r.Chunk, r.Title, r.Format, (matched.TryGetValue(r.Chunk.Id, out var m) ? m.Words : 0) + 1);
        }
        return [.. matched.Values.OrderByDescending(m => m.Words).ThenBy(m => m.Chunk.Id).Take(query.TopK).Select((m, i) => new KnowledgeHit(
            m.Chunk.Id, m.Chunk.SourceId, m.Chunk.KnowledgeBaseId, m.Title, m.Format, m.Chunk.Text, m.Chunk.Page, m.Chunk.HeadingPath,
            m.Chunk.StartSeconds, m.Chunk.EndSeconds, 1.0 / (60 + i + 1), i + 1, null, null))];
    }
}

/// <summary>Knowledge written straight to the tables, as ingestion would leave it.</summary>
internal static class KnowledgeRows
{
    public sealed record Passage(string Text, int? Page = null, double? Start = null, double? End = null);

    public static async Task<Guid> BaseAsync(IdentityHost host, Guid orgId, Guid workspaceId, Guid userId, string name = "Handbook")
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var now = DateTimeOffset.UtcNow;
        var kb = new KnowledgeBase { Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = workspaceId, Name = name, CreatedBy = userId, CreatedAt = now, UpdatedAt = now };
        db.Add(kb);
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        return kb.Id;
    }

    public static async Task<Guid> SourceAsync(IdentityHost host, Guid orgId, Guid workspaceId, Guid kbId, Guid userId, string title, SourceFormat format, params Passage[] passages)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var now = DateTimeOffset.UtcNow;
        var source = new KnowledgeSource
        {
            Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = workspaceId, KnowledgeBaseId = kbId, Title = title, Format = format,
            BlobKey = $"test/{Guid.NewGuid():N}", Status = SourceStatus.Completed, Progress = 100, CreatedBy = userId, CreatedAt = now, UpdatedAt = now,
            ChunkCount = passages.Length,
        };
        db.Add(source);
        var ordinal = 0;
        foreach (var p in passages)
            db.Add(new KnowledgeChunk
            {
                OrganizationId = orgId, KnowledgeBaseId = kbId, SourceId = source.Id, Ordinal = ordinal++, Text = p.Text, TokenCount = p.Text.Split(' ').Length,
                Page = p.Page, StartSeconds = p.Start, EndSeconds = p.End,
            });
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        return source.Id;
    }

    public static async Task FocusAsync(IdentityHost host, Guid orgId, Guid workspaceId, Guid userId, Guid kbId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        db.Add(new KnowledgeFocus { OrganizationId = orgId, WorkspaceId = workspaceId, UserId = userId, KnowledgeBaseId = kbId });
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
    }

    public static async Task<List<KnowledgeQuestion>> QuestionsAsync(IdentityHost host, Guid orgId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<KnowledgeQuestion>().AsNoTracking()
            .Where(q => q.OrganizationId == orgId).ToListAsync(TestContext.Current.CancellationToken);
    }

    public static void AddLikeSearch(IServiceCollection services) => services.AddScoped<IKnowledgeSearch, LikeKnowledgeSearch>();
}

/// <summary>The chat fixture's fakes, with a host whose knowledge is searched by <see cref="LikeKnowledgeSearch"/>.</summary>
public abstract class GroundedChatFixture(string provider) : ChatFixture(provider), IAsyncLifetime
{
    public IdentityHost Grounded { get; private set; } = null!;

    public new async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        Grounded = await StartHostAsync(new Dictionary<string, string?>(), KnowledgeRows.AddLikeSearch);
    }

    public new async ValueTask DisposeAsync()
    {
        await Grounded.DisposeAsync();
        await base.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteGroundedChatFixture() : GroundedChatFixture("Sqlite");

public sealed class PostgresGroundedChatFixture() : GroundedChatFixture("Postgres");
