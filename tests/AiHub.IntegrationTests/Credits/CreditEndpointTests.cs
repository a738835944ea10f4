using System.Net;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Balances and history over HTTP, and the audited admin adjustment that is harmless to retry.</summary>
public abstract class CreditEndpointTests(IdentityHost host)
{
    [Fact]
    public async Task An_admin_adjustment_shows_in_balance_and_history_once_however_often_it_is_retried()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var start = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");
        var accountId = start.GetProperty("accountId").GetGuid();
        var grant = start.GetProperty("balanceMicros").GetInt64();   // the free plan's sign-up grant

        for (var i = 0; i < 3; i++)
            await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 12.5m, reason = "welcome gift" }, idempotencyKey: $"gift-{accountId:N}");
        var balance = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");
        var history = await SendAsync(client, user, HttpMethod.Get, "/api/credits/history");
        var seen = await SendAsync(client, admin, HttpMethod.Get, $"/api/admin/credits/{UserIdOf(user)}");

        Assert.Equal(12.5m + grant / 1_000_000m, balance.GetProperty("balance").GetDecimal());
        Assert.Equal(12_500_000 + grant, balance.GetProperty("balanceMicros").GetInt64());
        Assert.Equal(2, history.GetProperty("items").GetArrayLength());
        Assert.Equal("adjustment", history.GetProperty("items")[0].GetProperty("kind").GetString());
        Assert.Equal("grant", history.GetProperty("items")[1].GetProperty("kind").GetString());
        Assert.Equal(12_500_000 + grant, seen.GetProperty("availableMicros").GetInt64());
    }

    [Fact]
    public async Task Adjustments_need_a_reason_an_exact_amount_and_the_permission()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var accountId = (await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance")).GetProperty("accountId").GetGuid();

        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 1m, reason = "" }, HttpStatusCode.BadRequest);
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 0.0000001m, reason = "dust" }, HttpStatusCode.BadRequest);
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = -1_000_000m, reason = "more than there is" }, HttpStatusCode.PaymentRequired);
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId = Guid.NewGuid(), amount = 1m, reason = "nobody" }, HttpStatusCode.NotFound);
        await SendAsync(client, user, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 1m, reason = "to myself" }, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task The_org_pool_is_read_by_roles_with_credits_read_only()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Pool");
        var memberEmail = NewEmail("pool-member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, orgId, memberEmail, member);

        var pool = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/credits/balance");
        await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/balance", expected: HttpStatusCode.Forbidden);
        var mine = await SendAsync(client, member, HttpMethod.Get, "/api/credits/balance");

        Assert.Equal(orgId, pool.GetProperty("accountId").GetGuid());
        Assert.NotEqual(pool.GetProperty("accountId").GetGuid(), mine.GetProperty("accountId").GetGuid());
    }
}

public sealed class CreditEndpointsOnSqlite(SqliteIdentityFixture fixture) : CreditEndpointTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class CreditEndpointsOnPostgres(PostgresIdentityFixture fixture) : CreditEndpointTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
