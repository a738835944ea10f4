using System.ComponentModel;
using AiHub.Organizations;
using ModelContextProtocol.Server;

namespace AiHub.Mcp.Server.Tools;

/// <summary>The org's workspaces the caller can see.</summary>
[McpServerToolType]
internal sealed class WorkspaceTools(McpCallers callers, Workspaces workspaces)
{
    internal sealed record WorkspaceItem(Guid Id, string Name, string? Description);

    internal sealed record WorkspaceList(Guid OrganizationId, IReadOnlyList<WorkspaceItem> Workspaces);

    [McpServerTool(Name = "list_workspaces", Title = "List workspaces", ReadOnly = true, Idempotent = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Lists the organisation's workspaces this connection can see, with their ids; other tools take a workspace id to narrow what they read.")]
    public async Task<WorkspaceList> ListWorkspacesAsync(CancellationToken cancellationToken)
    {
        var caller = await callers.CurrentAsync(cancellationToken);
        caller.Require(OrgPermissions.WorkspacesRead);
        var rows = await workspaces.ListAsync(caller.Grant, cancellationToken);
        return new WorkspaceList(caller.OrganizationId, [.. rows.Select(w => new WorkspaceItem(w.Id, w.Name, w.Description))]);
    }
}
