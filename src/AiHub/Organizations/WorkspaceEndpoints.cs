using System.Security.Claims;
using AiHub.Admin;
using AiHub.Data;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

internal sealed record WorkspaceRequest(string? Name, string? Description, string? SystemPrompt, string? DefaultModel);

internal sealed record WorkspaceResponse(Guid Id, string Name, string? Description, string? SystemPrompt, string? DefaultModel, DateTimeOffset CreatedAt);

internal static class WorkspaceEndpoints
{
    public static void MapWorkspaceEndpoints(this IEndpointRouteBuilder app)
    {
        var workspaces = OrgEndpoints.Org(app).MapGroup("/workspaces").WithTags("Workspaces");
        workspaces.MapGet("", List).RequireAuthorization(OrgPermissions.WorkspacesRead);
        workspaces.MapPost("", Create).RequireAuthorization(OrgPermissions.WorkspacesManage);
        workspaces.MapGet("/{id:guid}", Get).RequireAuthorization(OrgPermissions.WorkspacesRead);
        workspaces.MapPatch("/{id:guid}", Update).RequireAuthorization(OrgPermissions.WorkspacesManage);
        workspaces.MapDelete("/{id:guid}", Delete).RequireAuthorization(OrgPermissions.WorkspacesManage);
    }

    static async Task<Ok<List<WorkspaceResponse>>> List(Guid orgId, AppDbContext db, CancellationToken ct) =>
        TypedResults.Ok((await db.Workspaces.AsNoTracking().Where(w => w.OrganizationId == orgId).OrderBy(w => w.Name).ToListAsync(ct)).Select(Describe).ToList());

    static async Task<Created<WorkspaceResponse>> Create(Guid orgId, WorkspaceRequest body, ClaimsPrincipal user, AppDbContext db, AuditLog audit, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var workspace = new Workspace { Id = Guid.CreateVersion7(now), OrganizationId = orgId, Name = OrgEndpoints.RequireName(body.Name), CreatedAt = now };
        Apply(workspace, body);
        await RequireUniqueNameAsync(db, orgId, workspace.Name, null, ct);
        db.Workspaces.Add(workspace);
        audit.Add(AuditKinds.WorkspaceCreated, user.UserId(), new { workspace.Id, workspace.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/orgs/{orgId}/workspaces/{workspace.Id}", Describe(workspace));
    }

    static async Task<Ok<WorkspaceResponse>> Get(Guid orgId, Guid id, AppDbContext db, CancellationToken ct) =>
        TypedResults.Ok(Describe(await FindAsync(db, orgId, id, ct)));

    static async Task<Ok<WorkspaceResponse>> Update(Guid orgId, Guid id, WorkspaceRequest body, ClaimsPrincipal user, AppDbContext db, AuditLog audit, CancellationToken ct)
    {
        var workspace = await FindAsync(db, orgId, id, ct);
        if (body.Name is not null)
        {
            workspace.Name = OrgEndpoints.RequireName(body.Name);
            await RequireUniqueNameAsync(db, orgId, workspace.Name, id, ct);
        }
        Apply(workspace, body);
        audit.Add(AuditKinds.WorkspaceUpdated, user.UserId(), new { workspace.Id, workspace.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(Describe(workspace));
    }

    static async Task<NoContent> Delete(Guid orgId, Guid id, ClaimsPrincipal user, AppDbContext db, AuditLog audit, CancellationToken ct)
    {
        var workspace = await FindAsync(db, orgId, id, ct);
        db.Workspaces.Remove(workspace);
        audit.Add(AuditKinds.WorkspaceDeleted, user.UserId(), new { workspace.Id, workspace.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    /// <summary>By (org, id): a workspace of another org is simply not found.</summary>
    internal static async Task<Workspace> FindAsync(AppDbContext db, Guid orgId, Guid id, CancellationToken ct) =>
        await db.Workspaces.FirstOrDefaultAsync(w => w.OrganizationId == orgId && w.Id == id, ct)
        ?? throw Orgs.NotFound("No such workspace.", $"There is no workspace {id} in this organisation.");

    static void Apply(Workspace workspace, WorkspaceRequest body)
    {
        if (body.Description is { Length: > 1000 })
            throw Orgs.Invalid("description", "The description can be at most 1,000 characters.");
        if (body.SystemPrompt is { Length: > 20_000 })
            throw Orgs.Invalid("systemPrompt", "The system prompt can be at most 20,000 characters.");
        if (body.DefaultModel is { Length: > 200 })
            throw Orgs.Invalid("defaultModel", "The model name can be at most 200 characters.");
        if (body.Description is not null)
            workspace.Description = body.Description.Trim() is { Length: > 0 } d ? d : null;
        if (body.SystemPrompt is not null)
            workspace.SystemPrompt = body.SystemPrompt.Trim() is { Length: > 0 } p ? p : null;
        if (body.DefaultModel is not null)
            workspace.DefaultModel = body.DefaultModel.Trim() is { Length: > 0 } m ? m : null;
    }

    static async Task RequireUniqueNameAsync(AppDbContext db, Guid orgId, string name, Guid? except, CancellationToken ct)
    {
        if (await db.Workspaces.AnyAsync(w => w.OrganizationId == orgId && w.Name == name && w.Id != except, ct))
            throw Orgs.Conflict("A workspace with that name exists.", $"Choose another name than '{name}'.");
    }

    static WorkspaceResponse Describe(Workspace w) => new(w.Id, w.Name, w.Description, w.SystemPrompt, w.DefaultModel, w.CreatedAt);
}
