using System.Net;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Security;

/// <summary>Who reads a key's spending and a workspace's system prompt, and how a permission refusal reads.</summary>
public abstract class PermissionDetailTests(IdentityHost host)
{
    static readonly string[] ChatUse = ["chat:use"];

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    async Task<(HttpClient Client, AuthTokens Owner, Guid OrgId, AuthTokens Member, AuthTokens Manager, AuthTokens Guest)> TeamAsync()
    {
        var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Team");
        var people = new List<AuthTokens>();
        foreach (var role in new[] { "Member", "Manager", "Guest" })
        {
            var email = NewEmail(role.ToLowerInvariant());
            var tokens = await host.NewUserAsync(client, email);
            await JoinAsync(host, client, owner, orgId, email, tokens, role);
            people.Add(tokens);
        }
        return (client, owner, orgId, people[0], people[1], people[2]);
    }

    [Fact]
    public async Task A_keys_usage_needs_the_credits_permission_as_well_as_the_keys_one()
    {
        var (client, owner, orgId, member, manager, _) = await TeamAsync();
        using var _ = client;
        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = ChatUse }, HttpStatusCode.Created);
        var keyId = created.GetProperty("key").GetProperty("id").GetGuid();
        var usage = $"/api/orgs/{orgId}/api-keys/{keyId}/usage";

        using var byMember = await client.SendAsync(As(member, HttpMethod.Get, usage), Ct);
        using var csvByMember = await client.SendAsync(As(member, HttpMethod.Get, usage + ".csv"), Ct);
        using var keysByMember = await client.SendAsync(As(member, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys"), Ct);
        using var byManager = await client.SendAsync(As(manager, HttpMethod.Get, usage), Ct);

        Assert.Equal(HttpStatusCode.OK, keysByMember.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byMember.StatusCode);
        Assert.Equal("urn:aihub:problem:forbidden", (await ProblemAsync(byMember)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, csvByMember.StatusCode);
        Assert.Equal(HttpStatusCode.OK, byManager.StatusCode);
    }

    [Fact]
    public async Task System_prompts_are_read_only_by_those_who_may_change_them()
    {
        var (client, owner, orgId, member, _, guest) = await TeamAsync();
        using var _ = client;
        var workspaceId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Support", systemPrompt = "Internal: never mention the refund code R-42." });
        await SendAsync(client, owner, HttpMethod.Put, $"/api/orgs/{orgId}/system-prompt", new { text = "Org-wide internal instructions." });
        var prompt = $"/api/orgs/{orgId}/workspaces/{workspaceId}/system-prompt";

        var byOwner = await SendAsync(client, owner, HttpMethod.Get, prompt);
        var ownersView = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces/{workspaceId}");
        var refusals = new List<HttpResponseMessage>();
        foreach (var who in new[] { member, guest })
        {
            refusals.Add(await client.SendAsync(As(who, HttpMethod.Get, prompt), Ct));
            refusals.Add(await client.SendAsync(As(who, HttpMethod.Get, $"/api/orgs/{orgId}/system-prompt"), Ct));
        }
        var membersView = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces/{workspaceId}");
        var guestsList = await SendAsync(client, guest, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");

        Assert.Equal("Internal: never mention the refund code R-42.", byOwner.GetProperty("text").GetString());
        Assert.Equal("Internal: never mention the refund code R-42.", ownersView.GetProperty("systemPrompt").GetString());
        foreach (var refused in refusals)
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("urn:aihub:problem:forbidden", (await ProblemAsync(refused)).GetProperty("type").GetString());
            refused.Dispose();
        }
        Assert.Equal(System.Text.Json.JsonValueKind.Null, membersView.GetProperty("systemPrompt").ValueKind);
        Assert.All(guestsList.EnumerateArray(), w => Assert.Equal(System.Text.Json.JsonValueKind.Null, w.GetProperty("systemPrompt").ValueKind));
        Assert.Equal("Support", membersView.GetProperty("name").GetString());
    }
}

public sealed class PermissionDetailsOnSqlite(SqliteIdentityFixture fixture) : PermissionDetailTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class PermissionDetailsOnPostgres(PostgresIdentityFixture fixture) : PermissionDetailTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
