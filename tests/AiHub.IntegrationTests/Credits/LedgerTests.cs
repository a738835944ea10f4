using AiHub.Credits;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AiHub.IntegrationTests.Credits;

/// <summary>The ledger on a real database: holds that cannot overspend, retries that change nothing, sums that always match.</summary>
public abstract class LedgerTests(IdentityHost host)
{
    const long Cost = 250_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Two_hundred_concurrent_holds_against_credit_for_37_give_exactly_37()
    {
        var account = await FundedAccountAsync(37 * Cost);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            try
            {
                await scope.ServiceProvider.GetRequiredService<Ledger>().HoldOnAsync(account, Cost, $"race-{account:N}-{i}");
                return true;
            }
            catch (ProblemException e) when (e.Type == ProblemTypes.InsufficientCredits)
            {
                return false;
            }
        })));
        var after = await host.AccountAsync(account);

        Assert.Equal(37, outcomes.Count(won => won));
        Assert.Equal(37 * Cost, after.Balance);
        Assert.Equal(37 * Cost, after.Reserved);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Settle_charges_the_real_cost_and_frees_the_rest_and_release_frees_it_all()
    {
        var account = await FundedAccountAsync(10 * Cost);
        await using var scope = host.App.Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();

        var call = await ledger.HoldOnAsync(account, 4 * Cost, $"{account:N}-call");
        var cancelled = await ledger.HoldOnAsync(account, 2 * Cost, $"{account:N}-cancelled");
        var held = await host.AccountAsync(account);
        var posted = await ledger.PostHoldAsync(null, call.Id, Cost, Ct);
        var voided = await ledger.VoidHoldAsync(null, cancelled.Id, Ct);
        var postedTwice = await ledger.PostHoldAsync(null, call.Id, Cost, Ct);
        var voidAfterPost = await ledger.VoidHoldAsync(null, call.Id, Ct);
        var after = await host.AccountAsync(account);

        Assert.Equal(6 * Cost, held.Reserved);
        Assert.True(posted);
        Assert.True(voided);
        Assert.False(postedTwice);
        Assert.False(voidAfterPost);
        Assert.Equal(9 * Cost, after.Balance);
        Assert.Equal(0, after.Reserved);
        Assert.Equal(1, await host.EntryCountAsync(account, CreditKind.Usage));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task The_same_key_again_returns_the_first_result_and_writes_one_entry()
    {
        var account = await FundedAccountAsync(0);
        await using var scope = host.App.Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();

        var grants = await Task.WhenAll(Enumerable.Range(0, 10).Select(async _ =>
        {
            await using var each = host.App.Services.CreateAsyncScope();
            return await each.ServiceProvider.GetRequiredService<Ledger>().PostAsync(account, CreditKind.Promo, 5 * Cost, "WELCOME", null, $"{account:N}-promo", Ct);
        }));
        var first = await ledger.HoldOnAsync(account, Cost, $"{account:N}-hold");
        var again = await ledger.HoldOnAsync(account, Cost, $"{account:N}-hold");
        var after = await host.AccountAsync(account);
        var entries = await host.EntryCountAsync(account);

        Assert.Single(grants.Select(g => g.Id).Distinct());
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(5 * Cost, after.Balance);
        Assert.Equal(Cost, after.Reserved);
        Assert.Equal(2, entries);   // the opening grant of nothing and the promo: a hold is a hold row, not an entry
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Two_nodes_group_committing_the_same_keys_write_each_hold_and_each_settlement_once()
    {
        var account = await FundedAccountAsync(100 * Cost);
        var otherNode = new LedgerWriter(host.App.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System, NullLogger<LedgerWriter>.Instance);
        await otherNode.StartAsync(Ct);
        try
        {
            LedgerWriter[] writers = [host.App.Services.GetRequiredService<LedgerWriter>(), otherNode];
            var holds = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() => writers[i % 2].SubmitAsync(new HoldOperation(OnlyPayer(account, $"{account:N}-call-{i % 10}"))))));
            var closed = await Task.WhenAll(holds.Select((hold, i) => Task.Run(() => writers[i / 2 % 2].SubmitAsync(new CloseOperation(null, hold.Id, HoldState.Posted, Cost / 2)))));
            var after = await host.AccountAsync(account);

            Assert.Equal(10, holds.Select(h => h.Id).Distinct().Count());
            Assert.Equal(10, closed.Count(c => c is not null));
            Assert.All(closed.OfType<LedgerHold>(), h => Assert.Equal(Cost / 2, h.ActualCost));
            Assert.Equal(100 * Cost - 10 * (Cost / 2), after.Balance);
            Assert.Equal(0, after.Reserved);
            Assert.Equal(11, await host.EntryCountAsync(account));   // the funds and ten usage entries
            Assert.Empty(await host.VerifyLedgerAsync());
        }
        finally
        {
            await otherNode.StopAsync(CancellationToken.None);
        }
    }

    static HoldRequest OnlyPayer(Guid account, string key) =>
        new(key, Cost, "chat", null, null, null, null, new AccountLeg(account, available => Ledger.Short(Cost, available)), null, null, null);

    [Fact]
    public async Task Taking_more_than_is_free_is_refused_and_a_hold_is_never_taken_from_under_a_call()
    {
        var account = await FundedAccountAsync(3 * Cost);
        await using var scope = host.App.Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();
        await ledger.HoldOnAsync(account, 2 * Cost, $"{account:N}-hold");

        var tooMuch = await Record.ExceptionAsync(() => ledger.PostAsync(account, CreditKind.Adjustment, -2 * Cost, "correction", null, $"{account:N}-adjust", Ct));
        await ledger.PostAsync(account, CreditKind.Adjustment, -Cost, "correction", null, $"{account:N}-adjust-ok", Ct);
        var after = await host.AccountAsync(account);

        Assert.Equal(402, Assert.IsType<ProblemException>(tooMuch).Status);
        Assert.Equal(2 * Cost, after.Balance);
        Assert.Equal(2 * Cost, after.Reserved);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Holds_left_pending_past_their_lifetime_are_voided()
    {
        var account = await FundedAccountAsync(5 * Cost);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scope = host.App.Services.CreateAsyncScope();
        var ledger = new Ledger(scope.ServiceProvider.GetRequiredService<AppDbContext>(), clock);
        await ledger.HoldOnAsync(account, 3 * Cost, $"{account:N}-crashed");

        var early = await ledger.VoidExpiredAsync(Ct);
        clock.Advance(Ledger.HoldLifetime + TimeSpan.FromSeconds(1));
        var late = await ledger.VoidExpiredAsync(Ct);
        var after = await host.AccountAsync(account);

        Assert.Equal(0, early);
        Assert.True(late >= 1);
        Assert.Equal(0, after.Reserved);
        Assert.Equal(5 * Cost, after.Balance);
    }

    async Task<Guid> FundedAccountAsync(long micros) =>
        await host.FundUserAsync((await host.App.Services.NewAppUserAsync("ledger")).Id, micros);
}

public sealed class LedgerCommandTests
{
    [Fact]
    public async Task Ledger_verify_exits_0_on_a_sound_ledger_and_1_naming_the_account_that_does_not_balance()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var database = TestDatabase.Sqlite();
        Guid accountId;
        await using (var app = AiHubApp.On(database))
        {
            var user = await app.Services.NewAppUserAsync("ledger");
            await using var scope = app.Services.CreateAsyncScope();
            var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();
            accountId = (await ledger.OpenAsync(CreditOwner.User, user.Id, null, ct)).Id;
            await ledger.PostAsync(accountId, CreditKind.Grant, 5_000_000, "grant", null, "verify-grant", ct);
        }
        var environment = new Dictionary<string, string> { ["AIHUB_Database__ConnectionString"] = database.ConnectionString };

        var sound = await AiHubProcess.RunAsync(environment, "ledger", "verify");
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection(database.ConnectionString))
        {
            await connection.OpenAsync(ct);
            await using var tamper = connection.CreateCommand();
            tamper.CommandText = "UPDATE credit_accounts SET balance = balance + 1";
            await tamper.ExecuteNonQueryAsync(ct);
        }
        var broken = await AiHubProcess.RunAsync(environment, "ledger", "verify");

        Assert.Equal(0, sound.ExitCode);
        Assert.Contains("the ledger balances", sound.Stdout, StringComparison.Ordinal);
        Assert.Equal(1, broken.ExitCode);
        Assert.Contains(accountId.ToString(), broken.Stderr, StringComparison.OrdinalIgnoreCase);
    }
}

public sealed class LedgerOnSqlite(SqliteIdentityFixture fixture) : LedgerTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class LedgerOnPostgres(PostgresIdentityFixture fixture) : LedgerTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
