using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Identity;

/// <summary>Each platform role can do exactly what the seeded map says, and nobody hands out more than they hold.</summary>
public abstract class PermissionTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> RoleNames => [.. Roles.All.Select(r => r.Name)];

    [Theory]
    [MemberData(nameof(RoleNames))]
    public async Task Each_role_can_and_cannot_do_what_the_map_says(string role)
    {
        using var client = host.Client();
        var root = await host.SuperAdminAsync(client);
        var (userId, user) = await UserWithOnlyRoleAsync(client, root, role);
        var expected = Permissions.ByRole[role];

        using var me = await client.SendAsync(As(user, HttpMethod.Get, "/api/me"), Ct);
        var profile = await me.Content.ReadFromJsonAsync<JsonElement>(Ct);
        using var listUsers = await client.SendAsync(As(user, HttpMethod.Get, "/api/admin/users"), Ct);
        using var audit = await client.SendAsync(As(user, HttpMethod.Get, "/api/admin/audit"), Ct);
        using var grant = await client.SendAsync(As(user, HttpMethod.Post, $"/api/admin/users/{userId}/roles", new { role = Roles.Guest }), Ct);

        Assert.Equal([role], profile.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(expected.Order(StringComparer.Ordinal), profile.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()!));
        Assert.Equal(Allowed(expected, Permissions.UsersRead), listUsers.StatusCode);
        Assert.Equal(Allowed(expected, Permissions.AuditRead), audit.StatusCode);
        Assert.Equal(Allowed(expected, Permissions.RolesManage), grant.StatusCode);
    }

    [Fact]
    public async Task The_seeded_map_in_the_database_is_the_map_in_code()
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var seeded = await (from p in db.RolePermissions join r in db.Roles on p.RoleId equals r.Id select new { r.Name, p.Permission }).ToListAsync(Ct);

        foreach (var (role, permissions) in Permissions.ByRole)
            Assert.Equal(permissions.Order(StringComparer.Ordinal), seeded.Where(s => s.Name == role).Select(s => s.Permission).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Nobody_grants_or_removes_a_role_above_their_own()
    {
        using var client = host.Client();
        var root = await host.SuperAdminAsync(client);
        var (_, admin) = await UserWithOnlyRoleAsync(client, root, Roles.Admin);
        var (targetId, _) = await UserWithOnlyRoleAsync(client, root, Roles.User);
        var rootId = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(root.AccessToken).Subject;

        using var toSuper = await client.SendAsync(As(admin, HttpMethod.Post, $"/api/admin/users/{targetId}/roles", new { role = Roles.SuperAdmin }), Ct);
        using var toAdmin = await client.SendAsync(As(admin, HttpMethod.Post, $"/api/admin/users/{targetId}/roles", new { role = Roles.Admin }), Ct);
        using var demoteRoot = await client.SendAsync(As(admin, HttpMethod.Delete, $"/api/admin/users/{rootId}/roles/{Roles.User}"), Ct);
        using var unknownRole = await client.SendAsync(As(admin, HttpMethod.Post, $"/api/admin/users/{targetId}/roles", new { role = "Emperor" }), Ct);
        using var unknownUser = await client.SendAsync(As(admin, HttpMethod.Post, $"/api/admin/users/{Guid.NewGuid()}/roles", new { role = Roles.User }), Ct);
        var granted = await toAdmin.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Forbidden, toSuper.StatusCode);
        Assert.Equal(HttpStatusCode.OK, toAdmin.StatusCode);
        Assert.Contains("Admin", granted.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(HttpStatusCode.Forbidden, demoteRoot.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, unknownRole.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknownUser.StatusCode);
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.True(await db.AuditEvents.AnyAsync(e => e.Kind == AuditKinds.RoleGranted && e.UserId == Guid.Parse(targetId) && e.ActorId != null, Ct));
    }

    static HttpStatusCode Allowed(IReadOnlyList<string> permissions, string permission) =>
        permissions.Contains(permission) ? HttpStatusCode.OK : HttpStatusCode.Forbidden;


    async Task<(string Id, AuthTokens AuthTokens)> UserWithOnlyRoleAsync(HttpClient client, AuthTokens root, string role)
    {
        var email = await host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);
        var id = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(tokens.AccessToken).Subject;
        if (role != Roles.User)
        {
            using var granted = await client.SendAsync(As(root, HttpMethod.Post, $"/api/admin/users/{id}/roles", new { role }), Ct);
            using var removed = await client.SendAsync(As(root, HttpMethod.Delete, $"/api/admin/users/{id}/roles/{Roles.User}"), Ct);
            Assert.Equal(HttpStatusCode.OK, granted.StatusCode);
            Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        }
        return (id, tokens);
    }
}

public sealed class PermissionsOnSqlite(SqliteIdentityFixture fixture) : PermissionTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class PermissionsOnPostgres(PostgresIdentityFixture fixture) : PermissionTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
