using System.Net;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Credits.Promo;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Credits.CreditSupport;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Promo codes: made by admins, redeemed once per user, never past their uses however many redeem at once.</summary>
public abstract class PromoCodeTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Fifty_concurrent_redemptions_of_a_ten_use_code_give_exactly_ten()
    {
        var code = UniqueCode("RUSH");
        var adminId = (await host.App.Services.NewAppUserAsync("promo")).Id;
        await using (var scope = host.App.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<PromoCodes>().CreateAsync(new PromoCodeRequest(code, 2.5m, 10, null), adminId, Ct);
        var users = new List<Guid>();
        for (var i = 0; i < 50; i++)
            users.Add((await host.App.Services.NewAppUserAsync("promo")).Id);

        var outcomes = await Task.WhenAll(users.Select(user => Task.Run(async () =>
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            try
            {
                await scope.ServiceProvider.GetRequiredService<PromoCodes>().RedeemAsync(user, code.ToLowerInvariant(), null, Ct);
                return "redeemed";
            }
            catch (ProblemException e)
            {
                return e.Type!;
            }
        }, Ct)));
        await using var check = host.App.Services.CreateAsyncScope();
        var db = check.ServiceProvider.GetRequiredService<AppDbContext>();
        var promo = await db.Set<PromoCode>().AsNoTracking().SingleAsync(p => p.Code == code, Ct);
        var entries = await db.Set<CreditEntry>().AsNoTracking().Where(e => e.IdempotencyKey.StartsWith($"promo:{promo.Id:N}:")).ToListAsync(Ct);
        var redemptions = await db.Set<PromoRedemption>().CountAsync(r => r.PromoCodeId == promo.Id, Ct);

        Assert.Equal(10, outcomes.Count(o => o == "redeemed"));
        Assert.All(outcomes.Where(o => o != "redeemed"), o => Assert.Equal(ProblemTypes.PromoCodeUsedUp, o));
        Assert.Equal(10, promo.Uses);
        Assert.Equal(10, entries.Count);
        Assert.All(entries, e => Assert.Equal((CreditKind.Promo, 2_500_000L), (e.Kind, e.Amount)));
        Assert.Equal(10, redemptions);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_user_redeems_a_code_once_and_a_retry_with_the_same_key_gets_the_first_answer()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var (start, entries) = (await host.BalanceMicrosAsync(UserIdOf(user)), await host.EntryCountAsync(UserIdOf(user)));
        var code = UniqueCode("WELCOME");
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code, credits = 5m }, HttpStatusCode.Created);

        var first = await RedeemAsync(client, user, $"  {code.ToLowerInvariant()} ", "redeem-1");
        var retried = await RedeemAsync(client, user, code, "redeem-1");
        using var again = await client.SendAsync(As(user, HttpMethod.Post, "/api/credits/redeem", new { code }), Ct);
        var refusal = await ProblemAsync(again);
        var otherKey = await RedeemAsync(client, user, code, "redeem-2", HttpStatusCode.Conflict);
        var history = await SendAsync(client, user, HttpMethod.Get, "/api/credits/history");
        var balance = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");

        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(ProblemTypes.PromoCodeAlreadyRedeemed, refusal.GetProperty("type").GetString());
        Assert.Equal(ProblemTypes.PromoCodeAlreadyRedeemed, otherKey.GetProperty("type").GetString());
        Assert.Equal(first.GetRawText(), retried.GetRawText());
        Assert.Equal(code, first.GetProperty("code").GetString());
        Assert.Equal(5_000_000, first.GetProperty("creditsMicros").GetInt64());
        Assert.Equal(5m, first.GetProperty("credits").GetDecimal());
        // One entry more than the user had before (the sign-up grant), and it is the newest.
        Assert.Equal(entries + 1, history.GetProperty("items").GetArrayLength());
        Assert.Equal("promo", history.GetProperty("items")[0].GetProperty("kind").GetString());
        Assert.Equal(first.GetProperty("entryId").GetGuid(), history.GetProperty("items")[0].GetProperty("id").GetGuid());
        Assert.Equal(start + 5_000_000, balance.GetProperty("balanceMicros").GetInt64());
    }

    [Fact]
    public async Task Each_refusal_has_its_own_type_and_message()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var other = await host.NewUserAsync(client);
        var start = await host.BalanceMicrosAsync(UserIdOf(user));
        var (withdrawn, single, old) = (UniqueCode("GONE"), UniqueCode("ONCE"), UniqueCode("OLD"));
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code = withdrawn, credits = 1m }, HttpStatusCode.Created);
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code = single, credits = 1m, maxUses = 1 }, HttpStatusCode.Created);
        await SendAsync(client, admin, HttpMethod.Delete, $"/api/admin/promo-codes/{withdrawn.ToLowerInvariant()}");
        await ExpiredCodeAsync(old);
        await RedeemAsync(client, other, single);

        var unknown = await RedeemAsync(client, user, UniqueCode("NOPE"), expected: HttpStatusCode.NotFound);
        var inactive = await RedeemAsync(client, user, withdrawn, expected: HttpStatusCode.Gone);
        var expired = await RedeemAsync(client, user, old, expected: HttpStatusCode.Gone);
        var usedUp = await RedeemAsync(client, user, single, expected: HttpStatusCode.Conflict);
        var twice = await RedeemAsync(client, other, single, expected: HttpStatusCode.Conflict);
        var empty = await RedeemAsync(client, user, " ", expected: HttpStatusCode.BadRequest);
        var balance = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");

        Assert.Equal(ProblemTypes.PromoCodeNotFound, unknown.GetProperty("type").GetString());
        Assert.Equal(ProblemTypes.PromoCodeInactive, inactive.GetProperty("type").GetString());
        Assert.Equal(ProblemTypes.PromoCodeExpired, expired.GetProperty("type").GetString());
        Assert.Equal(ProblemTypes.PromoCodeUsedUp, usedUp.GetProperty("type").GetString());
        Assert.Equal(ProblemTypes.PromoCodeAlreadyRedeemed, twice.GetProperty("type").GetString());
        Assert.Equal(ProblemTypes.Validation, empty.GetProperty("type").GetString());
        Assert.Equal(5, new[] { unknown, inactive, expired, usedUp, twice }.Select(p => p.GetProperty("title").GetString()).Distinct().Count());
        Assert.Equal(start, balance.GetProperty("balanceMicros").GetInt64());
    }

    [Fact]
    public async Task Admins_make_list_and_deactivate_codes_and_mistakes_are_named_by_field()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var code = UniqueCode("spring-sale");

        using var bad = await client.SendAsync(As(admin, HttpMethod.Post, "/api/admin/promo-codes",
            new { code = "a b", credits = 0.0000001m, maxUses = 0, expiresAt = DateTimeOffset.UtcNow.AddMinutes(-1) }), Ct);
        var problem = await ProblemAsync(bad);
        var created = await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes",
            new { code = $" {code.ToLowerInvariant()} ", credits = 0.000001m, maxUses = 3, expiresAt = DateTimeOffset.UtcNow.AddDays(7) }, HttpStatusCode.Created);
        var duplicate = await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code, credits = 1m }, HttpStatusCode.Conflict);
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code = "XY", credits = 1m }, HttpStatusCode.BadRequest);
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code = UniqueCode("NEG"), credits = -1m }, HttpStatusCode.BadRequest);
        await RedeemAsync(client, user, code);
        var listed = (await SendAsync(client, admin, HttpMethod.Get, "/api/admin/promo-codes")).EnumerateArray().Single(p => p.GetProperty("code").GetString() == code);
        var deactivated = await SendAsync(client, admin, HttpMethod.Delete, $"/api/admin/promo-codes/{code}");
        var after = (await SendAsync(client, admin, HttpMethod.Get, "/api/admin/promo-codes")).EnumerateArray().Single(p => p.GetProperty("code").GetString() == code);
        await SendAsync(client, admin, HttpMethod.Delete, $"/api/admin/promo-codes/{UniqueCode("NONE")}", expected: HttpStatusCode.NotFound);
        await SendAsync(client, user, HttpMethod.Post, "/api/admin/promo-codes", new { code = UniqueCode("MINE"), credits = 1m }, HttpStatusCode.Forbidden);
        await SendAsync(client, user, HttpMethod.Get, "/api/admin/promo-codes", expected: HttpStatusCode.Forbidden);
        await SendAsync(client, user, HttpMethod.Delete, $"/api/admin/promo-codes/{code}", expected: HttpStatusCode.Forbidden);

        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal(ProblemTypes.Validation, problem.GetProperty("type").GetString());
        Assert.Equal(["code", "credits", "expiresAt", "maxUses"], problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(code, created.GetProperty("code").GetString());
        Assert.Equal(1, created.GetProperty("creditsMicros").GetInt64());
        Assert.Equal(ProblemTypes.Conflict, duplicate.GetProperty("type").GetString());
        Assert.Equal((1, 3, true), (listed.GetProperty("uses").GetInt32(), listed.GetProperty("maxUses").GetInt32(), listed.GetProperty("active").GetBoolean()));
        Assert.False(deactivated.GetProperty("active").GetBoolean());
        Assert.Equal((1, false), (after.GetProperty("uses").GetInt32(), after.GetProperty("active").GetBoolean()));
    }

    [Fact]
    public async Task A_code_that_fails_to_save_for_another_reason_than_its_name_is_not_answered_as_taken()
    {
        var code = UniqueCode("GHOST");
        var nobody = Guid.CreateVersion7();

        // No user has this id: the insert breaks a foreign key, a real failure and no duplicate.
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var failure = await Assert.ThrowsAnyAsync<Exception>(() =>
                scope.ServiceProvider.GetRequiredService<PromoCodes>().CreateAsync(new PromoCodeRequest(code, 1m, null, null), nobody, Ct));
            Assert.IsType<DbUpdateException>(failure, exactMatch: false);
        }
        await using var check = host.App.Services.CreateAsyncScope();
        Assert.False(await check.ServiceProvider.GetRequiredService<AppDbContext>().Set<PromoCode>().AnyAsync(p => p.Code == code, Ct));
    }

    static Task<JsonElement> RedeemAsync(HttpClient client, AuthTokens who, string code, string? key = null, HttpStatusCode expected = HttpStatusCode.OK) =>
        SendAsync(client, who, HttpMethod.Post, "/api/credits/redeem", new { code }, expected, key);

    /// <summary>The API refuses to make a code that is already expired, so the test writes one as time would have left it.</summary>
    async Task ExpiredCodeAsync(string code)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var now = DateTimeOffset.UtcNow;
        db.Add(new PromoCode { Id = Guid.CreateVersion7(), Code = code, Credits = 1_000_000, Active = true, ExpiresAt = now.AddMinutes(-5), CreatedAt = now.AddDays(-1) });
        await db.SaveChangesAsync(Ct);
    }
}

public sealed class PromoCodesOnSqlite(SqliteIdentityFixture fixture) : PromoCodeTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class PromoCodesOnPostgres(PostgresIdentityFixture fixture) : PromoCodeTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
