using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Organizations;

/// <summary>An org's API keys act in that org alone, with no more than their creator holds, and stop when revoked, rotated or expired.</summary>
public abstract partial class ApiKeyTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly string[] ReadAndManageMembers = ["workspaces:read", "members:manage"];
    static readonly string[] ChatUse = ["chat:use"];
    static readonly string[] ReadAndUnknown = ["workspaces:read", "everything:all"];

    [Fact]
    public async Task A_key_opens_the_routes_it_holds_a_permission_for_and_no_others()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var (keyId, secret) = await CreateKeyAsync(client, owner, orgId, ["workspaces:read"]);

        using var workspaces = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var members = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/members"), Ct);
        using var list = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys"), Ct);
        var listed = await list.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, workspaces.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, members.StatusCode);
        Assert.Matches(@"^ahk_[a-z0-9]{8}_[A-Za-z0-9]{32,}$", secret);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        Assert.Contains(keyId.ToString(), listed, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, listed, StringComparison.Ordinal);
        Assert.DoesNotContain(secret.Split('_')[2], listed, StringComparison.Ordinal);
        Assert.DoesNotContain("\"secret", listed, StringComparison.Ordinal);

        await using var scope = host.App.Services.CreateAsyncScope();
        var stored = await scope.ServiceProvider.GetRequiredService<AppDbContext>().ApiKeys.SingleAsync(k => k.Id == keyId, Ct);
        Assert.Equal(AiHub.Identity.Sessions.Hash(secret), stored.SecretHash);
        Assert.Equal(secret.Split('_')[1], stored.Prefix);
        Assert.Equal("workspaces:read", stored.Permissions);
    }

    [Fact]
    public async Task A_key_is_not_a_user_and_gets_a_clear_403_where_a_person_is_needed()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var (_, secret) = await CreateKeyAsync(client, owner, orgId, [.. OrgPermissions.All.Select(OrgPermissions.Name)]);

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Get, "/api/me"),
            (HttpMethod.Get, "/api/orgs"),
            (HttpMethod.Post, $"/api/orgs/{orgId}/leave"),
            (HttpMethod.Post, $"/api/orgs/{orgId}/transfer-ownership"),
            (HttpMethod.Post, $"/api/orgs/{orgId}/api-keys"),
            (HttpMethod.Post, "/api/invitations/inv_x/accept"),
            (HttpMethod.Get, "/api/admin/users"),
        })
        {
            using var response = await client.SendAsync(WithKey(secret, method, path, new { }), Ct);
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{method} {path}: {(int)response.StatusCode}");
            Assert.Equal("urn:aihub:problem:api-key-not-allowed", (await ProblemAsync(response)).GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task Every_org_route_answers_a_key_without_a_server_error_and_a_key_of_another_org_with_404()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var stranger = await host.NewUserAsync(client);
        var strangerOrg = await PersonalOrgAsync(client, stranger);
        var all = OrgPermissions.All.Select(OrgPermissions.Name).ToArray();
        var (_, own) = await CreateKeyAsync(client, owner, orgId, all);
        var (_, foreign) = await CreateKeyAsync(client, stranger, strangerOrg, all);

        var routes = host.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/api/orgs/{orgId:guid}", StringComparison.Ordinal) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Method: m, Pattern: e.RoutePattern.RawText!)))
            .ToList();
        Assert.NotEmpty(routes);
        foreach (var (method, pattern) in routes)
        {
            var path = RouteParameter().Replace(pattern.Replace("{orgId:guid}", orgId.ToString(), StringComparison.Ordinal), _ => Guid.NewGuid().ToString());
            using var mine = await client.SendAsync(WithKey(own, new HttpMethod(method), path, new { }), Ct);
            using var theirs = await client.SendAsync(WithKey(foreign, new HttpMethod(method), path, new { }), Ct);
            Assert.True((int)mine.StatusCode < 500, $"{method} {pattern} with the org's own key: {(int)mine.StatusCode}");
            Assert.True(theirs.StatusCode == HttpStatusCode.NotFound, $"{method} {pattern} with another org's key: {(int)theirs.StatusCode}");
        }
    }

    [Fact]
    public async Task A_key_never_holds_more_than_its_creator_and_a_member_manages_only_their_own_keys()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Shared");
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, orgId, memberEmail, member);

        using var beyond = await client.SendAsync(As(member, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = ReadAndManageMembers }), Ct);
        var (ownerKeyId, _) = await CreateKeyAsync(client, owner, orgId, ["members:manage"]);
        var (memberKeyId, _) = await CreateKeyAsync(client, member, orgId, ["workspaces:read"]);
        using var revokeOwners = await client.SendAsync(As(member, HttpMethod.Delete, $"/api/orgs/{orgId}/api-keys/{ownerKeyId}"), Ct);
        using var rotateOwners = await client.SendAsync(As(member, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys/{ownerKeyId}/rotate"), Ct);
        using var rotateOwn = await client.SendAsync(As(member, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys/{memberKeyId}/rotate"), Ct);
        using var revokeMembers = await client.SendAsync(As(owner, HttpMethod.Delete, $"/api/orgs/{orgId}/api-keys/{memberKeyId}"), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, beyond.StatusCode);
        Assert.Contains("members:manage", (await ProblemAsync(beyond)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, revokeOwners.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, rotateOwners.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rotateOwn.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, revokeMembers.StatusCode);
    }

    [Fact]
    public async Task A_key_of_one_org_finds_nothing_in_another()
    {
        using var client = host.Client();
        var alice = await host.NewUserAsync(client);
        var bob = await host.NewUserAsync(client);
        var aliceOrg = await PersonalOrgAsync(client, alice);
        var bobOrg = await PersonalOrgAsync(client, bob);
        var (_, secret) = await CreateKeyAsync(client, alice, aliceOrg, ["workspaces:read", "org:read"]);
        var bobsWorkspaceId = await CreateAsync(client, bob, bobOrg, "workspaces", new { name = "Bob's" });

        using var workspaces = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{bobOrg}/workspaces"), Ct);
        using var org = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{bobOrg}"), Ct);
        using var scopedToBobs = await client.SendAsync(As(alice, HttpMethod.Post, $"/api/orgs/{aliceOrg}/api-keys", new { name = "x", permissions = ChatUse, workspaceId = bobsWorkspaceId }), Ct);

        Assert.Equal(HttpStatusCode.NotFound, workspaces.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, org.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, scopedToBobs.StatusCode);
    }

    [Fact]
    public async Task Every_bad_field_is_named()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);

        using var response = await client.SendAsync(As(owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new
        {
            name = " ",
            permissions = ReadAndUnknown,
            expiresAt = DateTimeOffset.UtcNow.AddMinutes(-1),
            rateLimitPerMinute = 0,
            monthlyBudgetCredits = -1,
        }), Ct);
        using var none = await client.SendAsync(As(owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ok", permissions = Array.Empty<string>() }), Ct);
        var problem = await ProblemAsync(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(["expiresAt", "monthlyBudgetCredits", "name", "permissions", "rateLimitPerMinute"],
            problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Contains("everything:all", problem.GetProperty("errors").GetProperty("permissions")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, none.StatusCode);
    }

    [Fact]
    public async Task A_revoked_key_stops_within_five_seconds()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var (keyId, secret) = await CreateKeyAsync(client, owner, orgId, ["workspaces:read"]);
        using var before = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);

        using var revoked = await client.SendAsync(As(owner, HttpMethod.Delete, $"/api/orgs/{orgId}/api-keys/{keyId}"), Ct);
        var status = await PollUntilUnauthorizedAsync(client, secret, orgId);
        using var list = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys"), Ct);
        var listed = (await list.Content.ReadFromJsonAsync<JsonElement>(Ct)).EnumerateArray().Single(k => k.GetProperty("id").GetGuid() == keyId);

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, revoked.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.NotEqual(JsonValueKind.Null, listed.GetProperty("revokedAt").ValueKind);
        Assert.Contains(await AuditKindsAsync(orgId), k => k == "api_key.revoked");
    }

    [Fact]
    public async Task Rotation_gives_a_new_secret_and_the_old_one_stops()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var (keyId, old) = await CreateKeyAsync(client, owner, orgId, ["workspaces:read"]);
        using var warm = await client.SendAsync(WithKey(old, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);

        using var rotated = await client.SendAsync(As(owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys/{keyId}/rotate"), Ct);
        var body = await rotated.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var fresh = body.GetProperty("secret").GetString()!;
        var oldStatus = await PollUntilUnauthorizedAsync(client, old, orgId);
        using var withNew = await client.SendAsync(WithKey(fresh, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);

        Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        Assert.Equal(keyId, body.GetProperty("key").GetProperty("id").GetGuid());
        Assert.NotEqual(old, fresh);
        Assert.Equal(HttpStatusCode.Unauthorized, oldStatus);
        Assert.Equal(HttpStatusCode.OK, withNew.StatusCode);
        Assert.Equal(["api_key.created", "api_key.rotated"], (await AuditKindsAsync(orgId)).Where(k => k.StartsWith("api_key.", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task An_expired_key_is_refused()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var (_, current) = await CreateKeyAsync(client, owner, orgId, ["workspaces:read"], expiresAt: DateTimeOffset.UtcNow.AddHours(1));
        var (keyId, secret) = await CreateKeyAsync(client, owner, orgId, ["workspaces:read"], expiresAt: DateTimeOffset.UtcNow.AddHours(1));
        // Time passing for the key, before anything has read and cached it: the API refuses to make an expired key.
        await using (var scope = host.App.Services.CreateAsyncScope())
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<AppDbContext>().ApiKeys.Where(k => k.Id == keyId)
                .ExecuteUpdateAsync(u => u.SetProperty(k => k.ExpiresAt, DateTimeOffset.UtcNow.AddSeconds(-1)), Ct));

        using var before = await client.SendAsync(WithKey(current, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var after = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var unknown = await client.SendAsync(WithKey("ahk_abcdefgh_" + new string('A', 43), HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        var problem = await ProblemAsync(after);
        Assert.Equal("urn:aihub:problem:invalid-api-key", problem.GetProperty("type").GetString());
        Assert.Contains("expired", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
    }

    [Fact]
    public async Task A_key_over_its_rate_limit_is_told_when_to_come_back_and_its_last_use_is_recorded()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var (keyId, secret) = await CreateKeyAsync(client, owner, orgId, ["workspaces:read"], rateLimitPerMinute: 2);

        using var first = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var second = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var third = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var list = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys"), Ct);
        var listed = (await list.Content.ReadFromJsonAsync<JsonElement>(Ct)).EnumerateArray().Single(k => k.GetProperty("id").GetGuid() == keyId);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal((HttpStatusCode)429, third.StatusCode);
        Assert.True(third.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("urn:aihub:problem:rate-limited", (await ProblemAsync(third)).GetProperty("type").GetString());
        Assert.Equal(2, listed.GetProperty("rateLimitPerMinute").GetInt32());
        Assert.NotEqual(JsonValueKind.Null, listed.GetProperty("lastUsedAt").ValueKind);
    }

    static async Task<HttpStatusCode> PollUntilUnauthorizedAsync(HttpClient client, string secret, Guid orgId)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(6);
        while (true)
        {
            using var response = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
            if (response.StatusCode == HttpStatusCode.Unauthorized || DateTimeOffset.UtcNow > deadline)
                return response.StatusCode;
            await Task.Delay(200, Ct);
        }
    }

    async Task<List<string>> AuditKindsAsync(Guid orgId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return await db.AuditEvents.Where(e => e.OrganizationId == orgId).Select(e => e.Kind).ToListAsync(Ct);
    }

    static readonly string[] ReadWorkspaces = ["workspaces:read"];

    [Fact]
    public async Task A_key_bound_to_a_workspace_sees_that_workspace_alone()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Bound");
        var research = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Research" });
        var sales = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Sales" });
        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "research-bot", permissions = ReadWorkspaces, workspaceId = research }, HttpStatusCode.Created);
        var secret = created.GetProperty("secret").GetString()!;

        using var list = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        using var own = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces/{research}"), Ct);
        using var other = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces/{sales}"), Ct);
        var listed = await list.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal([research], listed.EnumerateArray().Select(w => w.GetProperty("id").GetGuid()));
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    static HttpRequestMessage WithKey(string key, HttpMethod method, string path, object? body = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", key);
        return request;
    }

    static async Task<(Guid Id, string Secret)> CreateKeyAsync(HttpClient client, AuthTokens user, Guid orgId, string[] permissions,
        DateTimeOffset? expiresAt = null, int? rateLimitPerMinute = null)
    {
        var body = await SendAsync(client, user, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions, expiresAt, rateLimitPerMinute }, HttpStatusCode.Created);
        return (body.GetProperty("key").GetProperty("id").GetGuid(), body.GetProperty("secret").GetString()!);
    }

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex RouteParameter();
}

public sealed class ApiKeysOnSqlite(SqliteIdentityFixture fixture) : ApiKeyTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class ApiKeysOnPostgres(PostgresIdentityFixture fixture) : ApiKeyTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
