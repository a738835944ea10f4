using System.Security.Claims;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Hybrid;

namespace AiHub.Organizations;

/// <summary>What one caller may do in one organisation: a member's role, or (later) an API key's grants.</summary>
internal sealed record OrgGrant(Guid OrganizationId, OrgRole Role, IReadOnlyList<string> Permissions)
{
    public bool Has(string permission) => Permissions.Contains(permission);
}

/// <summary>Membership lookups, cached per (org, user) and removed whenever a membership or the org changes.</summary>
internal sealed class OrgAccess(HybridCache cache, IServiceScopeFactory scopes)
{
    sealed record CachedMembership(bool Exists, OrgRole Role);

    public async Task<OrgGrant?> GetAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        var membership = await cache.GetOrCreateAsync(Key(orgId, userId), (orgId, userId), LoadAsync, cancellationToken: ct);
        return membership.Exists ? new OrgGrant(orgId, membership.Role, OrgPermissions.ByRole[membership.Role]) : null;
    }

    public async Task InvalidateAsync(Guid orgId, Guid userId, CancellationToken ct) => await cache.RemoveAsync(Key(orgId, userId), ct);

    public async Task InvalidateOrgAsync(Guid orgId, IEnumerable<Guid> userIds, CancellationToken ct)
    {
        foreach (var userId in userIds)
            await InvalidateAsync(orgId, userId, ct);
    }

    async ValueTask<CachedMembership> LoadAsync((Guid OrgId, Guid UserId) key, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var role = await (from m in db.Memberships
                          join o in db.Organizations on m.OrganizationId equals o.Id
                          where m.OrganizationId == key.OrgId && m.UserId == key.UserId && o.DeletedAt == null
                          select (OrgRole?)m.Role).FirstOrDefaultAsync(ct);
        return new CachedMembership(role is not null, role ?? OrgRole.Guest);
    }

    static string Key(Guid orgId, Guid userId) => $"membership:{orgId:N}:{userId:N}";
}

internal sealed record OrgPermissionRequirement(string Permission) : IAuthorizationRequirement;

/// <summary>
/// The first fence of tenancy: on every <c>/api/orgs/{orgId}</c> route the caller must belong to that org and hold the
/// permission. A caller who does not belong gets 404, as if the org did not exist.
/// </summary>
internal sealed class OrgPermissionHandler(OrgAccess access) : AuthorizationHandler<OrgPermissionRequirement, HttpContext>
{
    public const string NotAMemberKey = "aihub.org-not-found";

    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, OrgPermissionRequirement requirement, HttpContext http)
    {
        if (OrgIdOf(http) is not { } orgId || context.User.UserId() is not { } userId)
            return;
        var grant = await access.GetAsync(orgId, userId, http.RequestAborted);
        if (grant is null)
        {
            http.Items[NotAMemberKey] = true;
            return;
        }
        http.Items[typeof(OrgGrant)] = grant;
        http.RequestServices.GetRequiredService<AppDbContext>().TenantId = orgId;
        if (grant.Has(requirement.Permission))
            context.Succeed(requirement);
    }

    public static Guid? OrgIdOf(HttpContext http) =>
        http.Request.RouteValues.TryGetValue("orgId", out var value) && Guid.TryParse(value?.ToString(), out var id) ? id : null;
}

/// <summary>Turns the handler's "not a member" into a 404 ProblemDetails instead of a 403.</summary>
internal sealed class OrgAuthorizationResultHandler : IAuthorizationMiddlewareResultHandler
{
    readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Forbidden && context.Items.ContainsKey(OrgPermissionHandler.NotAMemberKey))
            throw new ProblemException(StatusCodes.Status404NotFound, "No such organisation.",
                "It does not exist, was deleted, or you are not a member.", ProblemTypes.NotFound);
        await _default.HandleAsync(next, context, policy, authorizeResult);
    }
}

internal static class OrgGrantExtensions
{
    /// <summary>The grant the authorization handler found for this request's org route.</summary>
    public static OrgGrant Grant(this HttpContext http) =>
        http.Items[typeof(OrgGrant)] as OrgGrant ?? throw new InvalidOperationException("Only org routes with an org permission have a grant.");
}
