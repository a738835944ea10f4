using System.Net;
using AiHub.Credits;
using AiHub.Credits.Promo;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Credits.CreditSupport;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Balances are served from the cache, and every kind of change makes the next read fresh.</summary>
public abstract class BalanceCacheTests(IdentityHost host)
{
    const long Credit = 1_000_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_read_after_every_kind_of_change_is_fresh()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var account = UserIdOf(user);
        var start = await host.BalanceMicrosAsync(account);
        var seen = new List<(long Balance, long Reserved)>();
        async Task ReadAsync()
        {
            var balance = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");
            seen.Add((balance.GetProperty("balanceMicros").GetInt64(), balance.GetProperty("reservedMicros").GetInt64()));
        }

        await ReadAsync();
        await ReadAsync();   // from the cache
        await using var scope = host.App.Services.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var ledger = services.GetRequiredService<Ledger>();
        var cached = await services.GetRequiredService<IDistributedCache>().GetAsync($"credits:balance:{account:N}", Ct);
        await ledger.PostAsync(account, CreditKind.Grant, 10 * Credit, "grant", null, $"{account:N}-grant", Ct);
        await ReadAsync();
        var call = await ledger.HoldOnAsync(account, 4 * Credit, $"{account:N}-call");
        await ReadAsync();
        await ledger.PostHoldAsync(null, call.Id, Credit, Ct);
        await ReadAsync();
        var cancelled = await ledger.HoldOnAsync(account, 2 * Credit, $"{account:N}-cancelled");
        await ReadAsync();
        await ledger.VoidHoldAsync(null, cancelled.Id, Ct);
        await ReadAsync();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var late = new Ledger(services.GetRequiredService<AppDbContext>(), clock, balances: services.GetRequiredService<BalanceCache>());
        await late.HoldOnAsync(account, 3 * Credit, $"{account:N}-crashed");
        await ReadAsync();
        clock.Advance(Ledger.HoldLifetime + TimeSpan.FromMinutes(1));
        await late.VoidExpiredAsync(Ct);
        await ReadAsync();
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId = account, amount = -2m, reason = "correction" });
        await ReadAsync();
        var code = UniqueCode("FRESH");
        await services.GetRequiredService<PromoCodes>().CreateAsync(new PromoCodeRequest(code, 5m, null, null), UserIdOf(admin), Ct);
        await SendAsync(client, user, HttpMethod.Post, "/api/credits/redeem", new { code });
        await ReadAsync();
        var (bulk, applied) = await BulkCreditTests.BulkAsync(client, admin, $"accountId,credits,reason\n{account},1.5,bonus\n", $"fresh-{account:N}");
        Assert.True(bulk == HttpStatusCode.OK, applied.GetRawText());
        await ReadAsync();

        Assert.NotNull(cached);
        // Balances are on top of what the new account started with (the sign-up grant).
        (long Balance, long Reserved)[] changes =
            [(0L, 0L), (0, 0), (10 * Credit, 0), (10 * Credit, 4 * Credit), (9 * Credit, 0), (9 * Credit, 2 * Credit), (9 * Credit, 0),
             (9 * Credit, 3 * Credit), (9 * Credit, 0), (7 * Credit, 0), (12 * Credit, 0), (13_500_000, 0)];
        Assert.Equal(changes.Select(c => (start + c.Balance, c.Reserved)), seen);
    }

    [Fact]
    public async Task The_org_pool_balance_is_fresh_after_a_change()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Cached pool");
        var before = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/credits/balance");
        await using (var scope = host.App.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<Ledger>().PostAsync(orgId, CreditKind.Purchase, 42 * Credit, "purchase", null, $"{orgId:N}-purchase", Ct);
        var after = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/credits/balance");

        Assert.Equal(0, before.GetProperty("balanceMicros").GetInt64());
        Assert.Equal(42 * Credit, after.GetProperty("balanceMicros").GetInt64());
    }
}

public sealed class BalanceCacheOnSqlite(SqliteIdentityFixture fixture) : BalanceCacheTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class BalanceCacheOnPostgres(PostgresIdentityFixture fixture) : BalanceCacheTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;

/// <summary>As a cluster runs: PostgreSQL, and the cache in Redis.</summary>
public sealed class BalanceCacheOnRedis(BalanceCacheOnRedis.Fixture fixture) : BalanceCacheTests(fixture.Host), IClassFixture<BalanceCacheOnRedis.Fixture>
{
    public sealed class Fixture() : IdentityFixture("Postgres", new Dictionary<string, string?> { ["Redis:ConnectionString"] = TestEnvironment.Redis });
}

/// <summary>Two nodes of one cluster: a change made through one is what the other reads next.</summary>
public sealed class BalanceCacheAcrossNodes
{
    [Fact]
    public async Task A_change_on_one_node_is_read_fresh_on_the_other()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var database = await TestDatabase.PostgresAsync();
        var settings = new Dictionary<string, string?> { ["Redis:ConnectionString"] = TestEnvironment.Redis };
        await using var first = AiHubApp.On(database, settings);
        await using var second = AiHubApp.On(database, settings);
        await using var one = first.Services.CreateAsyncScope();
        await using var two = second.Services.CreateAsyncScope();
        var user = await first.Services.NewAppUserAsync("nodes");
        var ledgerOne = one.ServiceProvider.GetRequiredService<Ledger>();
        var cacheOne = one.ServiceProvider.GetRequiredService<BalanceCache>();
        Task<CreditAccount> ReadOnFirstAsync() => cacheOne.GetAsync(user.Id, c => ledgerOne.OpenAsync(CreditOwner.User, user.Id, null, c), ct);

        var before = await ReadOnFirstAsync();
        await two.ServiceProvider.GetRequiredService<Ledger>().PostAsync(user.Id, CreditKind.Grant, 3_000_000, "grant", null, $"{user.Id:N}-grant", ct);
        var after = await ReadOnFirstAsync();

        Assert.Equal(0, before.Balance);
        Assert.Equal(3_000_000, after.Balance);
    }
}
