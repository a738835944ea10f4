using System.Net;
using AiHub.Credits;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>
/// Who pays for an AI call, on a real database: personal credits and org pools never cross, allowances and key budgets
/// cap concurrent calls exactly, and members ask for more through requests that managers decide (with real mail).
/// </summary>
public abstract class PoolTests(IdentityHost host)
{
    const long Cost = 250_000;
    const long Credit = 1_000_000;
    static readonly string[] ChatOnly = ["chat:use"];
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Personal_credits_never_pay_for_an_org_and_the_pool_never_pays_for_the_personal_org()
    {
        using var client = host.Client();
        var rich = await host.NewUserAsync(client);
        var richId = UserIdOf(rich);
        var emptyPoolOrg = await CreateOrgAsync(client, rich, "Empty pool");
        var (richStart, _) = await host.BalanceAsync(richId);
        await host.FundUserAsync(richId, 100 * Credit);
        var poor = await host.NewUserAsync(client);
        var poorId = UserIdOf(poor);
        var richPoolOrg = await CreateOrgAsync(client, poor, "Rich pool");
        // The poor user's own credits (the sign-up grant) fall short of the personal call by one credit; the pool would cover it a hundred times.
        var (poorStart, _) = await host.BalanceAsync(poorId);
        var personalCost = poorStart + Credit;
        var poolFunds = 100 * personalCost;
        await host.FundPoolAsync(richPoolOrg, poolFunds);

        var orgRefused = await HoldFailsAsync(new Spender(emptyPoolOrg, richId, null, null), Credit);
        var personalRefused = await HoldFailsAsync(new Spender(await PersonalOrgAsync(client, poor), poorId, null, null), personalCost);
        var personalHold = await HoldAsync(new Spender(await PersonalOrgAsync(client, rich), richId, null, null), Credit);
        var poolHold = await HoldAsync(new Spender(richPoolOrg, poorId, null, null), Credit);

        Assert.Equal((402, ProblemTypes.InsufficientCredits), (orgRefused.Status, orgRefused.Type));
        Assert.Equal((402, ProblemTypes.InsufficientCredits), (personalRefused.Status, personalRefused.Type));
        Assert.Equal(richId, personalHold.PayerAccountId);
        Assert.Equal(richPoolOrg, poolHold.PayerAccountId);
        var richAccount = await host.AccountAsync(richId);
        Assert.Equal((richStart + 100 * Credit, Credit), (richAccount.Balance, richAccount.Reserved));
        var pool = await host.AccountAsync(richPoolOrg);
        Assert.Equal((poolFunds, Credit), (pool.Balance, pool.Reserved));
        Assert.Equal((0L, 0L), await host.BalanceAsync(emptyPoolOrg));
        Assert.Equal((poorStart, 0L), await host.BalanceAsync(poorId));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task One_hundred_concurrent_holds_against_an_allowance_for_23_give_exactly_23()
    {
        var (client, owner, orgId, member, memberId) = await OrgWithMemberAsync();
        await host.FundPoolAsync(orgId, 1000 * Cost);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{memberId}", new { credits = 23 * 0.25m, reason = "monthly allowance" });

        var outcomes = await RaceAsync(new Spender(orgId, memberId, null, null), Cost, 100);
        var allocation = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/allocation");

        Assert.Equal(23, outcomes.Count(o => o is null));
        Assert.All(outcomes.OfType<ProblemException>(), p => Assert.Equal(ProblemTypes.AllowanceExceeded, p.Type));
        Assert.Equal((1000 * Cost, 23 * Cost), await host.BalanceAsync(orgId));
        Assert.True(allocation.GetProperty("capped").GetBoolean());
        Assert.Equal(23 * Cost, allocation.GetProperty("allowanceMicros").GetInt64());
        Assert.Equal(0, allocation.GetProperty("availableMicros").GetInt64());
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task When_the_pool_is_poorer_than_the_allowance_the_pool_is_the_limit()
    {
        var (client, owner, orgId, _, memberId) = await OrgWithMemberAsync();
        await host.FundPoolAsync(orgId, 17 * Cost);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{memberId}", new { credits = 50 * 0.25m, reason = "generous" });

        var outcomes = await RaceAsync(new Spender(orgId, memberId, null, null), Cost, 60);
        var allowance = await AllocationAccountAsync(orgId, memberId);

        Assert.Equal(17, outcomes.Count(o => o is null));
        Assert.All(outcomes.OfType<ProblemException>(), p => Assert.Equal(ProblemTypes.InsufficientCredits, p.Type));
        Assert.Equal((17 * Cost, 17 * Cost), await host.BalanceAsync(orgId));
        // The refused calls left nothing held on the allowance: all holds of a call stand or none does.
        Assert.Equal((50 * Cost, 17 * Cost), (allowance.Balance, allowance.Reserved));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Settle_charges_pool_and_allowance_the_real_cost_and_frees_the_rest()
    {
        var (client, owner, orgId, _, memberId) = await OrgWithMemberAsync();
        await host.FundPoolAsync(orgId, 10 * Cost);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{memberId}", new { credits = 2m, reason = "allowance" });
        var spender = new Spender(orgId, memberId, null, null);

        var call = await HoldAsync(spender, 4 * Cost);
        var failed = await HoldAsync(spender, 2 * Cost);
        var again = await HoldAsync(spender, 4 * Cost, call.IdempotencyKey);
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
            await gate.SettleAsync(call, Cost, Ct);
            await gate.SettleAsync(call, 3 * Cost, Ct);
            await gate.ReleaseAsync(call, Ct);
            await gate.ReleaseAsync(failed, Ct);
        }
        var allowance = await AllocationAccountAsync(orgId, memberId);
        var list = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/credits/allocations");
        var row = list.GetProperty("items").EnumerateArray().Single(i => i.GetProperty("userId").GetGuid() == memberId);

        Assert.Equal(call, again);
        Assert.Equal((9 * Cost, 0L), await host.BalanceAsync(orgId));
        Assert.Equal((8 * Cost - Cost, 0L), (allowance.Balance, allowance.Reserved));
        Assert.Equal(Cost, row.GetProperty("spentThisMonthMicros").GetInt64());
        Assert.Equal(1.75m, row.GetProperty("allowance").GetDecimal());
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_key_crossing_80_90_and_100_percent_of_its_budget_queues_one_mail_per_threshold()
    {
        var (client, owner, orgId, _, _) = await OrgWithMemberAsync();
        await host.FundPoolAsync(orgId, 1000 * Credit);
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "metered", permissions = ChatOnly, monthlyBudgetCredits = 10 }, HttpStatusCode.Created);
        var spender = new Spender(orgId, UserIdOf(owner), key.GetProperty("key").GetProperty("id").GetGuid(), null);
        var subject = $"api-key:{spender.ApiKeyId:N}:budget";

        async Task<(int Mails, int[] Thresholds)> SpendAsync(long micros)
        {
            var hold = await HoldAsync(spender, micros);
            await using var scope = host.App.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var before = await db.WorkItems.CountAsync(w => w.Kind == AiHub.Notifications.EmailSendHandler.KindName, Ct);
            await scope.ServiceProvider.GetRequiredService<CreditGate>().SettleAsync(hold, micros, Ct);
            var mails = await db.WorkItems.CountAsync(w => w.Kind == AiHub.Notifications.EmailSendHandler.KindName, Ct) - before;
            var thresholds = await db.Set<AiHub.Credits.Plans.LimitWarning>().Where(w => w.Subject == subject).Select(w => w.Threshold).OrderBy(t => t).ToArrayAsync(Ct);
            return (mails, thresholds);
        }
        var at70 = await SpendAsync(7 * Credit);
        var at85 = await SpendAsync(Credit + Credit / 2);
        var at100 = await SpendAsync(Credit + Credit / 2);

        // One recipient here: the owner is both the org's Owner and the key's creator.
        Assert.Equal(0, at70.Mails);
        Assert.Empty(at70.Thresholds);
        Assert.Equal(1, at85.Mails);
        Assert.Equal([80], at85.Thresholds);
        Assert.Equal(2, at100.Mails);
        Assert.Equal([80, 90, 100], at100.Thresholds);
    }

    [Fact]
    public async Task Concurrent_holds_cannot_exceed_an_api_key_budget_and_a_new_month_resets_it()
    {
        var (client, owner, orgId, _, _) = await OrgWithMemberAsync();
        var ownerId = UserIdOf(owner);
        await host.FundPoolAsync(orgId, 1000 * Credit);
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "budgeted", permissions = ChatOnly, monthlyBudgetCredits = 5 }, HttpStatusCode.Created);
        var keyId = key.GetProperty("key").GetProperty("id").GetGuid();
        var clock = new FakeTimeProvider(new DateTimeOffset(2031, 1, 31, 22, 0, 0, TimeSpan.Zero));
        var spender = new Spender(orgId, ownerId, keyId, null);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            try
            {
                return (Hold: await Gate(scope, clock).HoldAsync(spender, Credit, $"budget-{keyId:N}-{i}", Ct), Refused: (ProblemException?)null);
            }
            catch (ProblemException e)
            {
                return (Hold: (CreditHold?)null, Refused: e);
            }
        }, Ct)));
        var holds = outcomes.Select(o => o.Hold).OfType<CreditHold>().ToList();
        var refused = outcomes.Select(o => o.Refused).OfType<ProblemException>().First();
        ApiKeyBudgetPeriod? january;
        CreditHold february;
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var gate = Gate(scope, clock);
            await gate.SettleAsync(holds[0], Credit / 2, Ct);
            await gate.ReleaseAsync(holds[1], Ct);
            january = await gate.BudgetAsync(orgId, keyId, Ct);
            await Assert.ThrowsAsync<ProblemException>(() => gate.HoldAsync(spender, 3 * Credit, $"budget-{keyId:N}-late", Ct));
            clock.Advance(TimeSpan.FromHours(3));
            february = await gate.HoldAsync(spender, 5 * Credit, $"budget-{keyId:N}-new-month", Ct);
        }

        Assert.Equal(5, holds.Count);
        Assert.Equal((402, ProblemTypes.ApiKeyBudgetExceeded), (refused.Status, refused.Type));
        Assert.Equal(5 * Credit, refused.Extensions!["budgetMicros"]);
        Assert.Equal(5m, refused.Extensions["budget"]);
        Assert.Equal(new DateTimeOffset(2031, 2, 1, 0, 0, 0, TimeSpan.Zero), refused.Extensions["resetsAt"]);
        Assert.Equal(new ApiKeyBudgetPeriod(Credit / 2, 3 * Credit, 5 * Credit,
            new DateTimeOffset(2031, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2031, 2, 1, 0, 0, 0, TimeSpan.Zero)), january);
        Assert.Equal(keyId, february.ApiKeyId);
        var problem = await AsHttpProblemAsync(refused);
        Assert.Equal(402, problem.GetProperty("status").GetInt32());
        Assert.Equal("urn:aihub:problem:api-key-budget-exceeded", problem.GetProperty("type").GetString());
        Assert.Equal(5m, problem.GetProperty("budget").GetDecimal());
        Assert.True(problem.GetProperty("spent").GetDecimal() >= 0);
        Assert.Equal(new DateTimeOffset(2031, 2, 1, 0, 0, 0, TimeSpan.Zero), problem.GetProperty("resetsAt").GetDateTimeOffset());
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    /// <summary>The problem as the app's one exception handler writes it to a client.</summary>
    async Task<System.Text.Json.JsonElement> AsHttpProblemAsync(ProblemException problem)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var http = new Microsoft.AspNetCore.Http.DefaultHttpContext { RequestServices = scope.ServiceProvider };
        http.Response.Body = new MemoryStream();
        foreach (var handler in scope.ServiceProvider.GetServices<Microsoft.AspNetCore.Diagnostics.IExceptionHandler>())
            if (await handler.TryHandleAsync(http, problem, Ct))
                break;
        http.Response.Body.Position = 0;
        return (await System.Text.Json.JsonDocument.ParseAsync(http.Response.Body, cancellationToken: Ct)).RootElement.Clone();
    }

    [Fact]
    public async Task A_request_approved_raises_the_allowance_and_mails_the_member_and_the_managers()
    {
        var (client, owner, orgId, member, memberId, ownerEmail, memberEmail) = await OrgWithMemberAndEmailsAsync();

        var request = await SendAsync(client, member, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests",
            new { credits = 30m, reason = "a big translation job" }, HttpStatusCode.Created);
        var requestId = request.GetProperty("id").GetGuid();
        var toManager = await host.MailAsync(ownerEmail, "credit request");
        await SendAsync(client, member, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/approve", new { }, HttpStatusCode.Forbidden);
        var pendingForManager = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/credits/requests?status=pending");
        var approved = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/approve", new { credits = 20m });
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/approve", new { }, HttpStatusCode.Conflict);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/deny", new { reason = "changed my mind" }, HttpStatusCode.Conflict);
        var toMember = await host.MailAsync(memberEmail, "approved");
        var allocation = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/allocation");
        var mine = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/requests");
        var activity = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/activity");

        Assert.Contains("a big translation job", toManager.TextBody);
        Assert.Contains($"/orgs/{orgId}/credits", toManager.HtmlBody);
        Assert.Single(pendingForManager.EnumerateArray());
        Assert.Equal("approved", approved.GetProperty("status").GetString());
        Assert.Equal(20_000_000, approved.GetProperty("approvedMicros").GetInt64());
        Assert.Contains("approved for 20 credits", toMember.TextBody);
        Assert.Contains("approved for 20 credits", toMember.HtmlBody);
        Assert.Equal(20_000_000, allocation.GetProperty("allowanceMicros").GetInt64());
        Assert.Equal("approved", mine.EnumerateArray().Single().GetProperty("status").GetString());
        var kinds = activity.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("kind").GetString()).ToList();
        Assert.Contains("credits.requested", kinds);
        Assert.Contains("credits.request_approved", kinds);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Of_managers_deciding_one_request_at_once_exactly_one_wins()
    {
        var (client, owner, orgId, member, memberId) = await OrgWithMemberAsync();
        var requestId = (await SendAsync(client, member, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests",
            new { credits = 3m, reason = "race" }, HttpStatusCode.Created)).GetProperty("id").GetGuid();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => Task.Run(async () =>
        {
            var path = $"/api/orgs/{orgId}/credits/requests/{requestId}/" + (i % 2 == 0 ? "approve" : "deny");
            using var response = await client.SendAsync(As(owner, HttpMethod.Post, path, new { reason = "busy" }), Ct);
            return response.StatusCode;
        }, Ct)));
        var decided = (await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/requests")).EnumerateArray().Single();
        var allocation = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/allocation");

        Assert.Single(statuses, s => s == HttpStatusCode.OK);
        Assert.All(statuses.Where(s => s != HttpStatusCode.OK), s => Assert.Equal(HttpStatusCode.Conflict, s));
        if (decided.GetProperty("status").GetString() == "approved")
            Assert.Equal(3_000_000, allocation.GetProperty("allowanceMicros").GetInt64());
        else
            Assert.False(allocation.GetProperty("capped").GetBoolean());
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_request_denied_mails_the_member_and_changes_no_allowance()
    {
        var (client, owner, orgId, member, _, ownerEmail, memberEmail) = await OrgWithMemberAndEmailsAsync();
        var other = await host.NewUserAsync(client);

        var requestId = (await SendAsync(client, member, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests",
            new { credits = 5m, reason = "more please" }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
        await host.MailAsync(ownerEmail, "credit request");
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/deny", new { reason = "" }, HttpStatusCode.BadRequest);
        await SendAsync(client, other, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/deny", new { reason = "not mine" }, HttpStatusCode.NotFound);
        var denied = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/deny", new { reason = "the budget is spent this quarter" });
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests/{requestId}/deny", new { reason = "again" }, HttpStatusCode.Conflict);
        var toMember = await host.MailAsync(memberEmail, "denied");
        var allocation = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/allocation");

        Assert.Equal("denied", denied.GetProperty("status").GetString());
        Assert.Contains("the budget is spent this quarter", toMember.TextBody);
        Assert.Contains("the budget is spent this quarter", toMember.HtmlBody);
        Assert.False(allocation.GetProperty("capped").GetBoolean());
    }

    [Fact]
    public async Task Allocations_are_changed_by_managers_only_never_below_zero_and_a_retry_changes_nothing()
    {
        var (client, owner, orgId, member, memberId) = await OrgWithMemberAsync();
        var stranger = UserIdOf(await host.NewUserAsync(client));
        var path = $"/api/orgs/{orgId}/credits/allocations/{memberId}";

        for (var i = 0; i < 3; i++)
            await SendAsync(client, owner, HttpMethod.Post, path, new { credits = 10m, reason = "start" }, idempotencyKey: $"start-{memberId:N}");
        await SendAsync(client, owner, HttpMethod.Post, path, new { credits = -11m, reason = "too far" }, HttpStatusCode.Conflict);
        await SendAsync(client, owner, HttpMethod.Post, path, new { credits = 0.0000001m, reason = "dust" }, HttpStatusCode.BadRequest);
        await SendAsync(client, owner, HttpMethod.Post, path, new { credits = 1m, reason = "" }, HttpStatusCode.BadRequest);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{stranger}", new { credits = 1m, reason = "outsider" }, HttpStatusCode.NotFound);
        await SendAsync(client, member, HttpMethod.Post, path, new { credits = 100m, reason = "to myself" }, HttpStatusCode.Forbidden);
        await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/allocations", expected: HttpStatusCode.Forbidden);
        var lowered = await SendAsync(client, owner, HttpMethod.Post, path, new { credits = -4m, reason = "lower" });
        await SendAsync(client, owner, HttpMethod.Delete, path, expected: HttpStatusCode.NoContent);
        var uncapped = await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/credits/allocation");
        var account = await AllocationAccountAsync(orgId, memberId);

        Assert.Equal(6_000_000, lowered.GetProperty("allowanceMicros").GetInt64());
        Assert.False(uncapped.GetProperty("capped").GetBoolean());
        Assert.Equal("uncapped", uncapped.GetProperty("status").GetString());
        Assert.Equal(0, account.Balance);
        Assert.Equal(3, await host.EntryCountAsync(account.Id, CreditKind.Allocation, CreditKind.Expiry));   // +10 once, -4, the write-off
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task With_members_needing_an_allocation_an_uncapped_member_cannot_draw_on_the_pool()
    {
        var (client, owner, orgId, _, memberId) = await OrgWithMemberAsync();
        await host.FundPoolAsync(orgId, 10 * Cost);
        var spender = new Spender(orgId, memberId, null, null);
        var before = await HoldAsync(spender, Cost);

        var settings = await SendAsync(client, owner, HttpMethod.Put, $"/api/orgs/{orgId}/credits/settings", new { membersNeedAllocation = true });
        var refused = await HoldFailsAsync(spender, Cost);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{memberId}", new { credits = 1m, reason = "now capped" });
        var after = await HoldAsync(spender, Cost);

        Assert.Null(before.AllocationAccountId);
        Assert.True(settings.GetProperty("membersNeedAllocation").GetBoolean());
        Assert.Equal((402, ProblemTypes.AllowanceExceeded), (refused.Status, refused.Type));
        Assert.NotNull(after.AllocationAccountId);
        Assert.Equal((10 * Cost, 2 * Cost), await host.BalanceAsync(orgId));
    }

    static CreditGate Gate(AsyncServiceScope scope, TimeProvider clock)
    {
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return new CreditGate(db, new Ledger(db, clock), scope.ServiceProvider.GetRequiredService<AiHub.Credits.Plans.IQuotaService>(), clock);
    }

    async Task<List<ProblemException?>> RaceAsync(Spender spender, long cost, int calls) =>
        [.. await Task.WhenAll(Enumerable.Range(0, calls).Select(i => Task.Run(async () =>
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            try
            {
                await scope.ServiceProvider.GetRequiredService<CreditGate>().HoldAsync(spender, cost, $"race-{spender.UserId:N}-{i}", Ct);
                return (ProblemException?)null;
            }
            catch (ProblemException e) when (e.Status == 402)
            {
                return e;
            }
        }, Ct)))];

    async Task<CreditHold> HoldAsync(Spender spender, long cost, string? key = null)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<CreditGate>().HoldAsync(spender, cost, key ?? $"call-{Guid.NewGuid():N}", Ct);
    }

    async Task<ProblemException> HoldFailsAsync(Spender spender, long cost) =>
        await Assert.ThrowsAsync<ProblemException>(() => HoldAsync(spender, cost));

    async Task<(HttpClient, AuthTokens, Guid, AuthTokens, Guid)> OrgWithMemberAsync()
    {
        var (client, owner, orgId, member, memberId, _, _) = await OrgWithMemberAndEmailsAsync();
        return (client, owner, orgId, member, memberId);
    }

    async Task<(HttpClient, AuthTokens, Guid, AuthTokens, Guid, string, string)> OrgWithMemberAndEmailsAsync()
    {
        var client = host.Client();
        var ownerEmail = NewEmail("pool-owner");
        var owner = await host.NewUserAsync(client, ownerEmail);
        var orgId = await CreateOrgAsync(client, owner, "Pool " + Guid.NewGuid().ToString("N")[..6]);
        var memberEmail = NewEmail("pool-member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, orgId, memberEmail, member);
        return (client, owner, orgId, member, UserIdOf(member), ownerEmail, memberEmail);
    }

    async Task<CreditAccount> AllocationAccountAsync(Guid orgId, Guid userId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditAccount>().AsNoTracking()
            .FirstAsync(a => a.Owner == CreditOwner.Member && a.OrganizationId == orgId && a.UserId == userId, Ct);
    }
}

public sealed class PoolsOnSqlite(SqliteIdentityFixture fixture) : PoolTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class PoolsOnPostgres(PostgresIdentityFixture fixture) : PoolTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
