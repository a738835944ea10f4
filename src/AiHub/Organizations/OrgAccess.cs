using System.Security.Claims;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Hybrid;

namespace AiHub.Organizations;

/// <summary>What one caller may do in one organisation: a member's role, or an API key's permissions.</summary>
/// <remarks>
/// An API key has no role of its own; it counts as a Guest wherever a rule asks for a role (teams, invitations), so
/// that only its permissions ever open anything.
/// </remarks>
internal sealed record OrgGrant(Guid OrganizationId, OrgRole Role, IReadOnlyList<string> Permissions, Guid? ApiKeyId = null, Guid? WorkspaceId = null)
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
        if (OrgIdOf(http) is not { } orgId)
            return;
        OrgGrant? grant;
        if (context.User.ApiKey() is { } key)
            grant = key.OrganizationId == orgId ? new OrgGrant(orgId, OrgRole.Guest, key.Permissions, key.Id, key.WorkspaceId) : null;
        else if (context.User.UserId() is { } userId)
            grant = await access.GetAsync(orgId, userId, http.RequestAborted);
        else
            return;
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

/// <summary>Marks an org endpoint that acts as a person (leaving, handing over, inviting): an API key gets 403 there.</summary>
internal sealed class RequiresUserMetadata
{
    public static readonly RequiresUserMetadata Instance = new();
}

/// <summary>Marks an endpoint outside the org routes that checks an API key's org and permissions itself (the chat socket).</summary>
internal sealed class ApiKeysAllowedMetadata
{
    public static readonly ApiKeysAllowedMetadata Instance = new();
}

internal static class RequiresUserExtensions
{
    public static TBuilder RequireUser<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(RequiresUserMetadata.Instance);
}

/// <summary>
/// API keys are let in on org routes only, and not on those that act as a person; everywhere else (the profile, the
/// admin API, org creation) they get a clear 403, because those endpoints need a user id a key does not have.
/// </summary>
/// <remarks>Runs on every authorization, whatever the policy, so that no endpoint can forget it.</remarks>
internal sealed class ApiKeyEndpointGuard : IAuthorizationHandler
{
    static readonly HashSet<string> OrgPolicies = [.. OrgPermissions.All];

    public Task HandleAsync(AuthorizationHandlerContext context)
    {
        if (!context.User.IsApiKey())
            return Task.CompletedTask;
        var endpoint = (context.Resource as HttpContext)?.GetEndpoint();
        if (endpoint is null || !Admits(endpoint.Metadata))
            context.Fail(new AuthorizationFailureReason(this, "This needs a signed-in user, not an API key."));
        return Task.CompletedTask;
    }

    /// <summary>Whether an endpoint with this metadata lets an API key in; the OpenAPI document says the same.</summary>
    public static bool Admits(IEnumerable<object> metadata)
    {
        var all = metadata as IReadOnlyCollection<object> ?? [.. metadata];
        return !all.OfType<RequiresUserMetadata>().Any()
            && (all.OfType<ApiKeysAllowedMetadata>().Any() || all.OfType<IAuthorizeData>().Any(a => a.Policy is { } policy && OrgPolicies.Contains(policy)));
    }
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
        if (authorizeResult.Forbidden && authorizeResult.AuthorizationFailure?.FailureReasons.Any(r => r.Handler is ApiKeyEndpointGuard) == true)
            throw new ProblemException(StatusCodes.Status403Forbidden, "This needs a signed-in user, not an API key.",
                "API keys work on organisation routes that do not act as a person; sign in to do this.", ProblemTypes.ApiKeyNotAllowed);
        await _default.HandleAsync(next, context, policy, authorizeResult);
    }
}

internal static class OrgGrantExtensions
{
    /// <summary>The grant the authorization handler found for this request's org route.</summary>
    public static OrgGrant Grant(this HttpContext http) =>
        http.Items[typeof(OrgGrant)] as OrgGrant ?? throw new InvalidOperationException("Only org routes with an org permission have a grant.");
}
