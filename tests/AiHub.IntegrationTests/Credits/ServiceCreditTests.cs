using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>
/// An outside service spends an org's credits with an API key that has credits:spend: it checks, deducts once however
/// often it retries, holds for long work and settles or releases, on a real database, never past a balance, an
/// allowance or a key's budget, and never in another org.
/// </summary>
public abstract class ServiceCreditTests(IdentityHost host)
{
    const long Credit = 1_000_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_deduct_charges_the_pool_once_and_its_retry_answers_the_same_entry()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(10 * Credit);

        var check = await CallAsync(client, key, "/api/credits/check", new { credits = 2.5m, service = "image-upscaler" });
        var first = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 1.25m, service = "image-upscaler", reference = "upscale job 8812", idempotencyKey = "upscale-8812" }, HttpStatusCode.Created);
        var again = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 1.25m, service = "image-upscaler", reference = "upscale job 8812", idempotencyKey = "upscale-8812" });
        var otherAmount = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 2m, service = "image-upscaler", reference = "upscale job 8812", idempotencyKey = "upscale-8812" }, HttpStatusCode.Conflict);
        var otherService = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 1.25m, service = "video-render", reference = "upscale job 8812", idempotencyKey = "upscale-8812" }, HttpStatusCode.Conflict);

        Assert.True(check.GetProperty("allowed").GetBoolean());
        Assert.Equal((2.5m, 10m, 10m, "organization"), (check.GetProperty("credits").GetDecimal(), check.GetProperty("available").GetDecimal(),
            check.GetProperty("balance").GetDecimal(), check.GetProperty("payer").GetString()));
        Assert.Equal((1.25m, "image-upscaler", "upscale job 8812", 8.75m), (first.GetProperty("credits").GetDecimal(), first.GetProperty("service").GetString(),
            first.GetProperty("reference").GetString(), first.GetProperty("balanceAfter").GetDecimal()));
        Assert.Equal(first.GetRawText(), again.GetRawText());
        Assert.Equal("urn:aihub:problem:conflict", otherAmount.GetProperty("type").GetString());
        Assert.Equal("urn:aihub:problem:conflict", otherService.GetProperty("type").GetString());
        Assert.Equal((10 * Credit - 1_250_000, 0L), await host.BalanceAsync(orgId));
        Assert.Equal(1, await host.EntryCountAsync(orgId, CreditKind.Usage));
        var usage = await UsageOfAsync(first.GetProperty("holdId").GetGuid());
        Assert.Equal(("service", "image-upscaler", 1_250_000L, orgId), (usage.Provider, usage.Model, usage.CostMicros, usage.OrganizationId));
        Assert.Equal(key.Id, usage.ApiKeyId);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Twenty_concurrent_retries_of_one_deduct_key_make_one_entry_and_take_the_credits_once()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(10 * Credit);
        var body = new { credits = 3m, service = "partner.backend", reference = "order 42", idempotencyKey = "order-42" };

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            using var request = As(key.Tokens, HttpMethod.Post, "/api/credits/deduct", body);
            using var response = await client.SendAsync(request, Ct);
            return (response.StatusCode, Body: await response.Content.ReadFromJsonAsync<JsonElement>(Ct));
        }, Ct)));

        Assert.Equal(1, answers.Count(a => a.StatusCode == HttpStatusCode.Created));
        Assert.Equal(19, answers.Count(a => a.StatusCode == HttpStatusCode.OK));
        Assert.Single(answers.Select(a => a.Body.GetProperty("id").GetGuid()).Distinct());
        Assert.All(answers, a => Assert.Equal(7m, a.Body.GetProperty("balanceAfter").GetDecimal()));
        Assert.Equal((7 * Credit, 0L), await host.BalanceAsync(orgId));
        Assert.Equal(1, await host.EntryCountAsync(orgId, CreditKind.Usage));
        Assert.Equal(1, await CountAsync<UsageRecord>(r => r.OrganizationId == orgId));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Concurrent_deducts_never_overdraw_and_the_refused_are_told_what_is_available()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(5 * Credit);

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            using var request = As(key.Tokens, HttpMethod.Post, "/api/credits/deduct", new { credits = 1m, service = "racer", reference = $"call {i}", idempotencyKey = $"race-{i}" });
            using var response = await client.SendAsync(request, Ct);
            return (response.StatusCode, Body: await response.Content.ReadFromJsonAsync<JsonElement>(Ct));
        }, Ct)));

        Assert.Equal(5, answers.Count(a => a.StatusCode == HttpStatusCode.Created));
        var refused = answers.Where(a => a.StatusCode != HttpStatusCode.Created).ToList();
        Assert.Equal(15, refused.Count);
        Assert.All(refused, a =>
        {
            Assert.Equal(HttpStatusCode.PaymentRequired, a.StatusCode);
            Assert.Equal("urn:aihub:problem:insufficient-credits", a.Body.GetProperty("type").GetString());
            Assert.True(a.Body.GetProperty("available").GetDecimal() < 1m);
        });
        Assert.Equal((0L, 0L), await host.BalanceAsync(orgId));
        Assert.Equal(5, await host.EntryCountAsync(orgId, CreditKind.Usage));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_hold_keeps_its_credits_until_it_is_settled_at_the_real_cost_once_or_released()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(10 * Credit);
        var before = DateTimeOffset.UtcNow;

        var hold = await CallAsync(client, key, "/api/credits/holds",
            new { credits = 4m, service = "video-render", reference = "render 311", idempotencyKey = "render-311" }, HttpStatusCode.Created);
        var id = hold.GetProperty("id").GetGuid();
        var retry = await CallAsync(client, key, "/api/credits/holds", new { credits = 4m, service = "video-render", reference = "render 311", idempotencyKey = "render-311" });
        var whileHeld = await CallAsync(client, key, "/api/credits/check", new { credits = 7m, service = "video-render" });
        var heldBalance = await host.BalanceAsync(orgId);
        var tooMuch = await CallAsync(client, key, $"/api/credits/holds/{id}/settle", new { credits = 4.5m }, HttpStatusCode.BadRequest);
        var settled = await CallAsync(client, key, $"/api/credits/holds/{id}/settle", new { credits = 3m });
        var settledAgain = await CallAsync(client, key, $"/api/credits/holds/{id}/settle", new { credits = 3m });
        var settledOther = await CallAsync(client, key, $"/api/credits/holds/{id}/settle", new { credits = 2m }, HttpStatusCode.Conflict);
        var releaseSettled = await CallAsync(client, key, $"/api/credits/holds/{id}/release", null, HttpStatusCode.Conflict);
        var got = await CallAsync(client, key, $"/api/credits/holds/{id}", null, method: HttpMethod.Get);

        var second = (await CallAsync(client, key, "/api/credits/holds",
            new { credits = 2m, service = "video-render", reference = "render 312", idempotencyKey = "render-312", expiresInSeconds = 600 }, HttpStatusCode.Created))
            .GetProperty("id").GetGuid();
        var released = await CallAsync(client, key, $"/api/credits/holds/{second}/release");
        var releasedAgain = await CallAsync(client, key, $"/api/credits/holds/{second}/release");
        var settleReleased = await CallAsync(client, key, $"/api/credits/holds/{second}/settle", new { credits = 1m }, HttpStatusCode.Conflict);

        Assert.Equal("held", hold.GetProperty("state").GetString());
        Assert.InRange(hold.GetProperty("expiresAt").GetDateTimeOffset(), before.AddMinutes(59), DateTimeOffset.UtcNow.AddMinutes(61));
        Assert.Equal(id, retry.GetProperty("id").GetGuid());
        Assert.False(whileHeld.GetProperty("allowed").GetBoolean());
        Assert.Equal((6m, 10m, "urn:aihub:problem:insufficient-credits"), (whileHeld.GetProperty("available").GetDecimal(), whileHeld.GetProperty("balance").GetDecimal(),
            whileHeld.GetProperty("reason").GetString()));
        Assert.Equal((10 * Credit, 4 * Credit), heldBalance);
        Assert.True(tooMuch.GetProperty("errors").TryGetProperty("credits", out _), tooMuch.GetRawText());
        Assert.Equal((3m, 7m, id), (settled.GetProperty("credits").GetDecimal(), settled.GetProperty("balanceAfter").GetDecimal(), settled.GetProperty("holdId").GetGuid()));
        Assert.Equal(settled.GetRawText(), settledAgain.GetRawText());
        Assert.Equal("urn:aihub:problem:conflict", settledOther.GetProperty("type").GetString());
        Assert.Equal(409, releaseSettled.GetProperty("status").GetInt32());
        Assert.Equal(("settled", 3m), (got.GetProperty("state").GetString(), got.GetProperty("settled").GetDecimal()));
        Assert.Equal("released", released.GetProperty("state").GetString());
        Assert.Equal("released", releasedAgain.GetProperty("state").GetString());
        Assert.Equal(409, settleReleased.GetProperty("status").GetInt32());
        Assert.Equal((7 * Credit, 0L), await host.BalanceAsync(orgId));
        var usage = await UsageOfAsync(id);
        Assert.Equal(("service", "video-render", 3 * Credit), (usage.Provider, usage.Model, usage.CostMicros));
        Assert.Equal(0, await CountAsync<UsageRecord>(r => r.IdempotencyKey == $"service:{second:N}"));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Another_orgs_hold_is_not_found_and_stays_as_it_was()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(10 * Credit);
        var (_, _, _, stranger) = await OrgWithKeyAsync(10 * Credit);
        var id = (await CallAsync(client, key, "/api/credits/holds",
            new { credits = 2m, service = "video-render", reference = "mine", idempotencyKey = "mine" }, HttpStatusCode.Created)).GetProperty("id").GetGuid();

        var get = await CallAsync(client, stranger, $"/api/credits/holds/{id}", null, HttpStatusCode.NotFound, HttpMethod.Get);
        var settle = await CallAsync(client, stranger, $"/api/credits/holds/{id}/settle", new { credits = 1m }, HttpStatusCode.NotFound);
        var release = await CallAsync(client, stranger, $"/api/credits/holds/{id}/release", null, HttpStatusCode.NotFound);
        var unknown = await CallAsync(client, key, $"/api/credits/holds/{Guid.NewGuid()}", null, HttpStatusCode.NotFound, HttpMethod.Get);

        Assert.All(new[] { get, settle, release, unknown }, p => Assert.Equal("urn:aihub:problem:not-found", p.GetProperty("type").GetString()));
        Assert.Equal((10 * Credit, 2 * Credit), await host.BalanceAsync(orgId));
        Assert.Equal("held", (await CallAsync(client, key, $"/api/credits/holds/{id}", null, method: HttpMethod.Get)).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Only_an_api_key_with_credits_spend_may_check_deduct_or_hold()
    {
        var (client, owner, orgId, _) = await OrgWithKeyAsync(10 * Credit);
        var chatKey = await KeyAsync(client, owner, orgId, ["chat:use"]);
        var deduct = new { credits = 1m, service = "svc", reference = "r", idempotencyKey = "k" };

        var noPermission = await CallAsync(client, chatKey, "/api/credits/deduct", deduct, HttpStatusCode.Forbidden);
        var noPermissionCheck = await CallAsync(client, chatKey, "/api/credits/check", new { credits = 1m, service = "svc" }, HttpStatusCode.Forbidden);
        var asUser = await CallAsync(client, new Key(owner, Guid.Empty), "/api/credits/deduct", deduct, HttpStatusCode.Forbidden);
        var asUserHold = await CallAsync(client, new Key(owner, Guid.Empty), "/api/credits/holds", deduct, HttpStatusCode.Forbidden);
        using var anonymous = await client.PostAsJsonAsync("/api/credits/deduct", deduct, Ct);

        Assert.All(new[] { noPermission, noPermissionCheck, asUser, asUserHold }, p =>
        {
            Assert.Equal("urn:aihub:problem:forbidden", p.GetProperty("type").GetString());
            Assert.Contains("credits:spend", p.GetProperty("title").GetString(), StringComparison.Ordinal);
        });
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal((10 * Credit, 0L), await host.BalanceAsync(orgId));
        Assert.Equal(0, await host.EntryCountAsync(orgId, CreditKind.Usage));
    }

    [Theory]
    [InlineData("credits", "0", "svc", "r", "k", null)]
    [InlineData("credits", "-1", "svc", "r", "k", null)]
    [InlineData("credits", "0.0000001", "svc", "r", "k", null)]
    [InlineData("credits", null, "svc", "r", "k", null)]
    [InlineData("service", "1", "Upper Case", "r", "k", null)]
    [InlineData("service", "1", "", "r", "k", null)]
    [InlineData("service", "1", "svc\n", "r", "k", null)]
    [InlineData("reference", "1", "svc", "", "k", null)]
    [InlineData("idempotencyKey", "1", "svc", "r", "", null)]
    [InlineData("expiresInSeconds", "1", "svc", "r", "k", 0)]
    [InlineData("expiresInSeconds", "1", "svc", "r", "k", 604801)]
    public async Task Bad_input_is_a_400_naming_the_field_and_moves_nothing(string field, string? credits, string service, string reference, string key, int? expires)
    {
        var (client, _, orgId, spender) = await OrgWithKeyAsync(10 * Credit);
        var amount = credits is null ? (decimal?)null : decimal.Parse(credits, System.Globalization.CultureInfo.InvariantCulture);
        var path = expires is null ? "/api/credits/deduct" : "/api/credits/holds";

        var problem = await CallAsync(client, spender, path,
            new { credits = amount, service, reference, idempotencyKey = key, expiresInSeconds = expires }, HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.GetRawText());
        Assert.Equal((10 * Credit, 0L), await host.BalanceAsync(orgId));
    }

    [Fact]
    public async Task Long_names_and_references_are_refused()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(10 * Credit);

        var service = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 1m, service = new string('a', 65), reference = "r", idempotencyKey = "k" }, HttpStatusCode.BadRequest);
        var reference = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 1m, service = "svc", reference = new string('r', 201), idempotencyKey = "k" }, HttpStatusCode.BadRequest);
        var idempotencyKey = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 1m, service = "svc", reference = "r", idempotencyKey = new string('k', 151) }, HttpStatusCode.BadRequest);
        var fits = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 1m, service = new string('a', 64), reference = new string('r', 200), idempotencyKey = new string('k', 150) }, HttpStatusCode.Created);

        Assert.True(service.GetProperty("errors").TryGetProperty("service", out _));
        Assert.True(reference.GetProperty("errors").TryGetProperty("reference", out _));
        Assert.True(idempotencyKey.GetProperty("errors").TryGetProperty("idempotencyKey", out _));
        Assert.Equal(9m, fits.GetProperty("balanceAfter").GetDecimal());
        Assert.Equal((9 * Credit, 0L), await host.BalanceAsync(orgId));
    }

    [Fact]
    public async Task Over_the_balance_is_a_402_with_what_is_available_and_nothing_held()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(2 * Credit);

        var deduct = await CallAsync(client, key, "/api/credits/deduct",
            new { credits = 2.5m, service = "svc", reference = "too much", idempotencyKey = "too-much" }, HttpStatusCode.PaymentRequired);
        var hold = await CallAsync(client, key, "/api/credits/holds",
            new { credits = 3m, service = "svc", reference = "too much", idempotencyKey = "too-much" }, HttpStatusCode.PaymentRequired);
        var check = await CallAsync(client, key, "/api/credits/check", new { credits = 2.5m, service = "svc" });

        Assert.All(new[] { deduct, hold }, p =>
        {
            Assert.Equal("urn:aihub:problem:insufficient-credits", p.GetProperty("type").GetString());
            Assert.Equal(2m, p.GetProperty("available").GetDecimal());
        });
        Assert.Equal((false, 2m, "urn:aihub:problem:insufficient-credits"),
            (check.GetProperty("allowed").GetBoolean(), check.GetProperty("available").GetDecimal(), check.GetProperty("reason").GetString()));
        Assert.Equal((2 * Credit, 0L), await host.BalanceAsync(orgId));
        Assert.Equal(0, await CountAsync<LedgerHold>(h => h.OrganizationId == orgId));
    }

    [Fact]
    public async Task A_members_allowance_and_the_keys_budget_cap_what_a_service_spends()
    {
        var (client, owner, orgId, _) = await OrgWithKeyAsync(100 * Credit);
        var memberEmail = NewEmail("service-member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, orgId, memberEmail, member);
        var memberId = UserIdOf(member);
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{memberId}", new { credits = 3m, reason = "service allowance" });
        var budgeted = await KeyAsync(client, owner, orgId, ["credits:spend"], monthlyBudgetCredits: 5);
        var outsider = UserIdOf(await host.NewUserAsync(client));

        var memberCheck = await CallAsync(client, budgeted, "/api/credits/check", new { credits = 4m, service = "svc", userId = memberId });
        var overAllowance = await CallAsync(client, budgeted, "/api/credits/deduct",
            new { credits = 4m, service = "svc", reference = "member", idempotencyKey = "member-4", userId = memberId }, HttpStatusCode.PaymentRequired);
        var withinAllowance = await CallAsync(client, budgeted, "/api/credits/deduct",
            new { credits = 3m, service = "svc", reference = "member", idempotencyKey = "member-3", userId = memberId }, HttpStatusCode.Created);
        var overBudget = await CallAsync(client, budgeted, "/api/credits/deduct",
            new { credits = 2.5m, service = "svc", reference = "owner", idempotencyKey = "owner-2.5" }, HttpStatusCode.PaymentRequired);
        var budgetCheck = await CallAsync(client, budgeted, "/api/credits/check", new { credits = 2.5m, service = "svc" });
        var notMember = await CallAsync(client, budgeted, "/api/credits/check", new { credits = 1m, service = "svc", userId = outsider }, HttpStatusCode.NotFound);

        Assert.Equal((false, 3m, "urn:aihub:problem:allowance-exceeded"),
            (memberCheck.GetProperty("allowed").GetBoolean(), memberCheck.GetProperty("available").GetDecimal(), memberCheck.GetProperty("reason").GetString()));
        Assert.Equal(("urn:aihub:problem:allowance-exceeded", 3m), (overAllowance.GetProperty("type").GetString(), overAllowance.GetProperty("available").GetDecimal()));
        Assert.Equal(97m, withinAllowance.GetProperty("balanceAfter").GetDecimal());
        Assert.Equal("urn:aihub:problem:api-key-budget-exceeded", overBudget.GetProperty("type").GetString());
        Assert.Equal((false, 2m, "urn:aihub:problem:api-key-budget-exceeded"),
            (budgetCheck.GetProperty("allowed").GetBoolean(), budgetCheck.GetProperty("available").GetDecimal(), budgetCheck.GetProperty("reason").GetString()));
        Assert.Equal("urn:aihub:problem:not-found", notMember.GetProperty("type").GetString());
        Assert.Equal((97 * Credit, 0L), await host.BalanceAsync(orgId));
        Assert.Equal(memberId, (await UsageOfAsync(withinAllowance.GetProperty("holdId").GetGuid())).UserId);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task An_expired_hold_gives_its_credits_back_and_cannot_be_settled()
    {
        var (client, _, orgId, key) = await OrgWithKeyAsync(10 * Credit);
        var id = (await CallAsync(client, key, "/api/credits/holds",
            new { credits = 4m, service = "video-render", reference = "slow", idempotencyKey = "slow", expiresInSeconds = 1 }, HttpStatusCode.Created))
            .GetProperty("id").GetGuid();

        // The ledger's expiry job, run on a clock past the hold's one-second lifetime.
        await using (var scope = host.App.Services.CreateAsyncScope())
            await new Ledger(scope.ServiceProvider.GetRequiredService<AppDbContext>(), new FakeTimeProvider(DateTimeOffset.UtcNow.AddSeconds(5))).VoidExpiredAsync(Ct);
        var settle = await CallAsync(client, key, $"/api/credits/holds/{id}/settle", new { credits = 1m }, HttpStatusCode.Conflict);
        var got = await CallAsync(client, key, $"/api/credits/holds/{id}", null, method: HttpMethod.Get);

        Assert.Equal("The hold has expired.", settle.GetProperty("title").GetString());
        Assert.Equal("expired", got.GetProperty("state").GetString());
        Assert.Equal((10 * Credit, 0L), await host.BalanceAsync(orgId));
        Assert.Equal(0, await host.EntryCountAsync(orgId, CreditKind.Usage));
    }

    [Fact]
    public async Task A_personal_orgs_key_spends_the_owners_own_credits()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var ownerId = UserIdOf(owner);
        var personal = await PersonalOrgAsync(client, owner);
        await host.FundUserAsync(ownerId, 10 * Credit);
        var (start, _) = await host.BalanceAsync(ownerId);
        var key = await KeyAsync(client, owner, personal, ["credits:spend"]);

        var check = await CallAsync(client, key, "/api/credits/check", new { credits = 1m, service = "svc" });
        var deduct = await CallAsync(client, key, "/api/credits/deduct", new { credits = 1m, service = "svc", reference = "own", idempotencyKey = "own" }, HttpStatusCode.Created);

        Assert.Equal(("user", true), (check.GetProperty("payer").GetString(), check.GetProperty("allowed").GetBoolean()));
        Assert.Equal(Micros(start - Credit), deduct.GetProperty("balanceAfter").GetDecimal());
        Assert.Equal((start - Credit, 0L), await host.BalanceAsync(ownerId));
        Assert.Equal((0L, 0L), await host.BalanceAsync(personal));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    static decimal Micros(long micros) => micros / (decimal)Credit;

    /// <summary>An API key's secret as a bearer token, and its id.</summary>
    sealed record Key(AuthTokens Tokens, Guid Id);

    async Task<(HttpClient Client, AuthTokens Owner, Guid OrgId, Key Key)> OrgWithKeyAsync(long funds)
    {
        var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Services " + Guid.NewGuid().ToString("N")[..6]);
        await host.FundPoolAsync(orgId, funds);
        return (client, owner, orgId, await KeyAsync(client, owner, orgId, ["credits:spend"]));
    }

    static async Task<Key> KeyAsync(HttpClient client, AuthTokens owner, Guid orgId, string[] permissions, long? monthlyBudgetCredits = null)
    {
        var created = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "service", permissions, monthlyBudgetCredits }, HttpStatusCode.Created);
        return new Key(new AuthTokens(created.GetProperty("secret").GetString()!, "", 0, "Bearer"), created.GetProperty("key").GetProperty("id").GetGuid());
    }

    static async Task<JsonElement> CallAsync(HttpClient client, Key key, string path, object? body = null, HttpStatusCode expected = HttpStatusCode.OK, HttpMethod? method = null) =>
        await SendAsync(client, key.Tokens, method ?? HttpMethod.Post, path, body, expected);

    async Task<UsageRecord> UsageOfAsync(Guid holdId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().AsNoTracking().IgnoreQueryFilters()
            .SingleAsync(r => r.IdempotencyKey == $"service:{holdId:N}", Ct);
    }

    async Task<int> CountAsync<T>(System.Linq.Expressions.Expression<Func<T, bool>> where) where T : class
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<T>().IgnoreQueryFilters().CountAsync(where, Ct);
    }
}

public sealed class ServiceCreditsOnSqlite(SqliteIdentityFixture fixture) : ServiceCreditTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class ServiceCreditsOnPostgres(PostgresIdentityFixture fixture) : ServiceCreditTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
