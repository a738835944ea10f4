using AiHub.Infrastructure.Money;
using System.Net;
using System.Text;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Every amount and balance has a maximum: a refusal is a 400 naming the field and writes nothing, and the ledger stays sound.</summary>
public abstract class LedgerBoundsTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly string[] ChatUse = ["chat:use"];

    const decimal MaxEntryCredits = CreditLimits.MaxEntryMicros / (decimal)Micros.PerCredit;
    const decimal MaxBalanceCredits = CreditLimits.MaxBalanceMicros / (decimal)Micros.PerCredit;

    static void AssertCreditLimit(JsonElement problem, string field)
    {
        Assert.Equal("urn:aihub:problem:credit-limit", problem.GetProperty("type").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    async Task AssertUnchangedAsync(Guid accountId, (long Balance, long Reserved) before, int entries)
    {
        Assert.Equal(before, await host.BalanceAsync(accountId));
        Assert.Equal(entries, await host.EntryCountAsync(accountId));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    /// <summary>An account filled to exactly the balance maximum with one bulk file of entries each at the entry maximum.</summary>
    async Task<(Guid AccountId, string Email)> FullAccountAsync(HttpClient client, AuthTokens admin)
    {
        var user = await host.App.Services.NewAppUserAsync("full");
        var rows = (int)(MaxBalanceCredits / MaxEntryCredits);
        var csv = new StringBuilder("email,credits,reason\n");
        for (var i = 0; i < rows; i++)
            csv.Append(user.Email).Append(',').Append(MaxEntryCredits).Append(",edge\n");
        var (status, body) = await BulkCreditTests.BulkAsync(client, admin, csv.ToString(), $"full-{user.Id:N}");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(CreditLimits.MaxBalanceMicros, await host.BalanceMicrosAsync(user.Id));
        return (user.Id, user.Email!);
    }

    [Fact]
    public async Task Adjusting_by_long_MaxValue_is_refused_naming_the_amount_and_writes_nothing()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var accountId = (await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance")).GetProperty("accountId").GetGuid();
        var before = await host.BalanceAsync(accountId);
        var entries = await host.EntryCountAsync(accountId);

        foreach (var amount in new[] { (decimal)long.MaxValue, -(decimal)long.MaxValue, MaxEntryCredits + 0.000001m })
        {
            var problem = await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount, reason = "overflow" }, HttpStatusCode.BadRequest);
            AssertCreditLimit(problem, "amount");
        }
        await AssertUnchangedAsync(accountId, before, entries);
    }

    [Fact]
    public async Task A_balance_at_its_maximum_takes_nothing_more_and_two_adjustments_that_together_pass_it_stop_at_the_second()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (accountId, _) = await FullAccountAsync(client, admin);
        Assert.Empty(await host.VerifyLedgerAsync());

        var full = await host.BalanceAsync(accountId);
        var entries = await host.EntryCountAsync(accountId);
        var problem = await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 0.000001m, reason = "one more" }, HttpStatusCode.BadRequest);
        AssertCreditLimit(problem, "amount");
        await AssertUnchangedAsync(accountId, full, entries);

        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = -MaxEntryCredits, reason = "make room" });
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 600_000_000m, reason = "first half" });
        var afterFirst = await host.BalanceAsync(accountId);
        problem = await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 600_000_000m, reason = "second half" }, HttpStatusCode.BadRequest);
        AssertCreditLimit(problem, "amount");
        await AssertUnchangedAsync(accountId, afterFirst, entries + 2);
    }

    [Fact]
    public async Task A_bulk_row_past_the_balance_maximum_refuses_the_whole_file()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (accountId, email) = await FullAccountAsync(client, admin);
        var before = await host.BalanceAsync(accountId);
        var entries = await host.EntryCountAsync(accountId);

        var (status, problem) = await BulkCreditTests.BulkAsync(client, admin, $"email,credits,reason\n{email},-1,first\n{email},2,past the top\n", "bulk-past-max");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(problem.GetProperty("errors").TryGetProperty("line 3, column credits", out _), problem.ToString());
        var (tooBig, rowProblem) = await BulkCreditTests.BulkAsync(client, admin, $"email,credits,reason\n{email},-{MaxEntryCredits + 1},too much\n", "bulk-past-entry");
        Assert.Equal(HttpStatusCode.BadRequest, tooBig);
        Assert.True(rowProblem.GetProperty("errors").TryGetProperty("line 2, column credits", out _), rowProblem.ToString());
        await AssertUnchangedAsync(accountId, before, entries);
    }

    [Fact]
    public async Task Taking_below_the_floor_is_refused_and_writes_nothing()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var balance = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");
        var accountId = balance.GetProperty("accountId").GetGuid();
        var available = balance.GetProperty("available").GetDecimal();
        var before = await host.BalanceAsync(accountId);
        var entries = await host.EntryCountAsync(accountId);

        var problem = await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = -(available + 0.000001m), reason = "below zero" }, HttpStatusCode.PaymentRequired);
        Assert.Equal("urn:aihub:problem:insufficient-credits", problem.GetProperty("type").GetString());
        await AssertUnchangedAsync(accountId, before, entries);
    }

    [Fact]
    public async Task Promo_codes_plan_grants_allocations_and_key_budgets_past_the_maximum_are_refused_naming_the_field()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Bounds");

        var code = CreditSupport.UniqueCode("HUGE");
        AssertCreditLimit(await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code, credits = MaxEntryCredits * 2 }, HttpStatusCode.BadRequest), "credits");
        await SendAsync(client, owner, HttpMethod.Post, "/api/credits/redeem", new { code }, HttpStatusCode.NotFound);

        AssertCreditLimit(await SendAsync(client, admin, HttpMethod.Put, "/api/admin/plans/HUGE", new
        {
            name = "Huge", chatQuestions = 1, chatPeriod = "day", storageBytes = 1, videos = 1, priceCents = 0, currency = "USD", grant = (decimal)long.MaxValue, active = true, sortOrder = 9,
        }, HttpStatusCode.BadRequest), "grant");
        Assert.DoesNotContain("\"HUGE\"", (await SendAsync(client, admin, HttpMethod.Get, "/api/plans")).ToString(), StringComparison.Ordinal);

        AssertCreditLimit(await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/allocations/{UserIdOf(owner)}",
            new { credits = (decimal)long.MaxValue, reason = "all of it" }, HttpStatusCode.BadRequest), "credits");

        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys",
            new { name = "huge", permissions = ChatUse, monthlyBudgetCredits = long.MaxValue }, HttpStatusCode.BadRequest);
        Assert.True(key.GetProperty("errors").TryGetProperty("monthlyBudgetCredits", out _), key.ToString());
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Ledger_verify_sums_entries_whose_running_total_would_overflow_a_64_bit_sum()
    {
        var user = await host.App.Services.NewAppUserAsync("legacy");
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();
            var account = await ledger.OpenAsync(CreditOwner.User, user.Id, null, Ct);
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            // Entries written before the bounds existed: they balance to zero, but no order of a 64-bit sum gets there.
            var at = DateTimeOffset.UtcNow;
            foreach (var (amount, i) in new[] { long.MaxValue, long.MaxValue, -long.MaxValue, -long.MaxValue }.Select((a, i) => (a, i)))
                db.Add(new CreditEntry
                {
                    Id = Guid.CreateVersion7(), AccountId = account.Id, Kind = CreditKind.Adjustment, Amount = amount, Reference = "legacy",
                    IdempotencyKey = $"legacy-{user.Id:N}-{i}", CreatedAt = at,
                });
            await db.SaveChangesAsync(Ct);
        }

        Assert.DoesNotContain(await host.VerifyLedgerAsync(), r => r.AccountId == user.Id);
    }
}

public sealed class LedgerBoundsOnSqlite(SqliteIdentityFixture fixture) : LedgerBoundsTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class LedgerBoundsOnPostgres(PostgresIdentityFixture fixture) : LedgerBoundsTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
