using System.Security.Claims;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;

namespace AiHub.Credits.Pools;

/// <summary>Who pays for an AI call, the same for every way in: HTTP, the WebSocket and the gateway.</summary>
/// <remarks>
/// An API key pays in its own organisation only, as its creator, within its workspace; a person pays in the org named,
/// or their personal org, where they must be a member holding the permission. Another org's id is "not found", as on
/// the org routes. The request's context then filters tenant-owned rows by the spender's org, the second fence.
/// </remarks>
internal sealed class SpenderResolver(AppDbContext db, OrgAccess access)
{
    public async Task<Spender> ResolveAsync(ClaimsPrincipal caller, Guid? orgId, Guid? workspaceId, string permission, CancellationToken ct)
    {
        var spender = await FindAsync(caller, orgId, workspaceId, permission, ct);
        db.TenantId = spender.OrganizationId;
        return spender;
    }

    async Task<Spender> FindAsync(ClaimsPrincipal caller, Guid? orgId, Guid? workspaceId, string permission, CancellationToken ct)
    {
        if (caller.ApiKey() is { } key)
        {
            if (orgId is { } asked && asked != key.OrganizationId)
                throw Orgs.NotFound("No such organisation.", "An API key works only in its own organisation.");
            if (!key.Permissions.Contains(permission))
                throw Forbidden(permission);
            var creator = await OrgApiKeys.CreatorAsync(db, key.OrganizationId, key.Id, ct);
            return new Spender(key.OrganizationId, creator, key.Id, key.WorkspaceId ?? workspaceId);
        }
        var userId = caller.UserId() ?? throw new ProblemException(StatusCodes.Status401Unauthorized, "Sign in first.");
        var org = orgId ?? await Orgs.PersonalOrgIdAsync(db, userId, ct) ?? Guid.Empty;
        var grant = await access.GetAsync(org, userId, ct)
            ?? throw Orgs.NotFound("No such organisation.", "It does not exist, was deleted, or you are not a member.");
        if (!grant.Has(permission))
            throw Forbidden(permission);
        return new Spender(org, userId, null, workspaceId);
    }

    static ProblemException Forbidden(string permission) =>
        new(StatusCodes.Status403Forbidden, "You may not use AI in this organisation.", $"This needs the {OrgPermissions.Name(permission)} permission.", ProblemTypes.Forbidden);
}
