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
    public async Task Two_hundred_concurrent_reservations_against_credit_for_37_give_exactly_37()
    {
        var account = await FundedAccountAsync(37 * Cost);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            try
            {
                await scope.ServiceProvider.GetRequiredService<Ledger>().ReserveAsync(account, Cost, "race", $"race-{account:N}-{i}", Ct);
                return true;
            }
            catch (ProblemException e) when (e.Type == ProblemTypes.InsufficientCredits)
            {
                return false;
            }
        }));
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

        var call = await ledger.ReserveAsync(account, 4 * Cost, "chat", $"{account:N}-call", Ct);
        var cancelled = await ledger.ReserveAsync(account, 2 * Cost, "chat", $"{account:N}-cancelled", Ct);
        var held = await host.AccountAsync(account);
        var usage = await ledger.SettleAsync(call.Id, Cost, "chat done", Ct);
        await ledger.ReleaseAsync(cancelled.Id, "chat cancelled", Ct);
        var settledTwice = await ledger.SettleAsync(call.Id, Cost, "chat done", Ct);
        var releaseAfterSettle = await Record.ExceptionAsync(() => ledger.ReleaseAsync(call.Id, "late", Ct));
        var after = await host.AccountAsync(account);

        Assert.Equal(6 * Cost, held.Reserved);
        Assert.Equal(-Cost, usage.Amount);
        Assert.Equal(usage.Id, settledTwice.Id);
        Assert.Equal(9 * Cost, after.Balance);
        Assert.Equal(0, after.Reserved);
        Assert.Null(releaseAfterSettle);
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
        var first = await ledger.ReserveAsync(account, Cost, "chat", $"{account:N}-hold", Ct);
        var again = await ledger.ReserveAsync(account, Cost, "chat", $"{account:N}-hold", Ct);
        var after = await host.AccountAsync(account);
        var entries = await host.EntryCountAsync(account);

        Assert.Single(grants.Select(g => g.Id).Distinct());
        Assert.Equal(first, again);
        Assert.Equal(5 * Cost, after.Balance);
        Assert.Equal(Cost, after.Reserved);
        Assert.Equal(3, entries);   // the opening grant of nothing, the promo, the hold
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Two_nodes_group_committing_the_same_keys_write_each_hold_and_each_settlement_once()
    {
        var account = await FundedAccountAsync(100 * Cost);
        await using var otherNode = new LedgerWriter(host.App.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System, NullLogger<LedgerWriter>.Instance);
        LedgerWriter[] writers = [host.App.Services.GetRequiredService<LedgerWriter>(), otherNode];

        var holds = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => writers[i % 2].ReserveAsync(account, Cost, "chat", $"{account:N}-call-{i % 10}")));
        var settled = await Task.WhenAll(holds.Select((hold, i) => writers[i / 2 % 2].CloseAsync(hold.Id, ReservationState.Settled, Cost / 2, "chat done")));
        var after = await host.AccountAsync(account);

        Assert.Equal(10, holds.Select(h => h.Id).Distinct().Count());
        Assert.Equal(10, settled.Select(e => e.Id).Distinct().Count());
        Assert.All(settled, e => Assert.Equal(-Cost / 2, e.Amount));
        Assert.Equal(100 * Cost - 10 * (Cost / 2), after.Balance);
        Assert.Equal(0, after.Reserved);
        Assert.Equal(21, await host.EntryCountAsync(account));   // the funds, ten holds, ten settlements
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Taking_more_than_is_free_is_refused_and_a_hold_is_never_taken_from_under_a_call()
    {
        var account = await FundedAccountAsync(3 * Cost);
        await using var scope = host.App.Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();
        await ledger.ReserveAsync(account, 2 * Cost, "chat", $"{account:N}-hold", Ct);

        var tooMuch = await Record.ExceptionAsync(() => ledger.PostAsync(account, CreditKind.Adjustment, -2 * Cost, "correction", null, $"{account:N}-adjust", Ct));
        await ledger.PostAsync(account, CreditKind.Adjustment, -Cost, "correction", null, $"{account:N}-adjust-ok", Ct);
        var after = await host.AccountAsync(account);

        Assert.Equal(402, Assert.IsType<ProblemException>(tooMuch).Status);
        Assert.Equal(2 * Cost, after.Balance);
        Assert.Equal(2 * Cost, after.Reserved);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Reservations_left_open_past_their_lifetime_are_released()
    {
        var account = await FundedAccountAsync(5 * Cost);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scope = host.App.Services.CreateAsyncScope();
        var ledger = new Ledger(scope.ServiceProvider.GetRequiredService<AppDbContext>(), clock);
        await ledger.ReserveAsync(account, 3 * Cost, "chat", $"{account:N}-crashed", Ct);

        var early = await ledger.ReleaseExpiredAsync(Ct);
        clock.Advance(Ledger.ReservationLifetime + TimeSpan.FromSeconds(1));
        var late = await ledger.ReleaseExpiredAsync(Ct);
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
