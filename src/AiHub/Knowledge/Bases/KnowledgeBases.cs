using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Sources;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Knowledge.Bases;

/// <param name="EmbeddingModel"><c>provider/model</c>; empty or null: searched by words alone.</param>
internal sealed record KnowledgeBaseRequest(string? Name, string? Description, string? EmbeddingModel);

/// <summary>A field left null keeps its value; an empty embedding model makes the knowledge base lexical-only.</summary>
internal sealed record KnowledgeBasePatch(string? Name, string? Description, string? EmbeddingModel);

/// <param name="Main">The workspace's main knowledge base: the first with a recording, else the oldest.</param>
/// <param name="Focused">The one the caller has chosen to focus on in this workspace.</param>
internal sealed record KnowledgeBaseResponse(
    Guid Id, Guid WorkspaceId, string Name, string? Description, string? EmbeddingModel, int? EmbeddingDimensions,
    int Sources, long SizeBytes, int Chunks, bool Main, bool Focused, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Knowledge bases of a workspace, each fetched by (org, workspace, id).</summary>
internal sealed class KnowledgeBases(AppDbContext db, EmbeddingModels models, WorkQueue work, TimeProvider clock)
{
    public async Task<IReadOnlyList<KnowledgeBaseResponse>> ListAsync(Guid orgId, Guid workspaceId, Guid? userId, CancellationToken ct)
    {
        var bases = await db.Set<KnowledgeBase>().AsNoTracking()
            .Where(k => k.OrganizationId == orgId && k.WorkspaceId == workspaceId)
            .OrderBy(k => k.CreatedAt).ThenBy(k => k.Id)
            .ToListAsync(ct);
        var counts = await db.Set<KnowledgeSource>().AsNoTracking()
            .Where(s => s.OrganizationId == orgId && s.WorkspaceId == workspaceId)
            .GroupBy(s => s.KnowledgeBaseId)
            .Select(g => new
            {
                Id = g.Key,
                Sources = g.Count(),
                Size = g.Sum(s => s.SizeBytes),
                Chunks = g.Sum(s => s.ChunkCount),
                Media = g.Count(s => s.Format == SourceFormat.Audio || s.Format == SourceFormat.Video),
            })
            .ToDictionaryAsync(c => c.Id, ct);
        var main = MainOf(bases, id => counts.TryGetValue(id, out var c) && c.Media > 0);
        var focused = userId is { } user ? await FocusedIdAsync(orgId, workspaceId, user, ct) : null;
        return [.. bases.Select(k =>
        {
            counts.TryGetValue(k.Id, out var c);
            return Describe(k, c?.Sources ?? 0, c?.Size ?? 0, c?.Chunks ?? 0, k.Id == main, k.Id == focused);
        })];
    }

    public async Task<KnowledgeBaseResponse> GetAsync(Guid orgId, Guid workspaceId, Guid id, Guid? userId, CancellationToken ct) =>
        (await ListAsync(orgId, workspaceId, userId, ct)).FirstOrDefault(k => k.Id == id) ?? throw NotFound(id);

    public async Task<KnowledgeBase> CreateAsync(Guid orgId, Guid workspaceId, Guid userId, KnowledgeBaseRequest body, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var kb = new KnowledgeBase
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = orgId,
            WorkspaceId = workspaceId,
            Name = RequireName(body.Name),
            Description = OptionalDescription(body.Description),
            EmbeddingModel = EmbeddingModelOf(body.EmbeddingModel),
            CreatedBy = userId,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.Add(kb);
        await db.SaveChangesAsync(ct);
        return kb;
    }

    /// <summary>Renames, describes, or changes the embedding model; a new model re-embeds every source of the knowledge base.</summary>
    public async Task<KnowledgeBase> UpdateAsync(Guid orgId, Guid workspaceId, Guid id, KnowledgeBasePatch body, CancellationToken ct)
    {
        var kb = await FindAsync(orgId, workspaceId, id, ct);
        if (body.Name is not null)
            kb.Name = RequireName(body.Name);
        if (body.Description is not null)
            kb.Description = OptionalDescription(body.Description);
        var reembed = false;
        if (body.EmbeddingModel is not null)
        {
            var model = EmbeddingModelOf(body.EmbeddingModel);
            if (!string.Equals(model, kb.EmbeddingModel, StringComparison.Ordinal))
            {
                kb.EmbeddingModel = model;
                kb.EmbeddingDimensions = null;
                reembed = true;
            }
        }
        kb.UpdatedAt = clock.GetUtcNow();
        if (reembed)
        {
            // Each finished source goes back to its embed step; the chunks stay, only their vectors are made again.
            var sources = await db.Set<KnowledgeSource>()
                .Where(s => s.OrganizationId == orgId && s.KnowledgeBaseId == id && s.Status == SourceStatus.Completed)
                .ToListAsync(ct);
            foreach (var source in sources)
            {
                source.Steps &= ~(IngestionSteps.Embedded | IngestionSteps.Indexed);
                source.Status = SourceStatus.Pending;
                source.Progress = IngestionProgress.Chunked;
                source.UpdatedAt = kb.UpdatedAt;
                IngestionPipeline.Queue(work, source);
            }
        }
        await db.SaveChangesAsync(ct);
        work.DispatchAdded();
        return kb;
    }

    public async Task DeleteAsync(Guid orgId, Guid workspaceId, Guid id, SourceRemoval removal, CancellationToken ct)
    {
        var kb = await FindAsync(orgId, workspaceId, id, ct);
        var sources = await db.Set<KnowledgeSource>().Where(s => s.OrganizationId == orgId && s.KnowledgeBaseId == id).ToListAsync(ct);
        foreach (var source in sources)
            await removal.RemoveAsync(source, ct);
        db.Remove(kb);
        await db.SaveChangesAsync(ct);
    }

    public async Task FocusAsync(Guid orgId, Guid workspaceId, Guid userId, Guid id, CancellationToken ct)
    {
        await FindAsync(orgId, workspaceId, id, ct);
        var focus = await db.Set<KnowledgeFocus>().FirstOrDefaultAsync(f => f.OrganizationId == orgId && f.WorkspaceId == workspaceId && f.UserId == userId, ct);
        if (focus is null)
            db.Add(new KnowledgeFocus { OrganizationId = orgId, WorkspaceId = workspaceId, UserId = userId, KnowledgeBaseId = id });
        else
            focus.KnowledgeBaseId = id;
        await db.SaveChangesAsync(ct);
    }

    public async Task UnfocusAsync(Guid orgId, Guid workspaceId, Guid userId, CancellationToken ct) =>
        await db.Set<KnowledgeFocus>().Where(f => f.OrganizationId == orgId && f.WorkspaceId == workspaceId && f.UserId == userId).ExecuteDeleteAsync(ct);

    public Task<Guid?> FocusedIdAsync(Guid orgId, Guid workspaceId, Guid userId, CancellationToken ct) =>
        db.Set<KnowledgeFocus>().AsNoTracking()
            .Where(f => f.OrganizationId == orgId && f.WorkspaceId == workspaceId && f.UserId == userId)
            .Select(f => (Guid?)f.KnowledgeBaseId).FirstOrDefaultAsync(ct);

    public async Task<KnowledgeBase> FindAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct) =>
        await db.Set<KnowledgeBase>().FirstOrDefaultAsync(k => k.OrganizationId == orgId && k.WorkspaceId == workspaceId && k.Id == id, ct)
        ?? throw NotFound(id);

    static ProblemException NotFound(Guid id) =>
        Orgs.NotFound("No such knowledge base.", $"There is no knowledge base {id} in this workspace.");

    /// <summary>The first knowledge base holding a recording, else the oldest: what a creator's audience lands on.</summary>
    static Guid? MainOf(List<KnowledgeBase> oldestFirst, Func<Guid, bool> hasMedia) =>
        oldestFirst.FirstOrDefault(k => hasMedia(k.Id))?.Id ?? (oldestFirst.Count > 0 ? oldestFirst[0].Id : null);

    static KnowledgeBaseResponse Describe(KnowledgeBase k, int sources, long size, int chunks, bool main, bool focused) =>
        new(k.Id, k.WorkspaceId, k.Name, k.Description, k.EmbeddingModel, k.EmbeddingDimensions, sources, size, chunks, main, focused, k.CreatedAt, k.UpdatedAt);

    /// <summary>The model's id as the deployment spells it, or null (words only) for an empty one; an unknown id is a 400.</summary>
    string? EmbeddingModelOf(string? model) => string.IsNullOrWhiteSpace(model) ? null : models.Resolve(model).Id;

    static string RequireName(string? name)
    {
        var trimmed = name?.Trim();
        if (string.IsNullOrEmpty(trimmed))
            throw ProblemException.Invalid("name", "Give the knowledge base a name.");
        if (trimmed.Length > KnowledgeModelConfiguration.NameLength)
            throw ProblemException.Invalid("name", $"The name can be at most {KnowledgeModelConfiguration.NameLength} characters.");
        return trimmed;
    }

    static string? OptionalDescription(string? description)
    {
        var trimmed = description?.Trim();
        if (trimmed is { Length: > KnowledgeModelConfiguration.DescriptionLength })
            throw ProblemException.Invalid("description", $"The description can be at most {KnowledgeModelConfiguration.DescriptionLength:N0} characters.");
        return string.IsNullOrEmpty(trimmed) ? null : trimmed;
    }
}
