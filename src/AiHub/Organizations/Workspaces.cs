using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

/// <summary>An org's workspaces: a name, a description and the chat defaults (system prompt, model) they carry.</summary>
internal sealed class Workspaces(AppDbContext db, AuditLog audit, IEnumerable<IDefaultModelCheck> modelChecks, TimeProvider clock)
{
    /// <summary>The workspace every organisation starts with, so that a client can chat right after creating it.</summary>
    public const string FirstName = "General";

    /// <summary>Adds the org's first workspace to the unit of work of the org's creation; the caller saves.</summary>
    public Workspace AddFirst(Guid orgId, Guid actorId)
    {
        var now = clock.GetUtcNow();
        var workspace = new Workspace { Id = Guid.CreateVersion7(now), OrganizationId = orgId, Name = FirstName, CreatedAt = now };
        db.Workspaces.Add(workspace);
        audit.Add(AuditKinds.WorkspaceCreated, actorId, new { workspace.Id, workspace.Name }, organizationId: orgId);
        return workspace;
    }

    /// <summary>
    /// The org's first workspace; an org made before every org got one at its creation gets it now, made as
    /// <see cref="AddFirst"/> makes it. Null when the org has none and the caller may not make one.
    /// </summary>
    public async Task<Guid?> FirstAsync(OrgGrant caller, Guid actorId, CancellationToken ct)
    {
        var first = await FirstIdAsync(caller.OrganizationId, ct);
        if (first is not null || !caller.Has(OrgPermissions.WorkspacesManage))
            return first;
        var workspace = AddFirst(caller.OrganizationId, actorId);
        try
        {
            await db.SaveChangesAsync(ct);
            return workspace.Id;
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            // Another tab made it at the same moment: theirs is the first.
            db.ChangeTracker.Clear();
            return await FirstIdAsync(caller.OrganizationId, ct);
        }
    }

    Task<Guid?> FirstIdAsync(Guid orgId, CancellationToken ct) =>
        db.Workspaces.Where(w => w.OrganizationId == orgId).OrderBy(w => w.CreatedAt).ThenBy(w => w.Id).Select(w => (Guid?)w.Id).FirstOrDefaultAsync(ct);

    public async Task<List<WorkspaceResponse>> ListAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesRead);
        // A key bound to a workspace sees that workspace alone.
        var rows = await db.Workspaces.AsNoTracking()
            .Where(w => w.OrganizationId == caller.OrganizationId && (caller.WorkspaceId == null || w.Id == caller.WorkspaceId))
            .OrderBy(w => w.Name).ToListAsync(ct);
        return rows.Select(w => Describe(w, caller)).ToList();
    }

    public async Task<WorkspaceResponse> GetAsync(OrgGrant caller, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesRead);
        if (caller.WorkspaceId is { } only && only != id)
            throw Orgs.NotFound("No such workspace.", $"This key is bound to another workspace than {id}.");
        return Describe(await FindAsync(db, caller.OrganizationId, id, ct), caller);
    }

    public async Task<WorkspaceResponse> CreateAsync(OrgGrant caller, Guid actorId, WorkspaceRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesManage);
        var orgId = caller.OrganizationId;
        var now = clock.GetUtcNow();
        var workspace = new Workspace { Id = Guid.CreateVersion7(now), OrganizationId = orgId, Name = Orgs.RequireName(body.Name), CreatedAt = now };
        Apply(workspace, body);
        await RequireUsableModelAsync(orgId, body.DefaultModel, ct);
        await RequireUniqueNameAsync(orgId, workspace.Name, null, ct);
        db.Workspaces.Add(workspace);
        audit.Add(AuditKinds.WorkspaceCreated, actorId, new { workspace.Id, workspace.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return Describe(workspace, caller);
    }

    /// <remarks>A field left null keeps its value; an empty one clears it.</remarks>
    public async Task<WorkspaceResponse> UpdateAsync(OrgGrant caller, Guid actorId, Guid id, WorkspaceRequest body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesManage);
        var orgId = caller.OrganizationId;
        var workspace = await FindAsync(db, orgId, id, ct);
        // Before any change to the tracked row: a refused change must leave nothing for a later save in this scope.
        await RequireUsableModelAsync(orgId, body.DefaultModel, ct);
        if (body.Name is not null)
        {
            workspace.Name = Orgs.RequireName(body.Name);
            await RequireUniqueNameAsync(orgId, workspace.Name, id, ct);
        }
        Apply(workspace, body);
        audit.Add(AuditKinds.WorkspaceUpdated, actorId, new { workspace.Id, workspace.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return Describe(workspace, caller);
    }

    public async Task DeleteAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.WorkspacesManage);
        var workspace = await FindAsync(db, caller.OrganizationId, id, ct);
        db.Workspaces.Remove(workspace);
        audit.Add(AuditKinds.WorkspaceDeleted, actorId, new { workspace.Id, workspace.Name }, organizationId: caller.OrganizationId);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>By (org, id): a workspace of another org is simply not found.</summary>
    internal static async Task<Workspace> FindAsync(AppDbContext db, Guid orgId, Guid id, CancellationToken ct) =>
        await db.Workspaces.FirstOrDefaultAsync(w => w.OrganizationId == orgId && w.Id == id, ct)
        ?? throw Orgs.NotFound("No such workspace.", $"There is no workspace {id} in this organisation.");

    static void Apply(Workspace workspace, WorkspaceRequest body)
    {
        if (body.Description is { Length: > 1000 })
            throw ProblemException.Invalid("description", "The description can be at most 1,000 characters.");
        if (body.SystemPrompt is { Length: > 20_000 })
            throw ProblemException.Invalid("systemPrompt", "The system prompt can be at most 20,000 characters.");
        if (body.DefaultModel is { Length: > 200 })
            throw ProblemException.Invalid("defaultModel", "The model name can be at most 200 characters.");
        if (body.Description is not null)
            workspace.Description = body.Description.Trim() is { Length: > 0 } d ? d : null;
        if (body.SystemPrompt is not null)
            workspace.SystemPrompt = body.SystemPrompt.Trim() is { Length: > 0 } p ? p : null;
        if (body.DefaultModel is not null)
            workspace.DefaultModel = body.DefaultModel.Trim() is { Length: > 0 } m ? m : null;
    }

    /// <summary>A default the org cannot chat with would only turn every new conversation into a refusal.</summary>
    async Task RequireUsableModelAsync(Guid orgId, string? defaultModel, CancellationToken ct)
    {
        if (defaultModel?.Trim() is not { Length: > 0 and <= 200 } model)
            return;
        foreach (var check in modelChecks)
            await check.RequireUsableAsync(orgId, model, "defaultModel", ct);
    }

    async Task RequireUniqueNameAsync(Guid orgId, string name, Guid? except, CancellationToken ct)
    {
        if (await db.Workspaces.AnyAsync(w => w.OrganizationId == orgId && w.Name == name && w.Id != except, ct))
            throw Orgs.Conflict("A workspace with that name exists.", $"Choose another name than '{name}'.");
    }

    /// <remarks>The system prompt is configuration that may hold internal instructions: only those who may change it read it.</remarks>
    static WorkspaceResponse Describe(Workspace w, OrgGrant caller) =>
        new(w.Id, w.Name, w.Description, caller.Has(OrgPermissions.WorkspacesManage) ? w.SystemPrompt : null, w.DefaultModel, w.CreatedAt);
}
