using System.Security.Claims;
using AiHub.Identity;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Mcp.Client;

internal static class McpServerEndpoints
{
    public static void MapMcpServerRoutes(IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("MCP servers");
        org.MapGet("/mcp-servers", List).WithSummary("Lists the organisation's remote MCP servers and their tools (secrets are never returned).")
            .RequireAuthorization(OrgPermissions.WorkspacesRead);
        org.MapGet("/mcp-servers/{id:guid}", Get).WithSummary("One remote MCP server and its tools.").RequireAuthorization(OrgPermissions.WorkspacesRead);
        org.MapPost("/mcp-servers", Create).WithSummary("Registers a remote MCP server whose tools chats may use.")
            .RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapPut("/mcp-servers/{id:guid}", Update).WithSummary("Changes a remote MCP server; a new URL drops the stored secret.")
            .RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapDelete("/mcp-servers/{id:guid}", Delete).WithSummary("Removes a remote MCP server.").RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapPost("/mcp-servers/{id:guid}/refresh", Refresh).WithSummary("Connects to the server now and stores the tools it lists.")
            .RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapPut("/mcp-servers/{id:guid}/tools", SetTools).WithSummary("Chooses which of the server's tools chats are offered.")
            .RequireAuthorization(OrgPermissions.OrgManage).RequireUser();

        org.MapGet("/workspaces/{wsId:guid}/mcp-servers", ListForWorkspace).WithSummary("The organisation's MCP servers, and whether each is on in this workspace.")
            .RequireAuthorization(OrgPermissions.WorkspacesRead);
        org.MapPut("/workspaces/{wsId:guid}/mcp-servers/{id:guid}", SetForWorkspace).WithSummary("Turns one MCP server's tools on or off in this workspace.")
            .RequireAuthorization(OrgPermissions.WorkspacesManage).RequireUser();
    }

    static async Task<Ok<List<McpServerResponse>>> List(Guid orgId, HttpContext http, McpServers servers, CancellationToken ct) =>
        TypedResults.Ok(await servers.ListAsync(http.Grant(), ct));

    static async Task<Ok<McpServerResponse>> Get(Guid orgId, Guid id, HttpContext http, McpServers servers, CancellationToken ct) =>
        TypedResults.Ok(await servers.GetAsync(http.Grant(), id, ct));

    static async Task<Created<McpServerResponse>> Create(Guid orgId, McpServerRequest body, HttpContext http, ClaimsPrincipal user, McpServers servers, CancellationToken ct)
    {
        var created = await servers.CreateAsync(http.Grant(), user.UserId()!.Value, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/mcp-servers/{created.Id}", created);
    }

    static async Task<Ok<McpServerResponse>> Update(Guid orgId, Guid id, McpServerRequest body, HttpContext http, ClaimsPrincipal user, McpServers servers, CancellationToken ct) =>
        TypedResults.Ok(await servers.UpdateAsync(http.Grant(), user.UserId()!.Value, id, body, ct));

    static async Task<NoContent> Delete(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, McpServers servers, CancellationToken ct)
    {
        await servers.DeleteAsync(http.Grant(), user.UserId()!.Value, id, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<McpServerResponse>> Refresh(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, McpServers servers, CancellationToken ct) =>
        TypedResults.Ok(await servers.RefreshAsync(http.Grant(), user.UserId()!.Value, id, ct));

    static async Task<Ok<McpServerResponse>> SetTools(Guid orgId, Guid id, McpToolsRequest body, HttpContext http, ClaimsPrincipal user, McpServers servers, CancellationToken ct) =>
        TypedResults.Ok(await servers.SetToolsAsync(http.Grant(), user.UserId()!.Value, id, body, ct));

    static async Task<Ok<List<McpWorkspaceServerResponse>>> ListForWorkspace(Guid orgId, Guid wsId, HttpContext http, McpServers servers, CancellationToken ct) =>
        TypedResults.Ok(await servers.ListForWorkspaceAsync(http.Grant(), wsId, ct));

    static async Task<Ok<McpWorkspaceServerResponse>> SetForWorkspace(Guid orgId, Guid wsId, Guid id, McpWorkspaceServerRequest body, HttpContext http, ClaimsPrincipal user,
        McpServers servers, CancellationToken ct) =>
        TypedResults.Ok(await servers.SetForWorkspaceAsync(http.Grant(), user.UserId()!.Value, wsId, id, body, ct));
}
