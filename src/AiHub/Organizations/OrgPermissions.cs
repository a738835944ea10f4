namespace AiHub.Organizations;

/// <summary>Permissions inside one organisation, as <c>resource:action</c>; each is also the name of the policy that requires it on an org route.</summary>
internal static class OrgPermissions
{
    const string Prefix = "org.";

    public const string OrgRead = Prefix + "org:read";
    public const string OrgManage = Prefix + "org:manage";
    public const string OrgDelete = Prefix + "org:delete";
    public const string MembersRead = Prefix + "members:read";
    public const string MembersManage = Prefix + "members:manage";
    public const string TeamsRead = Prefix + "teams:read";
    public const string TeamsManage = Prefix + "teams:manage";
    public const string WorkspacesRead = Prefix + "workspaces:read";
    public const string WorkspacesManage = Prefix + "workspaces:manage";
    public const string ApiKeysRead = Prefix + "api-keys:read";
    public const string ApiKeysManage = Prefix + "api-keys:manage";
    public const string ActivityRead = Prefix + "activity:read";
    public const string ChatUse = Prefix + "chat:use";
    public const string CreditsRead = Prefix + "credits:read";
    public const string CreditsManage = Prefix + "credits:manage";
    public const string KnowledgeRead = Prefix + "knowledge:read";
    public const string KnowledgeManage = Prefix + "knowledge:manage";
    public const string BillingManage = Prefix + "billing:manage";
    public const string GenerationsUse = Prefix + "generations:use";

    /// <summary>Lets an outside service (a Custom GPT action, a partner's backend) check, deduct and hold the org's credits.</summary>
    public const string CreditsSpend = Prefix + "credits:spend";

    public static readonly IReadOnlyList<string> All =
    [
        OrgRead, OrgManage, OrgDelete, MembersRead, MembersManage, TeamsRead, TeamsManage,
        WorkspacesRead, WorkspacesManage, ApiKeysRead, ApiKeysManage, ActivityRead, ChatUse, CreditsRead, CreditsManage,
        KnowledgeRead, KnowledgeManage, BillingManage, GenerationsUse, CreditsSpend,
    ];

    /// <summary>The permission's public name, without the policy prefix: <c>members:manage</c>.</summary>
    public static string Name(string permission) => permission[Prefix.Length..];

    public static string? FromName(string name) => All.FirstOrDefault(p => Name(p) == name);

    public static readonly IReadOnlyDictionary<OrgRole, IReadOnlyList<string>> ByRole = new Dictionary<OrgRole, IReadOnlyList<string>>
    {
        [OrgRole.Owner] = All,
        [OrgRole.Admin] = [.. All.Where(p => p != OrgDelete)],
        [OrgRole.Manager] = [OrgRead, MembersRead, TeamsRead, TeamsManage, WorkspacesRead, ApiKeysRead, ApiKeysManage, ActivityRead, ChatUse, CreditsRead,
            KnowledgeRead, KnowledgeManage, GenerationsUse, CreditsSpend],
        [OrgRole.Member] = [OrgRead, MembersRead, TeamsRead, WorkspacesRead, ApiKeysRead, ApiKeysManage, ChatUse, KnowledgeRead, KnowledgeManage, GenerationsUse,
            CreditsSpend],
        // A creator's audience: they ask questions of the knowledge and read what it cites, and add nothing to it.
        [OrgRole.Guest] = [OrgRead, WorkspacesRead, ChatUse, KnowledgeRead],
    };
}
