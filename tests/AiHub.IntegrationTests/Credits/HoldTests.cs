using System.Net;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>
/// One hold per AI call, with all its legs (the org pool, the member's allowance, the key's budget, the plan's question
/// quota), on a real database: they stand or fall together, racing calls neither deadlock nor overspend, and money
/// history outlives the org it belonged to.
/// </summary>
public abstract class HoldTests(IdentityHost host)
{
    const long Credit = 1_000_000;
    static readonly string[] ChatOnly = ["chat:use"];
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sixty_calls_of_one_member_holding_and_posting_at_once_finish_and_every_leg_adds_up()
    {
        var call = await CappedKeyAsync(allowance: 100, budget: 100, questionsPerDay: 1000);

        // Holds and posts of the same member interleave, each from its own thread, half through the node's batch writer and half
        // alone as another node's would: on PostgreSQL a wrong lock order deadlocks here.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(async () =>
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            var gate = i % 2 == 0 ? scope.ServiceProvider.GetRequiredService<CreditGate>() : Alone(scope, TimeProvider.System);
            var hold = await gate.HoldAsync(call.Spender, Credit, $"race-{call.KeyId:N}-{i}", QuotaKind.ChatQuestions, Ct);
            await gate.SettleAsync(hold, Credit / 4, Ct);
            return hold;
        }))).WaitAsync(TimeSpan.FromMinutes(2), Ct);
        var legs = await LegsAsync(call);

        Assert.Equal(60, outcomes.Select(h => h.Id).Distinct().Count());
        Assert.Equal((1000 * Credit - 15 * Credit, 0), legs.Pool);
        Assert.Equal((100 * Credit - 15 * Credit, 0), legs.Allowance);
        Assert.Equal((15 * Credit, 0), legs.Budget);
        Assert.Equal(60, legs.Questions);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_refused_leg_leaves_every_other_leg_as_it_was_and_a_voided_hold_gives_the_question_back()
    {
        var call = await CappedKeyAsync(allowance: 10, budget: 5, questionsPerDay: 2);
        await using var scope = host.App.Services.CreateAsyncScope();
        var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
        var first = await gate.HoldAsync(call.Spender, Credit, "first", QuotaKind.ChatQuestions, Ct);
        var held = await LegsAsync(call);

        var overBudget = await Assert.ThrowsAsync<ProblemException>(() => gate.HoldAsync(call.Spender, 5 * Credit, "over-budget", QuotaKind.ChatQuestions, Ct));
        var afterBudget = await LegsAsync(call);
        await gate.HoldAsync(call.Spender, Credit, "second", QuotaKind.ChatQuestions, Ct);
        var overQuota = await Assert.ThrowsAsync<ProblemException>(() => gate.HoldAsync(call.Spender, Credit, "third", QuotaKind.ChatQuestions, Ct));
        var afterQuota = await LegsAsync(call);
        await gate.ReleaseAsync(first, Ct);
        var afterVoid = await LegsAsync(call);

        Assert.Equal((402, ProblemTypes.ApiKeyBudgetExceeded), (overBudget.Status, overBudget.Type));
        Assert.Equal(held, afterBudget);
        Assert.Equal((403, ProblemTypes.ChatLimitExceeded), (overQuota.Status, overQuota.Type));
        Assert.Equal((1000 * Credit, 2 * Credit), afterQuota.Pool);
        Assert.Equal((10 * Credit, 2 * Credit), afterQuota.Allowance);
        Assert.Equal((0, 2 * Credit), afterQuota.Budget);
        Assert.Equal(2, afterQuota.Questions);
        Assert.Equal(2, await HoldCountAsync(call.OrgId));
        Assert.Equal((1000 * Credit, Credit), afterVoid.Pool);
        Assert.Equal((0, Credit), afterVoid.Budget);
        Assert.Equal(1, afterVoid.Questions);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Another_orgs_hold_is_no_such_hold_and_closing_it_changes_nothing()
    {
        var call = await CappedKeyAsync(allowance: 10, budget: 5, questionsPerDay: 5);
        var other = await CappedKeyAsync(allowance: 10, budget: 5, questionsPerDay: 5);
        await using var scope = host.App.Services.CreateAsyncScope();
        var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
        var hold = await gate.HoldAsync(call.Spender, Credit, "mine", QuotaKind.ChatQuestions, Ct);
        var held = await LegsAsync(call);

        var settle = await Assert.ThrowsAsync<ProblemException>(() => gate.SettleAsync(hold with { OrganizationId = other.OrgId }, Credit, Ct));
        var release = await Assert.ThrowsAsync<ProblemException>(() => gate.ReleaseAsync(hold with { OrganizationId = other.OrgId }, Ct));

        Assert.Equal((404, 404), (settle.Status, release.Status));
        Assert.Equal(held, await LegsAsync(call));
    }

    [Fact]
    public async Task The_one_expiry_job_voids_a_hold_a_crashed_call_left_and_gives_back_credits_budget_and_question()
    {
        var call = await CappedKeyAsync(allowance: 10, budget: 5, questionsPerDay: 5);
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var scope = host.App.Services.CreateAsyncScope();
        var gate = Alone(scope, clock);
        var ledger = new Ledger(scope.ServiceProvider.GetRequiredService<AppDbContext>(), clock);
        await gate.HoldAsync(call.Spender, 2 * Credit, "crashed", QuotaKind.ChatQuestions, Ct);
        var held = await LegsAsync(call);

        var early = await ledger.VoidExpiredAsync(Ct);
        clock.Advance(Ledger.HoldLifetime + TimeSpan.FromSeconds(1));
        var late = await ledger.VoidExpiredAsync(Ct);
        var after = await LegsAsync(call);

        Assert.Equal(0, early);
        Assert.True(late >= 1);
        Assert.Equal(((1000 * Credit, 2 * Credit), (0, 2 * Credit), 1), (held.Pool, held.Budget, held.Questions));
        Assert.Equal(((1000 * Credit, 0L), (10 * Credit, 0L), (0L, 0L), 0), (after.Pool, after.Allowance, after.Budget, after.Questions));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Purging_an_org_keeps_its_ledger_entries_holds_and_usage_records_unnamed()
    {
        var call = await CappedKeyAsync(allowance: 10, budget: 5, questionsPerDay: 5);
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
            await gate.SettleAsync(await gate.HoldAsync(call.Spender, Credit, "before-purge", QuotaKind.ChatQuestions, Ct), Credit / 2, Ct);
        }
        await UsageSupport.RecordAsync(host, UsageSupport.Call(call.OrgId, call.Spender.UserId, "openai", "gpt-4o-mini", 100, 50, DateTimeOffset.UtcNow));
        var entriesBefore = await host.EntryCountAsync(call.PoolId);
        var poolBefore = await host.BalanceAsync(call.PoolId);

        await SendAsync(call.Client, call.Owner, HttpMethod.Delete, $"/api/orgs/{call.OrgId}", expected: HttpStatusCode.NoContent);
        await using var purge = host.App.Services.CreateAsyncScope();
        var db = purge.ServiceProvider.GetRequiredService<AppDbContext>();
        await db.Organizations.IgnoreQueryFilters().Where(o => o.Id == call.OrgId)
            .ExecuteUpdateAsync(u => u.SetProperty(o => o.DeletedAt, DateTimeOffset.UtcNow.AddDays(-31)), Ct);
        await purge.ServiceProvider.GetRequiredService<OrgPurge>().PurgeAsync(Ct);
        var pool = await db.Set<CreditAccount>().AsNoTracking().IgnoreQueryFilters().FirstAsync(a => a.Id == call.PoolId, Ct);

        Assert.False(await db.Organizations.IgnoreQueryFilters().AnyAsync(o => o.Id == call.OrgId, Ct));
        Assert.Null(pool.OrganizationId);
        Assert.Equal(poolBefore.Balance, pool.Balance);
        Assert.Equal(entriesBefore, await host.EntryCountAsync(call.PoolId));
        Assert.True(await db.Set<LedgerHold>().IgnoreQueryFilters().AnyAsync(h => h.IdempotencyKey == "before-purge" && h.OrganizationId == null, Ct));
        Assert.True(await db.Set<UsageRecord>().IgnoreQueryFilters().AnyAsync(r => r.OrganizationId == call.OrgId, Ct));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    /// <summary>An org whose pool has 1,000 credits, on a plan of <paramref name="questionsPerDay"/>, and a key of its Owner with a monthly budget, who is capped.</summary>
    async Task<Call> CappedKeyAsync(int allowance, int budget, int questionsPerDay)
    {
        var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var owner = await host.NewUserAsync(client);
        var ownerId = UserIdOf(owner);
        var orgId = await CreateOrgAsync(client, owner, "Holds " + Guid.NewGuid().ToString("N")[..6]);
        var poolId = await host.FundPoolAsync(orgId, 1000 * Credit);
        await QuotaTests.OnPlanAsync(client, admin, orgId, "HOLDS" + questionsPerDay, questionsPerDay);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{ownerId}", new { credits = (decimal)allowance, reason = "cap" });
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "budgeted", permissions = ChatOnly, monthlyBudgetCredits = budget }, HttpStatusCode.Created);
        var keyId = key.GetProperty("key").GetProperty("id").GetGuid();
        return new Call(client, owner, orgId, poolId, keyId, new Spender(orgId, ownerId, keyId, null));
    }

    /// <summary>A gate whose ledger writes each operation in a transaction of its own, without the node's writer.</summary>
    static CreditGate Alone(AsyncServiceScope scope, TimeProvider clock)
    {
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return new CreditGate(db, new Ledger(db, clock), scope.ServiceProvider.GetRequiredService<IQuotaService>(), clock);
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

    async Task<int> HoldCountAsync(Guid orgId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().IgnoreQueryFilters().CountAsync(h => h.OrganizationId == orgId, Ct);
    }

    sealed record Call(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid PoolId, Guid KeyId, Spender Spender);

    sealed record Legs((long Balance, long Reserved) Pool, (long Balance, long Reserved) Allowance, (long Spent, long Held) Budget, long Questions);
}

public sealed class HoldsOnSqlite(SqliteIdentityFixture fixture) : HoldTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class HoldsOnPostgres(PostgresIdentityFixture fixture) : HoldTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
