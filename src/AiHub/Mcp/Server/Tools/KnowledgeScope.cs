using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Knowledge;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using ModelContextProtocol;

namespace AiHub.Mcp.Server.Tools;

/// <summary>A workspace the caller may read, with the knowledge bases to search in it (null: all of its own).</summary>
internal sealed record ScopedWorkspace(Guid Id, string Name, IReadOnlyList<Guid>? KnowledgeBaseIds);

/// <summary>
/// What an MCP caller may read of the org's knowledge: its workspaces (only the bound one for a bound key or grant),
/// their knowledge bases and sources, each fetched by (org, id).
/// </summary>
/// <remarks>
/// Another org's id, or a workspace the caller is not bound to, is "not found" with the same words as an unknown id,
/// so a caller can never learn that it exists.
/// </remarks>
internal sealed class KnowledgeScope(AppDbContext db)
{
    public async Task<List<Workspace>> WorkspacesAsync(McpCaller caller, CancellationToken ct) =>
        await db.Workspaces.AsNoTracking()
            .Where(w => w.OrganizationId == caller.OrganizationId && (caller.WorkspaceId == null || w.Id == caller.WorkspaceId))
            .OrderBy(w => w.Name).ThenBy(w => w.Id).ToListAsync(ct);

    public async Task<Workspace> WorkspaceAsync(McpCaller caller, Guid workspaceId, CancellationToken ct) =>
        (caller.WorkspaceId is null || caller.WorkspaceId == workspaceId
            ? await db.Workspaces.AsNoTracking().FirstOrDefaultAsync(w => w.OrganizationId == caller.OrganizationId && w.Id == workspaceId, ct)
            : null)
        ?? throw NotFound($"There is no workspace {workspaceId} that this connection can see; list_workspaces gives the ids.");

    public async Task<KnowledgeBase> KnowledgeBaseAsync(McpCaller caller, Guid knowledgeBaseId, CancellationToken ct) =>
        await db.Set<KnowledgeBase>().AsNoTracking()
            .FirstOrDefaultAsync(k => k.OrganizationId == caller.OrganizationId && k.Id == knowledgeBaseId
                && (caller.WorkspaceId == null || k.WorkspaceId == caller.WorkspaceId), ct)
        ?? throw NotFound($"There is no knowledge base {knowledgeBaseId} that this connection can see; list_knowledge_bases gives the ids.");

    public async Task<KnowledgeSource> SourceAsync(McpCaller caller, Guid sourceId, CancellationToken ct) =>
        await db.Set<KnowledgeSource>().AsNoTracking()
            .FirstOrDefaultAsync(s => s.OrganizationId == caller.OrganizationId && s.Id == sourceId && s.Status != SourceStatus.Uploading
                && (caller.WorkspaceId == null || s.WorkspaceId == caller.WorkspaceId), ct)
        ?? throw NotFound($"There is no source {sourceId} that this connection can see.");

    /// <summary>
    /// Where a search or a question looks: one knowledge base, one workspace, or (neither) every workspace the caller
    /// can see that has knowledge.
    /// </summary>
    public async Task<List<ScopedWorkspace>> SearchScopeAsync(McpCaller caller, Guid? knowledgeBaseId, Guid? workspaceId, CancellationToken ct)
    {
        if (knowledgeBaseId is { } kbId)
        {
            var kb = await KnowledgeBaseAsync(caller, kbId, ct);
            if (workspaceId is { } ws && ws != kb.WorkspaceId)
                throw new McpException($"The knowledge base {kbId} is not in the workspace {ws}; give one of them.");
            var workspace = await WorkspaceAsync(caller, kb.WorkspaceId, ct);
            return [new ScopedWorkspace(workspace.Id, workspace.Name, [kb.Id])];
        }
        if (workspaceId is { } id)
        {
            var workspace = await WorkspaceAsync(caller, id, ct);
            return [new ScopedWorkspace(workspace.Id, workspace.Name, null)];
        }
        var withKnowledge = await db.Set<KnowledgeBase>().AsNoTracking()
            .Where(k => k.OrganizationId == caller.OrganizationId).Select(k => k.WorkspaceId).Distinct().ToListAsync(ct);
        return [.. (await WorkspacesAsync(caller, ct)).Where(w => withKnowledge.Contains(w.Id)).Select(w => new ScopedWorkspace(w.Id, w.Name, null))];
    }

    public static McpException NotFound(string message) => new(message);

    /// <summary>A refusal of a feature's service as the client's model reads it: the problem's title and detail.</summary>
    public static McpException From(ProblemException e) => new(e.Detail is { Length: > 0 } detail ? $"{e.Title} {detail}" : e.Title, e);

    /// <summary>The URI a source is read at as an MCP resource.</summary>
    public static string SourceUri(Guid orgId, Guid sourceId) => $"aihub://orgs/{orgId}/sources/{sourceId}";
}
