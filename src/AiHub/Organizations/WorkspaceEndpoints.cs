using System.Security.Claims;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Organizations;

internal sealed record WorkspaceRequest(string? Name, string? Description, string? SystemPrompt, string? DefaultModel);

internal sealed record WorkspaceResponse(Guid Id, string Name, string? Description, string? SystemPrompt, string? DefaultModel, DateTimeOffset CreatedAt);

internal static class WorkspaceEndpoints
{
    public static void MapWorkspaceEndpoints(this IEndpointRouteBuilder app)
    {
        var workspaces = OrgEndpoints.Org(app).MapGroup("/workspaces").WithTags("Workspaces");
        workspaces.MapGet("", List).WithSummary("Lists the organisation's workspaces.").RequireAuthorization(OrgPermissions.WorkspacesRead);
        workspaces.MapPost("", Create).WithSummary("Creates a workspace.").RequireAuthorization(OrgPermissions.WorkspacesManage).RequireUser();
        workspaces.MapGet("/{id:guid}", Get).WithSummary("A workspace.").RequireAuthorization(OrgPermissions.WorkspacesRead);
        workspaces.MapPatch("/{id:guid}", Update).WithSummary("Renames a workspace.").RequireAuthorization(OrgPermissions.WorkspacesManage).RequireUser();
        workspaces.MapDelete("/{id:guid}", Delete).WithSummary("Deletes a workspace and its conversations.").RequireAuthorization(OrgPermissions.WorkspacesManage).RequireUser();
    }

    static async Task<Ok<List<WorkspaceResponse>>> List(Guid orgId, HttpContext http, Workspaces workspaces, CancellationToken ct) =>
        TypedResults.Ok(await workspaces.ListAsync(http.Grant(), ct));

    static async Task<Created<WorkspaceResponse>> Create(Guid orgId, WorkspaceRequest body, HttpContext http, ClaimsPrincipal user, Workspaces workspaces, CancellationToken ct)
    {
        var workspace = await workspaces.CreateAsync(http.Grant(), user.UserId()!.Value, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/workspaces/{workspace.Id}", workspace);
    }

    static async Task<Ok<WorkspaceResponse>> Get(Guid orgId, Guid id, HttpContext http, Workspaces workspaces, CancellationToken ct) =>
        TypedResults.Ok(await workspaces.GetAsync(http.Grant(), id, ct));

    static async Task<Ok<WorkspaceResponse>> Update(Guid orgId, Guid id, WorkspaceRequest body, HttpContext http, ClaimsPrincipal user, Workspaces workspaces, CancellationToken ct) =>
        TypedResults.Ok(await workspaces.UpdateAsync(http.Grant(), user.UserId()!.Value, id, body, ct));

    static async Task<NoContent> Delete(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, Workspaces workspaces, CancellationToken ct)
    {
        await workspaces.DeleteAsync(http.Grant(), user.UserId()!.Value, id, ct);
        return TypedResults.NoContent();
    }
}
