using System.Net;
using AiHub.Credits;
using AiHub.Credits.Leases;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>
/// Credit leases on a real database: calls held in memory against one ledger hold per spender never pass the pool, the
/// allowance, the key's budget or the plan's quota; every settled charge is posted once and matches the usage records;
/// and a lease a killed process left open is posted, not voided, at exactly what its calls recorded.
/// </summary>
public abstract class LeaseTests(IdentityHost host)
{
    const long Credit = 1_000_000;
    static readonly string[] ChatOnly = ["chat:use"];
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Racing_calls_never_hold_more_than_the_keys_budget_and_every_charge_is_posted_once_and_recorded()
    {
        var call = await CappedKeyAsync(allowance: 100, budget: 5, questionsPerDay: 1000);

        var race = await RaceAsync(call, calls: 150, amount: Credit / 10);

        Assert.InRange(race.Settled.Length, 40, 150 - 1);
        Assert.All(race.Refusals, r => Assert.Equal((402, ProblemTypes.ApiKeyBudgetExceeded), (r.Status, r.Type)));
        Assert.InRange(race.MostHeld, Credit / 10, 5 * Credit);
        await AssertBilledOnceAsync(call, race);
    }

    [Fact]
    public async Task Racing_calls_never_hold_more_than_the_members_allowance()
    {
        var call = await CappedKeyAsync(allowance: 2, budget: 100, questionsPerDay: 1000);

        var race = await RaceAsync(call, calls: 80, amount: Credit / 10);

        Assert.NotEmpty(race.Refusals);
        Assert.All(race.Refusals, r => Assert.Equal((402, ProblemTypes.AllowanceExceeded), (r.Status, r.Type)));
        Assert.InRange(race.MostHeld, Credit / 10, 2 * Credit);
        await AssertBilledOnceAsync(call, race);
    }

    [Fact]
    public async Task Racing_calls_never_take_more_questions_than_the_plan_allows()
    {
        var call = await CappedKeyAsync(allowance: 100, budget: 100, questionsPerDay: 30);

        var race = await RaceAsync(call, calls: 80, amount: Credit / 100);

        Assert.Equal(30, race.Settled.Length);
        Assert.All(race.Refusals, r => Assert.Equal((403, ProblemTypes.ChatLimitExceeded), (r.Status, r.Type)));
        await AssertBilledOnceAsync(call, race);
    }

    [Fact]
    public async Task Released_calls_give_their_questions_and_credits_back_and_settled_ones_are_charged_once()
    {
        var call = await CappedKeyAsync(allowance: 100, budget: 100, questionsPerDay: 1000);
        var leases = await StartedLeasesAsync("released-" + Guid.NewGuid().ToString("N")[..8]);
        var holds = new List<LeasedHold>();
        for (var i = 0; i < 5; i++)
            holds.Add(await leases.HoldAsync(call.Spender, Credit, $"call-{i}", QuotaKind.ChatQuestions, Ct));
        var whileHeld = await LegsAsync(call);

        await leases.SettleAsync(holds[0], Credit / 2, Ct);
        await leases.SettleAsync(holds[1], 3 * Credit, Ct);
        await leases.SettleAsync(holds[1], Credit, Ct);
        foreach (var hold in holds[2..])
            await leases.ReleaseAsync(hold, Ct);
        await leases.CloseAllAsync(Ct);
        var after = await LegsAsync(call);
        var next = await leases.HoldAsync(call.Spender, Credit, "after-close", QuotaKind.ChatQuestions, Ct);
        await leases.ReleaseAsync(next, Ct);
        await leases.StopAsync(Ct);

        Assert.Single(holds.Select(h => h.HoldId).Distinct());
        Assert.NotEqual(holds[0].HoldId, next.HoldId);
        Assert.Equal(((1000 * Credit, 16 * Credit), 64L), (whileHeld.Pool, whileHeld.Questions));
        Assert.Equal((1000 * Credit - Credit / 2 - Credit, 0L), after.Pool);
        Assert.Equal((100 * Credit - Credit / 2 - Credit, 0L), after.Allowance);
        Assert.Equal((Credit / 2 + Credit, 0L), after.Budget);
        Assert.Equal(2, after.Questions);
        Assert.Equal(0, await PendingAsync(call.OrgId));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_lease_a_killed_process_left_open_is_posted_at_what_its_calls_recorded_when_its_node_starts_again()
    {
        var node = "crash-" + Guid.NewGuid().ToString("N")[..8];
        var call = await CappedKeyAsync(allowance: 100, budget: 100, questionsPerDay: 1000);
        var other = await CappedKeyAsync(allowance: 100, budget: 100, questionsPerDay: 1000);
        var writer = new UsageWriter(host.App.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System, NullLogger<UsageWriter>.Instance);
        await writer.StartAsync(Ct);

        // The process that dies: three calls answered and recorded, two still in flight; nobody stops it.
        var dying = Leases(node);
        var holds = new List<LeasedHold>();
        for (var i = 0; i < 5; i++)
            holds.Add(await dying.HoldAsync(call.Spender, Credit, $"dying-{i}", QuotaKind.ChatQuestions, Ct));
        long[] charges = [Credit / 3, Credit / 7, 2 * Credit / 5];
        for (var i = 0; i < 3; i++)
        {
            await dying.SettleAsync(holds[i], charges[i], Ct);
            await writer.RecordAsync(Entry(call, holds[i], charges[i]), Ct);
        }
        // Another node dies too, with one call recorded: only the ledger's expiry job may post its lease.
        var otherNode = Leases("other-" + Guid.NewGuid().ToString("N")[..8]);
        var otherHold = await otherNode.HoldAsync(other.Spender, Credit, "other-0", QuotaKind.ChatQuestions, Ct);
        await otherNode.SettleAsync(otherHold, Credit / 4, Ct);
        await writer.RecordAsync(Entry(other, otherHold, Credit / 4), Ct);
        var left = await LegsAsync(call);
        var leftState = (await HoldAsync(holds[0].HoldId)).State;

        var restarted = Leases(node);
        await restarted.StartAsync(Ct);
        var reconciled = await restarted.Reconciled.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await restarted.StopAsync(Ct);
        var afterRestart = await LegsAsync(call);
        var otherBeforeExpiry = await PendingAsync(other.OrgId);

        var expired = await ExpireAsync(Ledger.HoldLifetime + TimeSpan.FromMinutes(1));
        var otherAfter = await LegsAsync(other);
        var lease = await HoldAsync(holds[0].HoldId);
        var otherLease = await HoldAsync(otherHold.HoldId);

        Assert.Equal((HoldState.Pending, 64L), (leftState, left.Questions));
        Assert.Equal(1, reconciled);
        Assert.Equal((HoldState.Posted, charges.Sum()), (lease.State, lease.ActualCost));
        Assert.Equal((1000 * Credit - charges.Sum(), 0L), afterRestart.Pool);
        Assert.Equal((charges.Sum(), 0L), afterRestart.Budget);
        Assert.Equal(3, afterRestart.Questions);
        Assert.Equal(0, await PendingAsync(call.OrgId));
        Assert.Equal(1, otherBeforeExpiry);
        Assert.True(expired >= 1);
        Assert.Equal((HoldState.Posted, Credit / 4), (otherLease.State, otherLease.ActualCost));
        Assert.Equal(((1000 * Credit - Credit / 4, 0L), 1L), (otherAfter.Pool, otherAfter.Questions));
        Assert.Equal(0, await PendingAsync(other.OrgId));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Callers_that_give_up_while_a_lease_is_asked_for_leave_no_hold_and_pay_nothing()
    {
        var call = await CappedKeyAsync(allowance: 100, budget: 100, questionsPerDay: 1000);
        var leases = await StartedLeasesAsync("cancel-" + Guid.NewGuid().ToString("N")[..8]);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            cancel.CancelAfter(TimeSpan.FromMilliseconds(i % 8));
            try
            {
                var hold = await leases.HoldAsync(call.Spender, Credit / 10, $"cancel-{i}", QuotaKind.ChatQuestions, cancel.Token);
                if (i % 2 == 0)
                {
                    await leases.SettleAsync(hold, Credit / 20, CancellationToken.None);
                    return 1;
                }
                await leases.ReleaseAsync(hold, CancellationToken.None);
                return 0;
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
        })));
        await leases.StopAsync(Ct);
        var after = await LegsAsync(call);

        Assert.Equal((1000 * Credit - outcomes.Sum() * Credit / 20, 0L), after.Pool);
        Assert.Equal(outcomes.Sum(), after.Questions);
        Assert.Equal(0, await PendingAsync(call.OrgId));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    /// <summary>Many calls at once, each on its own thread: hold, record the most held at any moment, settle part of it and record the usage.</summary>
    async Task<Race> RaceAsync(Call call, int calls, long amount)
    {
        var leases = await StartedLeasesAsync("race-" + Guid.NewGuid().ToString("N")[..8]);
        var writer = host.App.Services.GetRequiredService<UsageWriter>();
        long held = 0, most = 0;
        var settled = new System.Collections.Concurrent.ConcurrentBag<long>();
        var refusals = new System.Collections.Concurrent.ConcurrentBag<ProblemException>();
        await Task.WhenAll(Enumerable.Range(0, calls).Select(i => Task.Run(async () =>
        {
            LeasedHold hold;
            try
            {
                hold = await leases.HoldAsync(call.Spender, amount, $"race-{i}", QuotaKind.ChatQuestions, Ct);
            }
            catch (ProblemException refused)
            {
                refusals.Add(refused);
                return;
            }
            InterlockedMax(ref most, Interlocked.Add(ref held, amount));
            await Task.Delay(i % 5, Ct);
            var charge = amount * (1 + i % 4) / 4;
            await writer.RecordAsync(Entry(call, hold, charge), Ct);
            // Counted down before the lease frees the rest, so another call's take is never counted on top of it.
            Interlocked.Add(ref held, charge - amount);
            await leases.SettleAsync(hold, charge, Ct);
            settled.Add(charge);
        }))).WaitAsync(TimeSpan.FromMinutes(2), Ct);
        await leases.StopAsync(Ct);
        return new Race([.. settled], [.. refusals], most);

        static void InterlockedMax(ref long target, long value)
        {
            for (var seen = Interlocked.Read(ref target); value > seen; seen = Interlocked.Read(ref target))
                if (Interlocked.CompareExchange(ref target, value, seen) == seen)
                    return;
        }
    }

    /// <summary>After every lease closed: nothing pending, the ledger sound, and posted == settled == recorded on every leg.</summary>
    async Task AssertBilledOnceAsync(Call call, Race race)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var posted = await db.Set<LedgerHold>().AsNoTracking().IgnoreQueryFilters().Where(h => h.OrganizationId == call.OrgId)
            .Select(h => h.ActualCost ?? 0).ToListAsync(Ct);
        var recorded = await db.Set<UsageRecord>().AsNoTracking().IgnoreQueryFilters().Where(r => r.OrganizationId == call.OrgId)
            .Select(r => r.CostMicros).ToListAsync(Ct);
        var legs = await LegsAsync(call);
        var charged = race.Settled.Sum();

        Assert.Equal(0, await PendingAsync(call.OrgId));
        Assert.Empty(await host.VerifyLedgerAsync());
        Assert.Equal(charged, posted.Sum());
        Assert.Equal((charged, race.Settled.Length), (recorded.Sum(), recorded.Count));
        Assert.Equal((1000 * Credit - charged, 0L), legs.Pool);
        Assert.Equal((charged, 0L), legs.Budget);
        Assert.Equal(race.Settled.Length, legs.Questions);
    }

    static UsageEntry Entry(Call call, LeasedHold hold, long charge) =>
        new($"lease-test:{hold.CallId}:{Guid.NewGuid():N}", call.OrgId, call.Spender.UserId, "OpenAI", "GPT-4o-mini", 100, 50, 10, UsageStatus.Succeeded,
            ApiKeyId: call.KeyId, ReservationId: hold.HoldId, CostMicros: charge);

    CreditLeases Leases(string node) => new(host.App.Services.GetRequiredService<IServiceScopeFactory>(), TimeProvider.System,
        Options.Create(new LeaseSettings()), Options.Create(new NodeSettings { Name = node }), NullLogger<CreditLeases>.Instance);

    async Task<CreditLeases> StartedLeasesAsync(string node)
    {
        var leases = Leases(node);
        await leases.StartAsync(Ct);
        await leases.Reconciled.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        return leases;
    }

    async Task<int> ExpireAsync(TimeSpan later)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow + later);
        return await new Ledger(scope.ServiceProvider.GetRequiredService<AppDbContext>(), clock).VoidExpiredAsync(Ct);
    }

    async Task<LedgerHold> HoldAsync(Guid id)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().AsNoTracking().IgnoreQueryFilters().FirstAsync(h => h.Id == id, Ct);
    }

    async Task<int> PendingAsync(Guid orgId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().IgnoreQueryFilters()
            .CountAsync(h => h.OrganizationId == orgId && h.State == HoldState.Pending, Ct);
    }

    /// <summary>An org whose pool has 1,000 credits, on a plan of <paramref name="questionsPerDay"/>, and a key of its Owner with a monthly budget, who is capped.</summary>
    async Task<Call> CappedKeyAsync(int allowance, int budget, int questionsPerDay)
    {
        var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var owner = await host.NewUserAsync(client);
        var ownerId = UserIdOf(owner);
        var orgId = await CreateOrgAsync(client, owner, "Leases " + Guid.NewGuid().ToString("N")[..6]);
        var poolId = await host.FundPoolAsync(orgId, 1000 * Credit);
        await QuotaTests.OnPlanAsync(client, admin, orgId, "LEASES" + questionsPerDay, questionsPerDay);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{ownerId}", new { credits = (decimal)allowance, reason = "cap" });
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "budgeted", permissions = ChatOnly, monthlyBudgetCredits = budget }, HttpStatusCode.Created);
        var keyId = key.GetProperty("key").GetProperty("id").GetGuid();
        return new Call(orgId, poolId, keyId, new Spender(orgId, ownerId, keyId, null));
    }

    async Task<Legs> LegsAsync(Call call)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var allowance = await db.Set<CreditAccount>().AsNoTracking().IgnoreQueryFilters()
            .FirstAsync(a => a.Owner == CreditOwner.Member && a.OrganizationId == call.OrgId && a.UserId == call.Spender.UserId, Ct);
        var spend = await db.Set<ApiKeySpend>().AsNoTracking().IgnoreQueryFilters().Where(s => s.ApiKeyId == call.KeyId)
            .Select(s => new { s.Spent, s.Held }).FirstOrDefaultAsync(Ct);
        var questions = await db.Set<QuotaUsage>().AsNoTracking().IgnoreQueryFilters()
            .Where(u => u.OrganizationId == call.OrgId && u.Kind == QuotaKind.ChatQuestions).SumAsync(u => u.Used, Ct);
        return new Legs(await host.BalanceAsync(call.PoolId), (allowance.Balance, allowance.Reserved), (spend?.Spent ?? 0, spend?.Held ?? 0), questions);
    }

    sealed record Call(Guid OrgId, Guid PoolId, Guid KeyId, Spender Spender);

    sealed record Race(long[] Settled, ProblemException[] Refusals, long MostHeld);

    sealed record Legs((long Balance, long Reserved) Pool, (long Balance, long Reserved) Allowance, (long Spent, long Held) Budget, long Questions);
}

public sealed class LeasesOnSqlite(SqliteIdentityFixture fixture) : LeaseTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class LeasesOnPostgres(PostgresIdentityFixture fixture) : LeaseTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
