using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;

namespace AiHub.Knowledge.Sources;

/// <summary>
/// Live ingestion progress at <c>/api/hubs/knowledge</c>: a client calls <c>Watch(orgId, workspaceId)</c> and then
/// receives <c>source</c> messages (the source as the API describes it) whenever one of the workspace's sources moves.
/// With Redis configured the backplane carries them from whichever node ingests to whichever node the client is on.
/// </summary>
[Authorize]
internal sealed class KnowledgeHub(OrgAccess access, AppDbContext db) : Hub
{
    public const string Path = "/api/hubs/knowledge";

    public async Task Watch(Guid orgId, Guid workspaceId)
    {
        var user = Context.User?.UserId() ?? throw new HubException("Sign in first.");
        var grant = await access.GetAsync(orgId, user, Context.ConnectionAborted);
        // Another org's workspace and a missing one read the same, as on the org routes.
        if (grant is null || !grant.Has(OrgPermissions.KnowledgeRead))
            throw new HubException("No such workspace.");
        try
        {
            await Workspaces.FindAsync(db, orgId, workspaceId, Context.ConnectionAborted);
        }
        catch (ProblemException)
        {
            throw new HubException("No such workspace.");
        }
        await Groups.AddToGroupAsync(Context.ConnectionId, SourceProgress.Group(orgId, workspaceId), Context.ConnectionAborted);
    }
}

/// <summary>Tells watchers that a source moved: hub clients in the workspace's group, and pages open on this node.</summary>
internal sealed class SourceProgress(IHubContext<KnowledgeHub> hub)
{
    public static string Group(Guid orgId, Guid workspaceId) => $"knowledge:{orgId:N}:{workspaceId:N}";

    /// <summary>Pages of this node, which render from the server and need no socket of their own.</summary>
    public event Action<SourceResponse>? Changed;

    public async Task PublishAsync(KnowledgeSource source, CancellationToken ct)
    {
        var described = KnowledgeSources.Describe(source);
        Changed?.Invoke(described);
        await hub.Clients.Group(Group(source.OrganizationId, source.WorkspaceId)).SendAsync("source", described, ct);
    }
}
