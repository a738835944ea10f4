using System.Security.Claims;
using AiHub.Credits.Pools;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using ModelContextProtocol;

namespace AiHub.Mcp.Server;

/// <summary>Who calls a tool, a resource or a prompt on <c>/mcp</c>: one org, as one person, through an API key or an OAuth client.</summary>
/// <param name="Grant">What the caller may do in the org: the key's permissions, or the member's role narrowed to the granted scopes.</param>
/// <param name="UserId">The person: the key's creator, or the member who consented.</param>
/// <param name="ClientId">The OAuth client that holds the token; null for an API key.</param>
/// <param name="AuthorizationId">The OAuth grant the token belongs to; null for an API key.</param>
internal sealed record McpCaller(OrgGrant Grant, Guid UserId, string? ClientId = null, string? AuthorizationId = null)
{
    public Guid OrganizationId => Grant.OrganizationId;

    /// <summary>The one workspace the key or grant is bound to, if any: the caller sees no other.</summary>
    public Guid? WorkspaceId => Grant.WorkspaceId;

    public Guid? ApiKeyId => Grant.ApiKeyId;

    public bool Has(string permission) => Grant.Has(permission);

    /// <summary>A tool error the client's model can read, when the caller lacks <paramref name="permission"/>.</summary>
    public void Require(string permission)
    {
        if (!Has(permission))
            throw new McpException($"This {(ApiKeyId is null ? "connection" : "API key")} may not do that: it needs the {OrgPermissions.Name(permission)} permission.");
    }

    /// <summary>Who pays for a model call made for this caller, in <paramref name="workspaceId"/>; tagged as MCP with the OAuth client.</summary>
    public Spender SpenderIn(Guid? workspaceId) =>
        new(OrganizationId, UserId, ApiKeyId, workspaceId ?? WorkspaceId) { Channel = UsageChannels.Mcp, ClientId = ClientId };
}

/// <summary>Turns an authenticated principal into an <see cref="McpCaller"/>; null when the principal is not of its kind.</summary>
/// <remarks>Runs on every request: a removed member, a revoked key or a revoked grant stops at the next call.</remarks>
internal interface IMcpCallerSource
{
    ValueTask<McpCaller?> ResolveAsync(ClaimsPrincipal principal, CancellationToken ct);
}

/// <summary>An org API key (<c>ahk_…</c>) as a caller: its org, workspace and permissions; its creator pays.</summary>
internal sealed class ApiKeyCallerSource : IMcpCallerSource
{
    public ValueTask<McpCaller?> ResolveAsync(ClaimsPrincipal principal, CancellationToken ct) =>
        ValueTask.FromResult(principal.ApiKey() is { } key
            ? new McpCaller(new OrgGrant(key.OrganizationId, OrgRole.Guest, key.Permissions, key.Id, key.WorkspaceId), key.CreatedBy)
            : null);
}

/// <summary>The caller of the current <c>/mcp</c> request, resolved once per request.</summary>
internal sealed class McpCallers(IHttpContextAccessor http, IEnumerable<IMcpCallerSource> sources)
{
    McpCaller? _caller;

    public async ValueTask<McpCaller> CurrentAsync(CancellationToken ct)
    {
        if (_caller is not null)
            return _caller;
        var principal = http.HttpContext?.User ?? throw new McpException("This server is reached over HTTP only.");
        foreach (var source in sources)
            if (await source.ResolveAsync(principal, ct) is { } caller)
                return _caller = caller;
        throw new McpException("The credentials no longer give access to an organisation: the key or the grant was revoked, or the member left it.");
    }
}
