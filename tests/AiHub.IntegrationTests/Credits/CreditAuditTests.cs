using System.Net;
using System.Text.Json;
using AiHub.Infrastructure.Audit;
using AiHub.Credits;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Credits.BulkCreditTests;
using static AiHub.IntegrationTests.Credits.CreditSupport;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>The credit audit trail, and retries of every endpoint that moves credits.</summary>
public abstract class CreditAuditTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_credit_moving_endpoint_retried_with_its_key_answers_the_same_and_writes_one_entry()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var opened = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");
        var accountId = opened.GetProperty("accountId").GetGuid();
        var start = opened.GetProperty("balanceMicros").GetInt64();
        var code = UniqueCode("RETRY");
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code, credits = 3m }, HttpStatusCode.Created);

        var adjust = await TwiceAsync(client, admin, "/api/admin/credits/adjust", $"adjust-{accountId:N}", new { accountId, amount = 7m, reason = "retry" });
        var redeem = await TwiceAsync(client, user, "/api/credits/redeem", $"redeem-{accountId:N}", new { code });
        var bulk = new List<string>();
        for (var i = 0; i < 2; i++)
            bulk.Add((await BulkAsync(client, admin, $"accountId,credits,reason\n{accountId},1.25,retry\n", $"bulk-{accountId:N}")).Body.GetRawText());
        await using var scope = host.App.Services.CreateAsyncScope();
        var entries = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditEntry>().AsNoTracking()
            .Where(e => e.AccountId == accountId).Select(e => e.Kind).ToListAsync(Ct);

        Assert.Equal(adjust[0], adjust[1]);
        Assert.Equal(redeem[0], redeem[1]);
        Assert.Equal(bulk[0], bulk[1]);
        Assert.Equal(2, entries.Count(k => k == CreditKind.Adjustment));
        Assert.Equal(1, entries.Count(k => k == CreditKind.Promo));
        Assert.Equal(start + 11_250_000, (await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance")).GetProperty("balanceMicros").GetInt64());
    }

    [Fact]
    public async Task The_credit_audit_pages_through_credit_events_only_for_those_who_may_read_credits()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var accountId = (await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance")).GetProperty("accountId").GetGuid();
        var code = UniqueCode("AUDIT");
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/promo-codes", new { code, credits = 1m }, HttpStatusCode.Created);
        await SendAsync(client, user, HttpMethod.Post, "/api/credits/redeem", new { code });
        await SendAsync(client, admin, HttpMethod.Delete, $"/api/admin/promo-codes/{code}");
        await SendAsync(client, admin, HttpMethod.Post, "/api/admin/credits/adjust", new { accountId, amount = 2m, reason = "audited" });
        await BulkAsync(client, admin, $"accountId,credits,reason\n{accountId},1,bulk audited\n", $"audit-{accountId:N}");

        var all = new List<JsonElement>();
        string? before = null;
        do
        {
            var page = await SendAsync(client, admin, HttpMethod.Get, $"/api/admin/credits/audit?limit=2&userId={UserIdOf(admin)}{(before is null ? "" : "&before=" + Uri.EscapeDataString(before))}");
            all.AddRange(page.GetProperty("items").EnumerateArray());
            before = page.GetProperty("before").ValueKind == JsonValueKind.Null ? null : page.GetProperty("before").GetString();
        }
        while (before is not null);
        var redeemed = await SendAsync(client, admin, HttpMethod.Get, $"/api/admin/credits/audit?kind={AuditKinds.PromoCodeRedeemed}&userId={UserIdOf(user)}");
        await SendAsync(client, admin, HttpMethod.Get, $"/api/admin/credits/audit?kind={AuditKinds.LoginSucceeded}", expected: HttpStatusCode.BadRequest);
        await SendAsync(client, user, HttpMethod.Get, "/api/admin/credits/audit", expected: HttpStatusCode.Forbidden);

        Assert.Equal(
            [AuditKinds.CreditsBulkAdjusted, AuditKinds.CreditsAdjusted, AuditKinds.PromoCodeDeactivated, AuditKinds.PromoCodeCreated],
            all.Select(e => e.GetProperty("kind").GetString()));
        Assert.Contains("bulk audited", all[0].GetProperty("data").GetString());
        Assert.Contains(code, Assert.Single(redeemed.GetProperty("items").EnumerateArray()).GetProperty("data").GetString());
    }

    static async Task<string[]> TwiceAsync(HttpClient client, AuthTokens who, string path, string key, object body) =>
        [(await SendAsync(client, who, HttpMethod.Post, path, body, idempotencyKey: key)).GetRawText(),
         (await SendAsync(client, who, HttpMethod.Post, path, body, idempotencyKey: key)).GetRawText()];
}

public sealed class CreditAuditOnSqlite(SqliteIdentityFixture fixture) : CreditAuditTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class CreditAuditOnPostgres(PostgresIdentityFixture fixture) : CreditAuditTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
