using AiHub.Organizations;

namespace AiHub.Mcp.OAuth;

/// <summary>What a connector may ask for: three org permissions by their public names, and refresh tokens.</summary>
internal static class McpScopes
{
    public const string WorkspacesRead = "workspaces:read";
    public const string KnowledgeRead = "knowledge:read";
    public const string ChatUse = "chat:use";
    public const string OfflineAccess = "offline_access";

    public static readonly IReadOnlyList<string> All = [WorkspacesRead, KnowledgeRead, ChatUse, OfflineAccess];

    /// <summary>The org permission each scope lets through; the member's role still has to hold it.</summary>
    public static readonly IReadOnlyDictionary<string, string> Permissions = new Dictionary<string, string>
    {
        [WorkspacesRead] = OrgPermissions.WorkspacesRead,
        [KnowledgeRead] = OrgPermissions.KnowledgeRead,
        [ChatUse] = OrgPermissions.ChatUse,
    };

    /// <summary>A request without a scope gets the three permission scopes and no refresh token.</summary>
    public static readonly IReadOnlyList<string> Default = [WorkspacesRead, KnowledgeRead, ChatUse];

    public static string Describe(string scope) => scope switch
    {
        WorkspacesRead => "See the organisation's workspaces",
        KnowledgeRead => "Search and read its knowledge bases",
        ChatUse => "Ask its models questions, paid from its credits",
        OfflineAccess => "Stay connected until you revoke it",
        _ => scope,
    };
}

internal static class OAuthClaims
{
    public const string Organization = "aihub:org";
    public const string Workspace = "aihub:workspace";
}

internal static class OAuthAuditKinds
{
    public const string Granted = "mcp.oauth_granted";
    public const string Revoked = "mcp.oauth_revoked";
}
