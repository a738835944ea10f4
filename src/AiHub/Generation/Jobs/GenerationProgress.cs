using System.Text.Json;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Json;
using AiHub.Organizations;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;

namespace AiHub.Generation.Jobs;

/// <summary>
/// Live generation progress at <c>/api/hubs/generations</c>: a client calls <c>Watch(orgId, workspaceId)</c> and then
/// receives <c>generation</c> messages (the job as the API describes it) whenever one of the workspace's jobs moves,
/// and <c>generationDeleted</c> with the id of one deleted. Redis, when configured, carries them between nodes.
/// </summary>
[Authorize]
internal sealed class GenerationHub(OrgAccess access, AppDbContext db) : Hub
{
    public const string Path = "/api/hubs/generations";

    public async Task Watch(Guid orgId, Guid workspaceId)
    {
        var user = Context.User?.UserId() ?? throw new HubException("Sign in first.");
        var grant = await access.GetAsync(orgId, user, Context.ConnectionAborted);
        // Another org's workspace and a missing one read the same, as on the org routes.
        if (grant is null || !grant.Has(OrgPermissions.GenerationsUse))
            throw new HubException("No such workspace.");
        try
        {
            await Workspaces.FindAsync(db, orgId, workspaceId, Context.ConnectionAborted);
        }
        catch (ProblemException)
        {
            throw new HubException("No such workspace.");
        }
        await Groups.AddToGroupAsync(Context.ConnectionId, GenerationProgress.Group(orgId, workspaceId), Context.ConnectionAborted);
    }
}

/// <summary>Tells watchers that a job moved: hub clients in the workspace's group, and pages open on this node.</summary>
internal sealed class GenerationProgress(IHubContext<GenerationHub> hub)
{
    public static string Group(Guid orgId, Guid workspaceId) => $"generations:{orgId:N}:{workspaceId:N}";

    /// <summary>Pages of this node, which render from the server and need no socket of their own.</summary>
    public event Action<Guid, GenerationResponse?>? Changed;

    public async Task PublishAsync(GenerationJob job, IReadOnlyList<GenerationOutput> outputs, CancellationToken ct)
    {
        var described = Generations.Describe(job, outputs);
        Changed?.Invoke(job.Id, described);
        // Written as the API writes it (status "completed", not 2): the hub's own JSON settings know nothing of the API's enums.
        await hub.Clients.Group(Group(job.OrganizationId, job.WorkspaceId)).SendAsync("generation", JsonSerializer.SerializeToElement(described, ApiJson.Options), ct);
    }

    public async Task DeletedAsync(GenerationJob job, CancellationToken ct)
    {
        Changed?.Invoke(job.Id, null);
        await hub.Clients.Group(Group(job.OrganizationId, job.WorkspaceId)).SendAsync("generationDeleted", job.Id, ct);
    }
}
