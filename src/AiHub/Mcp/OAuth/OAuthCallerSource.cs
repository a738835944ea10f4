using System.Security.Claims;
using AiHub.Mcp.Server;
using AiHub.Organizations;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AiHub.Mcp.OAuth;

/// <summary>An OAuth access token as a caller: the member's current role in the granted org, narrowed to the token's scopes.</summary>
/// <remarks>The role is read on every call (OrgAccess), so a member who left the org or was demoted loses access at once.</remarks>
internal sealed class OAuthCallerSource(OrgAccess access) : IMcpCallerSource
{
    public async ValueTask<McpCaller?> ResolveAsync(ClaimsPrincipal principal, CancellationToken ct)
    {
        if (principal.GetAuthorizationId() is not { } authorizationId
            || !Guid.TryParse(principal.GetClaim(Claims.Subject), out var userId)
            || !Guid.TryParse(principal.GetClaim(OAuthClaims.Organization), out var orgId))
            return null;
        if (await access.GetAsync(orgId, userId, ct) is not { } member)
            return null;
        var scoped = principal.GetScopes().Select(s => McpScopes.Permissions.GetValueOrDefault(s)).OfType<string>().ToHashSet();
        Guid? workspaceId = Guid.TryParse(principal.GetClaim(OAuthClaims.Workspace), out var w) ? w : null;
        var grant = member with { Permissions = [.. member.Permissions.Where(scoped.Contains)], WorkspaceId = workspaceId };
        return new McpCaller(grant, userId, principal.GetClaim(Claims.ClientId), authorizationId);
    }
}
