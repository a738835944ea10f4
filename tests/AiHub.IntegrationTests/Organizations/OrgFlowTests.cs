using System.Net;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Organizations;

/// <summary>Organisations, membership, invitations, workspaces and teams through the API, on a real database and SMTP server.</summary>
public abstract class OrgFlowTests(IdentityHost host)
{
    [Fact]
    public async Task Sign_up_makes_a_personal_org_and_a_new_org_makes_its_creator_Owner()
    {
        using var client = host.Client();
        var alice = await host.NewUserAsync(client);

        var personal = await PersonalOrgAsync(client, alice);
        var team = await CreateOrgAsync(client, alice, "Acme");
        var orgs = await SendAsync(client, alice, HttpMethod.Get, "/api/orgs");
        var acme = await SendAsync(client, alice, HttpMethod.Get, $"/api/orgs/{team}");

        Assert.Equal(2, orgs.GetArrayLength());
        Assert.NotEqual(personal, team);
        Assert.Equal("owner", acme.GetProperty("role").GetString());
        Assert.Contains("members:manage", acme.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        await SendAsync(client, alice, HttpMethod.Post, "/api/orgs", new { name = "" }, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_invitation_by_mail_brings_the_invitee_in_with_the_role_given()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Invites");
        var email = NewEmail("invitee");
        var invitee = await host.NewUserAsync(client, email);
        var stranger = await host.NewUserAsync(client);

        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email, role = "Manager" }, HttpStatusCode.Created);
        var first = await InvitationTokenAsync(host, email);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email, role = "Member" }, HttpStatusCode.Created);
        var second = await InvitationTokenAsync(host, email);
        var preview = await SendAsync(client, invitee, HttpMethod.Get, $"/api/invitations/{second}");
        await SendAsync(client, invitee, HttpMethod.Post, $"/api/invitations/{first}/accept", expected: HttpStatusCode.Conflict);
        await SendAsync(client, stranger, HttpMethod.Post, $"/api/invitations/{second}/accept", expected: HttpStatusCode.Forbidden);
        var joined = await SendAsync(client, invitee, HttpMethod.Post, $"/api/invitations/{second}/accept");
        var members = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/members");
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email, role = "Member" }, HttpStatusCode.Conflict);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email = "not-an-email", role = "Member" }, HttpStatusCode.BadRequest);

        Assert.Equal("Invites", preview.GetProperty("organizationName").GetString());
        Assert.True(preview.GetProperty("open").GetBoolean());
        Assert.Equal("member", joined.GetProperty("role").GetString());
        Assert.Contains(members.EnumerateArray(), m => m.GetProperty("email").GetString() == email && m.GetProperty("role").GetString() == "member");
    }

    [Fact]
    public async Task Roles_stay_within_reach_and_the_last_Owner_cannot_leave()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Roles");
        var adminEmail = NewEmail("admin");
        var admin = await host.NewUserAsync(client, adminEmail);
        await JoinAsync(host, client, owner, orgId, adminEmail, admin, "Admin");
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, admin, orgId, memberEmail, member);

        await SendAsync(client, admin, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email = NewEmail(), role = "Owner" }, HttpStatusCode.Forbidden);
        await SendAsync(client, admin, HttpMethod.Patch, $"/api/orgs/{orgId}/members/{UserIdOf(member)}", new { role = "Owner" }, HttpStatusCode.Forbidden);
        await SendAsync(client, admin, HttpMethod.Patch, $"/api/orgs/{orgId}/members/{UserIdOf(owner)}", new { role = "Member" }, HttpStatusCode.Forbidden);
        await SendAsync(client, member, HttpMethod.Patch, $"/api/orgs/{orgId}/members/{UserIdOf(admin)}", new { role = "Guest" }, HttpStatusCode.Forbidden);
        await SendAsync(client, admin, HttpMethod.Patch, $"/api/orgs/{orgId}/members/{UserIdOf(member)}", new { role = "Manager" });
        await SendAsync(client, admin, HttpMethod.Patch, $"/api/orgs/{orgId}/members/{UserIdOf(member)}", new { role = "Emperor" }, HttpStatusCode.BadRequest);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/leave", expected: HttpStatusCode.Conflict);
        await SendAsync(client, admin, HttpMethod.Post, $"/api/orgs/{orgId}/transfer-ownership", new { userId = UserIdOf(admin) }, HttpStatusCode.Forbidden);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/transfer-ownership", new { userId = UserIdOf(admin) }, HttpStatusCode.NoContent);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/leave", expected: HttpStatusCode.NoContent);
        await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}", expected: HttpStatusCode.NotFound);
        await SendAsync(client, admin, HttpMethod.Delete, $"/api/orgs/{orgId}/members/{UserIdOf(member)}", expected: HttpStatusCode.NoContent);
        var personal = await PersonalOrgAsync(client, member);
        await SendAsync(client, member, HttpMethod.Post, $"/api/orgs/{personal}/leave", expected: HttpStatusCode.Conflict);

        var activity = await SendAsync(client, admin, HttpMethod.Get, $"/api/orgs/{orgId}/activity?limit=100");
        var kinds = activity.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("kind").GetString()).ToList();
        Assert.Contains("org.ownership_transferred", kinds);
        Assert.Contains("member.left", kinds);
        Assert.Contains("member.removed", kinds);
        Assert.Contains("member.role_changed", kinds);
        Assert.Contains("member.joined", kinds);
    }

    [Fact]
    public async Task A_Manager_manages_only_the_teams_they_lead()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Teams");
        var managerEmail = NewEmail("manager");
        var manager = await host.NewUserAsync(client, managerEmail);
        await JoinAsync(host, client, owner, orgId, managerEmail, manager, "Manager");
        var red = await CreateAsync(client, owner, orgId, "teams", new { name = "Red" });
        var blue = await CreateAsync(client, owner, orgId, "teams", new { name = "Blue" });
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/teams/{red}/members", new { userId = UserIdOf(manager), lead = true });

        await SendAsync(client, manager, HttpMethod.Post, $"/api/orgs/{orgId}/teams/{red}/members", new { userId = UserIdOf(owner) });
        await SendAsync(client, manager, HttpMethod.Post, $"/api/orgs/{orgId}/teams/{blue}/members", new { userId = UserIdOf(owner) }, HttpStatusCode.Forbidden);
        await SendAsync(client, manager, HttpMethod.Post, $"/api/orgs/{orgId}/teams", new { name = "Green" }, HttpStatusCode.Forbidden);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/teams", new { name = "Red" }, HttpStatusCode.Conflict);
        var team = await SendAsync(client, manager, HttpMethod.Get, $"/api/orgs/{orgId}/teams/{red}");

        Assert.Equal(2, team.GetProperty("members").GetArrayLength());
    }

    [Fact]
    public async Task A_deleted_org_is_404_everywhere_can_be_restored_and_is_purged_after_30_days()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Doomed");
        var workspace = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Main", systemPrompt = "Be brief." });

        await SendAsync(client, owner, HttpMethod.Delete, $"/api/orgs/{orgId}", expected: HttpStatusCode.NoContent);
        await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}", expected: HttpStatusCode.NotFound);
        await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces/{workspace}", expected: HttpStatusCode.NotFound);
        await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/members", expected: HttpStatusCode.NotFound);
        var deleted = await SendAsync(client, owner, HttpMethod.Get, "/api/me/deleted-orgs");
        await SendAsync(client, owner, HttpMethod.Post, $"/api/me/deleted-orgs/{orgId}/restore");
        var restored = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces/{workspace}");
        await SendAsync(client, owner, HttpMethod.Delete, $"/api/orgs/{orgId}", expected: HttpStatusCode.NoContent);
        var personal = await PersonalOrgAsync(client, owner);
        await SendAsync(client, owner, HttpMethod.Delete, $"/api/orgs/{personal}", expected: HttpStatusCode.Conflict);

        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AiHub.Data.AppDbContext>();
        await db.Organizations.Where(o => o.Id == orgId).ExecuteUpdateAsync(u => u.SetProperty(o => o.DeletedAt, DateTimeOffset.UtcNow.AddDays(-31)), TestContext.Current.CancellationToken);
        var purged = await scope.ServiceProvider.GetRequiredService<OrgPurge>().PurgeAsync(TestContext.Current.CancellationToken);

        Assert.Contains(deleted.EnumerateArray(), d => d.GetProperty("id").GetGuid() == orgId);
        Assert.Equal("Be brief.", restored.GetProperty("systemPrompt").GetString());
        Assert.True(purged >= 1);
        Assert.False(await db.Organizations.AnyAsync(o => o.Id == orgId, TestContext.Current.CancellationToken));
        Assert.False(await db.Workspaces.IgnoreQueryFilters().AnyAsync(w => w.Id == workspace, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Workspaces_hold_their_settings_and_names_are_unique_per_org()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Spaces");

        var id = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Research", description = "Papers" });
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces", new { name = "Research" }, HttpStatusCode.Conflict);
        var updated = await SendAsync(client, owner, HttpMethod.Patch, $"/api/orgs/{orgId}/workspaces/{id}", new { systemPrompt = "Cite sources." });
        await SendAsync(client, owner, HttpMethod.Patch, $"/api/orgs/{orgId}/workspaces/{id}", new { description = new string('x', 1001) }, HttpStatusCode.BadRequest);
        var list = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
        await SendAsync(client, owner, HttpMethod.Delete, $"/api/orgs/{orgId}/workspaces/{id}", expected: HttpStatusCode.NoContent);

        Assert.Equal("Cite sources.", updated.GetProperty("systemPrompt").GetString());
        Assert.Equal("Papers", updated.GetProperty("description").GetString());
        // The org came with its General workspace.
        Assert.Equal(["General", "Research"], list.EnumerateArray().Select(w => w.GetProperty("name").GetString()));
    }
}

public sealed class OrgFlowsOnSqlite(SqliteIdentityFixture fixture) : OrgFlowTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class OrgFlowsOnPostgres(PostgresIdentityFixture fixture) : OrgFlowTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
