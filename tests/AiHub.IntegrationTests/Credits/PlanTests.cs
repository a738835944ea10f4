using System.Net;
using System.Text.Json;
using AiHub.Credits;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>The plans over HTTP: listed to anyone, edited and assigned by admins with every change audited, and the sign-up grant.</summary>
public abstract class PlanTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Anyone_lists_the_active_plans_in_their_order_with_exact_prices()
    {
        using var client = host.Client();
        using var response = await client.GetAsync("/api/plans", Ct);
        var plans = (await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(Ct), cancellationToken: Ct)).RootElement;
        var byCode = plans.EnumerateArray().ToDictionary(p => p.GetProperty("code").GetString()!);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["FREE", "BASIC", "PRO", "ENTERPRISE"], plans.EnumerateArray().Select(p => p.GetProperty("code").GetString()!).Take(4));
        Assert.Equal(3, byCode["FREE"].GetProperty("chatQuestions").GetInt32());
        Assert.Equal("total", byCode["FREE"].GetProperty("chatPeriod").GetString());
        Assert.Equal(5_000_000_000, byCode["FREE"].GetProperty("storageBytes").GetInt64());
        Assert.Equal(10, byCode["FREE"].GetProperty("videos").GetInt32());
        Assert.Equal(10_000_000, byCode["FREE"].GetProperty("grantMicros").GetInt64());
        Assert.Equal("day", byCode["BASIC"].GetProperty("chatPeriod").GetString());
        Assert.Equal(29m, byCode["BASIC"].GetProperty("price").GetDecimal());
        Assert.Equal(7_900, byCode["PRO"].GetProperty("priceCents").GetInt64());
        Assert.Equal(JsonValueKind.Null, byCode["ENTERPRISE"].GetProperty("chatQuestions").ValueKind);
        Assert.Equal(JsonValueKind.Null, byCode["ENTERPRISE"].GetProperty("videos").ValueKind);
        Assert.Equal(500_000_000_000, byCode["ENTERPRISE"].GetProperty("storageBytes").GetInt64());
        Assert.Equal("USD", byCode["ENTERPRISE"].GetProperty("currency").GetString());
    }

    [Fact]
    public async Task A_member_reads_the_org_plan_and_where_each_quota_stands()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Planned");
        var guestEmail = NewEmail("plan-guest");
        var guest = await host.NewUserAsync(client, guestEmail);
        await JoinAsync(host, client, owner, orgId, guestEmail, guest, role: "Guest");

        var plan = await SendAsync(client, guest, HttpMethod.Get, $"/api/orgs/{orgId}/plan");
        var quotas = plan.GetProperty("quotas").EnumerateArray().ToDictionary(q => q.GetProperty("kind").GetString()!);

        Assert.Equal("FREE", plan.GetProperty("plan").GetProperty("code").GetString());
        Assert.Equal(JsonValueKind.Null, plan.GetProperty("since").ValueKind);
        Assert.Equal("3 questions remaining", quotas["chatQuestions"].GetProperty("message").GetString());
        Assert.True(quotas["chatQuestions"].GetProperty("allowed").GetBoolean());
        Assert.Equal(3, quotas["chatQuestions"].GetProperty("remaining").GetInt64());
        Assert.Equal("5 GB of 5 GB remaining", quotas["storageBytes"].GetProperty("message").GetString());
        Assert.Equal("10 videos remaining", quotas["videos"].GetProperty("message").GetString());
    }

    [Fact]
    public async Task Admins_edit_plans_with_validation_and_every_change_is_audited()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var valid = Body("Team", chatQuestions: 20);

        await SendAsync(client, user, HttpMethod.Put, "/api/admin/plans/TEAM", valid, HttpStatusCode.Forbidden);
        await SendAsync(client, user, HttpMethod.Get, "/api/admin/plans", expected: HttpStatusCode.Forbidden);
        await InvalidAsync(client, admin, "TEAM", Body("", 20), "name");
        await InvalidAsync(client, admin, "TEAM", Body("Team", -1), "chatQuestions");
        await InvalidAsync(client, admin, "TEAM", Body("Team", 20, chatPeriod: "week"), "chatPeriod");
        await InvalidAsync(client, admin, "TEAM", Body("Team", 20, currency: "dollars"), "currency");
        await InvalidAsync(client, admin, "TEAM", Body("Team", 20, grant: 0.0000001m), "grant");
        await InvalidAsync(client, admin, "TEAM", Body("Team", 20, priceCents: -5), "priceCents");
        await InvalidAsync(client, admin, "no spaces allowed", valid, "code");
        var created = await SendAsync(client, admin, HttpMethod.Put, "/api/admin/plans/team", valid, HttpStatusCode.Created);
        var hidden = await SendAsync(client, admin, HttpMethod.Put, "/api/admin/plans/TEAM", Body("Team", null, active: false, grant: 2.5m));
        var offered = await SendAsync(client, user, HttpMethod.Get, "/api/plans");
        var all = await SendAsync(client, admin, HttpMethod.Get, "/api/admin/plans");
        var audit = await SendAsync(client, admin, HttpMethod.Get, "/api/admin/audit?kind=plan.updated");

        Assert.Equal("TEAM", created.GetProperty("code").GetString());
        Assert.Equal(20, created.GetProperty("chatQuestions").GetInt32());
        Assert.Equal(JsonValueKind.Null, hidden.GetProperty("chatQuestions").ValueKind);
        Assert.Equal(2_500_000, hidden.GetProperty("grantMicros").GetInt64());
        Assert.Equal(2.5m, hidden.GetProperty("grant").GetDecimal());
        Assert.DoesNotContain(offered.EnumerateArray(), p => p.GetProperty("code").GetString() == "TEAM");
        Assert.Contains(all.EnumerateArray(), p => p.GetProperty("code").GetString() == "TEAM" && !p.GetProperty("active").GetBoolean());
        Assert.Contains(audit.GetProperty("items").EnumerateArray(), e =>
            e.GetProperty("actorId").GetGuid() == UserIdOf(admin) && e.GetProperty("data").GetString()!.Contains("\"TEAM\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_admin_moves_an_org_to_another_plan_and_its_members_see_it_at_once()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);

        await SendAsync(client, owner, HttpMethod.Put, $"/api/admin/orgs/{orgId}/plan", new { code = "ENTERPRISE" }, HttpStatusCode.Forbidden);
        await InvalidAsync(client, admin, null, new { code = "GOLD" }, "code", $"/api/admin/orgs/{orgId}/plan");
        await SendAsync(client, admin, HttpMethod.Put, $"/api/admin/orgs/{Guid.NewGuid()}/plan", new { code = "BASIC" }, HttpStatusCode.NotFound);
        var assigned = await SendAsync(client, admin, HttpMethod.Put, $"/api/admin/orgs/{orgId}/plan", new { code = "basic" });
        var seen = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/plan");
        var activity = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/activity");

        Assert.Equal("BASIC", assigned.GetProperty("plan").GetProperty("code").GetString());
        Assert.Equal("BASIC", seen.GetProperty("plan").GetProperty("code").GetString());
        Assert.NotEqual(JsonValueKind.Null, seen.GetProperty("since").ValueKind);
        var chat = seen.GetProperty("quotas").EnumerateArray().Single(q => q.GetProperty("kind").GetString() == "chatQuestions");
        Assert.Equal("100 questions remaining", chat.GetProperty("message").GetString());
        Assert.NotEqual(JsonValueKind.Null, chat.GetProperty("resetsAt").ValueKind);
        Assert.Contains(activity.GetProperty("items").EnumerateArray(), e =>
            e.GetProperty("kind").GetString() == "org.plan_changed" && e.GetProperty("data").GetString()!.Contains("\"BASIC\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_new_account_starts_with_the_free_plan_s_grant_and_an_edited_grant_applies_to_the_next()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var first = await host.NewUserAsync(client);
        var balance = await SendAsync(client, first, HttpMethod.Get, "/api/credits/balance");
        var history = await SendAsync(client, first, HttpMethod.Get, "/api/credits/history");

        await SendAsync(client, admin, HttpMethod.Put, "/api/admin/plans/FREE", FreeWithGrant(25m));
        try
        {
            var second = await host.NewUserAsync(client);
            var secondBalance = await SendAsync(client, second, HttpMethod.Get, "/api/credits/balance");
            var unsound = await host.VerifyLedgerAsync();

            Assert.Equal(10m, balance.GetProperty("balance").GetDecimal());
            Assert.Equal(10_000_000, balance.GetProperty("balanceMicros").GetInt64());
            var entry = Assert.Single(history.GetProperty("items").EnumerateArray());
            Assert.Equal("grant", entry.GetProperty("kind").GetString());
            Assert.Equal(10_000_000, entry.GetProperty("amountMicros").GetInt64());
            Assert.Equal(25_000_000, secondBalance.GetProperty("balanceMicros").GetInt64());
            Assert.Empty(unsound);
        }
        finally
        {
            await SendAsync(client, admin, HttpMethod.Put, "/api/admin/plans/FREE", FreeWithGrant(10m));
        }
    }

    [Fact]
    public async Task The_plans_page_shows_the_offered_plans_and_says_how_to_change_plan()
    {
        using var client = host.Client();

        var html = await PageAsync(client, null, "/plans");

        Assert.Contains("data-code=\"FREE\"", html, StringComparison.Ordinal);
        Assert.Contains("data-code=\"ENTERPRISE\"", html, StringComparison.Ordinal);
        Assert.Contains("$29 / month", html, StringComparison.Ordinal);
        Assert.Contains("3 chat questions in total", html, StringComparison.Ordinal);
        Assert.Contains("100 chat questions per day", html, StringComparison.Ordinal);
        Assert.Contains("Unlimited chat questions", html, StringComparison.Ordinal);
        Assert.Contains("ask the administrator of this AiHub deployment", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_admin_plans_page_opens_for_settings_managers_only()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);

        var forAdmin = await PageAsync(client, admin, "/admin/plans");
        var forUser = await PageAsync(client, user, "/admin/plans");

        Assert.Contains("data-testid=\"admin-plan\" data-code=\"BASIC\"", forAdmin, StringComparison.Ordinal);
        Assert.Contains("data-testid=\"admin-plan-assign\"", forAdmin, StringComparison.Ordinal);
        Assert.Contains("data-testid=\"nav-admin-plans\"", forAdmin, StringComparison.Ordinal);
        Assert.DoesNotContain("data-testid=\"admin-plan\"", forUser, StringComparison.Ordinal);
        Assert.DoesNotContain("data-testid=\"nav-admin-plans\"", forUser, StringComparison.Ordinal);
    }

    static async Task<string> PageAsync(HttpClient client, AuthTokens? who, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/html");
        if (who is not null)
            request.Headers.Authorization = new("Bearer", who.AccessToken);
        using var response = await client.SendAsync(request, Ct);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    static object FreeWithGrant(decimal grant) => new
    {
        name = "Free", chatQuestions = 3, chatPeriod = "total", storageBytes = 5_000_000_000L, videos = 10, priceCents = 0, currency = "USD", grant, active = true, sortOrder = 0,
    };

    static object Body(string name, int? chatQuestions, string chatPeriod = "day", string currency = "usd", decimal grant = 0m, long priceCents = 1_500, bool active = true) => new
    {
        name, chatQuestions, chatPeriod, storageBytes = 10_000_000_000L, videos = 20, priceCents, currency, grant, active, sortOrder = 9,
    };

    static async Task InvalidAsync(HttpClient client, AuthTokens admin, string? code, object body, string field, string? path = null)
    {
        using var response = await client.SendAsync(As(admin, HttpMethod.Put, path ?? $"/api/admin/plans/{Uri.EscapeDataString(code!)}", body), Ct);
        var problem = await ProblemAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, problem.ToString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }
}

public sealed class PlansOnSqlite(SqliteIdentityFixture fixture) : PlanTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class PlansOnPostgres(PostgresIdentityFixture fixture) : PlanTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
