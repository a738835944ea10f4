namespace AiHub.Identity;

/// <summary>An app that holds an OAuth grant to act as the user in one organisation (an MCP connector).</summary>
internal sealed record ConnectedApp(
    string Id,
    string ClientName,
    Guid OrganizationId,
    string OrganizationName,
    string? WorkspaceName,
    IReadOnlyList<string> Scopes,
    DateTimeOffset GrantedAt,
    DateTimeOffset? LastUsedAt);

/// <summary>The user's OAuth grants, for the Sessions page; the feature that issues them (MCP) provides it.</summary>
internal interface IConnectedApps
{
    Task<IReadOnlyList<ConnectedApp>> ListAsync(Guid userId, CancellationToken ct);

    /// <summary>Revokes the grant and every token issued under it; false when the user holds no such grant.</summary>
    Task<bool> RevokeAsync(Guid userId, string id, CancellationToken ct);
}

/// <summary>
/// Routes that bring their own bearer scheme (the MCP server's OAuth tokens): the smart scheme sends their requests
/// there, so such a token is neither read as an AiHub JWT nor logged as a failed one.
/// </summary>
internal sealed class BearerRouteOptions
{
    public Dictionary<PathString, string> SchemeByPath { get; } = [];

    public string? SchemeFor(PathString path) =>
        SchemeByPath.FirstOrDefault(r => path.StartsWithSegments(r.Key, StringComparison.OrdinalIgnoreCase)).Value;
}
