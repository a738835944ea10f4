namespace AiHub.Identity;

/// <summary>Platform permissions as <c>resource:action</c>. Each is also the name of the authorization policy that requires it.</summary>
internal static class Permissions
{
    public const string UsersRead = "users:read";
    public const string UsersManage = "users:manage";
    public const string RolesManage = "roles:manage";
    public const string AuditRead = "audit:read";
    public const string CreditsRead = "credits:read";
    public const string CreditsAdjust = "credits:adjust";
    public const string ServicesUse = "services:use";
    public const string OrgsCreate = "orgs:create";
    public const string OrgsManageAll = "orgs:manage-all";
    public const string ProvidersManage = "providers:manage";
    public const string SettingsManage = "settings:manage";

    public static readonly IReadOnlyList<string> All =
    [
        UsersRead, UsersManage, RolesManage, AuditRead, CreditsRead, CreditsAdjust,
        ServicesUse, OrgsCreate, OrgsManageAll, ProvidersManage, SettingsManage,
    ];

    /// <summary>
    /// What each platform role may do. A migration seeds <c>role_permissions</c> from this map,
    /// so a change here needs a new migration to reach existing databases.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> ByRole = new Dictionary<string, IReadOnlyList<string>>
    {
        [Roles.SuperAdmin] = All,
        [Roles.Admin] = [UsersRead, UsersManage, RolesManage, AuditRead, CreditsRead, CreditsAdjust, ServicesUse, OrgsCreate, OrgsManageAll, ProvidersManage],
        [Roles.Manager] = [UsersRead, AuditRead, CreditsRead, ServicesUse, OrgsCreate],
        [Roles.User] = [ServicesUse, OrgsCreate],
        [Roles.Guest] = [],
    };
}
