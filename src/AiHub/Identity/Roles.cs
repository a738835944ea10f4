namespace AiHub.Identity;

/// <summary>The platform roles. Their ids are fixed so that the seeding migration and the code agree.</summary>
internal static class Roles
{
    public const string SuperAdmin = "SuperAdmin";
    public const string Admin = "Admin";
    public const string Manager = "Manager";
    public const string User = "User";
    public const string Guest = "Guest";

    internal sealed record Definition(string Name, Guid Id, int Rank);

    public static readonly IReadOnlyList<Definition> All =
    [
        new(SuperAdmin, new Guid("0195f0a0-0000-7000-8000-000000000001"), 100),
        new(Admin, new Guid("0195f0a0-0000-7000-8000-000000000002"), 80),
        new(Manager, new Guid("0195f0a0-0000-7000-8000-000000000003"), 60),
        new(User, new Guid("0195f0a0-0000-7000-8000-000000000004"), 40),
        new(Guest, new Guid("0195f0a0-0000-7000-8000-000000000005"), 20),
    ];

    /// <summary>The role a new account starts with.</summary>
    public const string Default = User;

    public static Definition Named(string name) =>
        All.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"'{name}' is not a role; expected one of {string.Join(", ", All.Select(r => r.Name))}", nameof(name));

    public static Definition? Find(string name) =>
        All.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));

    public static int RankOf(IEnumerable<string> roles) => roles.Select(Find).Max(r => r?.Rank) ?? 0;
}
