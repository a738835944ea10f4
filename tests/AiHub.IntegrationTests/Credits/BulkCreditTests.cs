using AiHub.Infrastructure.Money;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Credits.Bulk;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Bulk adjustments from a CSV file: all rows or none, once per key, mistakes named by line and column.</summary>
public abstract class BulkCreditTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_valid_file_is_applied_in_one_go_and_once_per_key()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (aliceEmail, bobEmail) = (NewEmail("alice"), NewEmail("bob"));
        var alice = await host.NewUserAsync(client, aliceEmail);
        var bob = await host.NewUserAsync(client, bobEmail);
        var aliceStart = await host.BalanceMicrosAsync(UserIdOf(alice));
        var bobEntries = await host.EntryCountAsync(UserIdOf(bob));
        var csv = $"email,credits,reason\r\n{aliceEmail.ToUpperInvariant()},10,\"launch, first wave\"\r\n\"{bobEmail}\",2.5,\"said \"\"thanks\"\"\"\r\n{aliceEmail},-0.25,\"correction\nover two lines\"\r\n";

        var (status, first) = await BulkAsync(client, admin, csv, "bulk-launch");
        var (_, again) = await BulkAsync(client, admin, csv, "bulk-launch");
        var (_, differentFile) = await BulkAsync(client, admin, $"email,credits,reason\n{bobEmail},100,more\n", "bulk-launch");
        var aliceBalance = await SendAsync(client, alice, HttpMethod.Get, "/api/credits/balance");
        var bobHistory = await SendAsync(client, bob, HttpMethod.Get, "/api/credits/history");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(first.GetRawText(), again.GetRawText());
        Assert.Equal(first.GetRawText(), differentFile.GetRawText());
        Assert.Equal(3, first.GetProperty("rowsApplied").GetInt32());
        Assert.Equal(12.25m, first.GetProperty("totalCredits").GetDecimal());
        Assert.Equal(12_250_000, first.GetProperty("totalCreditsMicros").GetInt64());
        var accounts = first.GetProperty("accounts").EnumerateArray().ToList();
        Assert.Equal([(UserIdOf(alice), 2, 9_750_000L), (UserIdOf(bob), 1, 2_500_000L)],
            accounts.Select(a => (a.GetProperty("accountId").GetGuid(), a.GetProperty("rows").GetInt32(), a.GetProperty("creditsMicros").GetInt64())));
        Assert.Equal(aliceEmail, accounts[0].GetProperty("email").GetString());
        Assert.Equal(aliceStart + 9_750_000, aliceBalance.GetProperty("balanceMicros").GetInt64());
        // One entry more than bob had, and it is the newest.
        Assert.Equal(bobEntries + 1, bobHistory.GetProperty("items").GetArrayLength());
        Assert.Equal("said \"thanks\"", bobHistory.GetProperty("items")[0].GetProperty("reference").GetString());
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Any_mistake_is_reported_by_line_and_column_and_nothing_is_applied()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var email = NewEmail("carol");
        var carol = await host.NewUserAsync(client, email);
        var start = await host.BalanceMicrosAsync(UserIdOf(carol));
        // Line 9 takes 100 credits more than carol has by then, whatever she started with.
        var (takes, available) = (start + 100_000_000, start + 8_000_000);
        var csv = string.Join('\n',
            "email,credits,reason",
            $"{email},5,fine",
            $"{email},3,\"also fine\"",
            $"{email},\"12,5x\",typo",
            $"nobody-{Guid.NewGuid():N}@example.com,1,unknown",
            $"{email},0.0000001,dust",
            "not-an-email,1,bad",
            $"{email},1,",
            $"{email},-{Format(takes)},too much",
            $"{email},1");

        var (status, problem) = await BulkAsync(client, admin, csv, "bulk-mistakes");
        var balance = await SendAsync(client, carol, HttpMethod.Get, "/api/credits/balance");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(ProblemTypes.Validation, problem.GetProperty("type").GetString());
        var errors = problem.GetProperty("errors").EnumerateObject().ToDictionary(p => p.Name, p => p.Value[0].GetString());
        Assert.Equal("'12,5x' is not a number.", errors["line 4, column credits"]);
        Assert.Contains("No user has the email", errors["line 5, column email"]);
        Assert.Contains("more than 6 decimals", errors["line 6, column credits"]);
        Assert.Contains("not an email", errors["line 7, column email"]);
        Assert.Contains("Say why", errors["line 8, column reason"]);
        Assert.Contains($"Takes {Format(takes)} credits but only {Format(available)} are available", errors["line 9, column credits"]);
        Assert.Equal("Expected 3 fields, found 2.", errors["line 10"]);
        Assert.Equal(7, errors.Count);
        Assert.Equal(start, balance.GetProperty("balanceMicros").GetInt64());
    }

    [Fact]
    public async Task Files_come_as_csv_or_as_an_upload_and_broken_ones_are_refused()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var accountId = UserIdOf(user);
        var start = (await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance")).GetProperty("balanceMicros").GetInt64();

        using var upload = As(admin, HttpMethod.Post, "/api/admin/credits/bulk", idempotencyKey: $"upload-{accountId:N}");
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes($"\uFEFFaccountId,credits,reason\n{accountId},4,uploaded\n"));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "credits.csv");
        upload.Content = form;
        using var uploaded = await client.SendAsync(upload, Ct);
        var (missingKey, noKey) = await BulkAsync(client, admin, $"accountId,credits,reason\n{accountId},1,x\n", null);
        var (_, unknownAccount) = await BulkAsync(client, admin, $"accountId,credits,reason\n{Guid.NewGuid()},1,x\n", "bulk-unknown");
        var (_, badHeader) = await BulkAsync(client, admin, $"who,credits,reason\n{accountId},1,x\n", "bulk-header");
        var (_, openQuote) = await BulkAsync(client, admin, $"accountId,credits,reason\n{accountId},1,\"never closed\n", "bulk-quote");
        var (_, headerOnly) = await BulkAsync(client, admin, "accountId,credits,reason\n", "bulk-empty");
        using var notUtf8 = As(admin, HttpMethod.Post, "/api/admin/credits/bulk", idempotencyKey: "bulk-latin1");
        notUtf8.Content = new ByteArrayContent([.. Encoding.ASCII.GetBytes("accountId,credits,reason\n"), 0xFF, 0xFE, 0x0A]);
        notUtf8.Content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        using var latin1 = await client.SendAsync(notUtf8, Ct);
        using var asJson = As(admin, HttpMethod.Post, "/api/admin/credits/bulk", new { rows = 1 }, "bulk-json");
        using var json = await client.SendAsync(asJson, Ct);
        var (forbidden, _) = await BulkAsync(client, user, $"accountId,credits,reason\n{accountId},1,x\n", "bulk-self");
        var balance = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");

        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, missingKey);
        Assert.True(noKey.GetProperty("errors").TryGetProperty("Idempotency-Key", out _));
        Assert.Contains("line 2, column accountId", unknownAccount.GetProperty("errors").EnumerateObject().Select(p => p.Name));
        Assert.Contains("line 1", badHeader.GetProperty("errors").EnumerateObject().Select(p => p.Name));
        Assert.Contains("line 2", openQuote.GetProperty("errors").EnumerateObject().Select(p => p.Name));
        Assert.Contains("no rows", headerOnly.GetProperty("errors").GetProperty("line 1")[0].GetString());
        Assert.Equal(HttpStatusCode.BadRequest, latin1.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, json.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden);
        Assert.Equal(start + 4_000_000, balance.GetProperty("balanceMicros").GetInt64());
    }

    [Fact]
    public async Task Ten_thousand_rows_apply_and_one_more_is_refused()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var accountId = UserIdOf(user);
        var start = (await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance")).GetProperty("balanceMicros").GetInt64();
        var entries = await host.EntryCountAsync(accountId);
        string File(int rows) => "accountId,credits,reason\n" + string.Concat(Enumerable.Repeat($"{accountId},0.000001,drip\n", rows));

        var (tooMany, problem) = await BulkAsync(client, admin, File(BulkCredits.MaxRows + 1), "bulk-too-many");
        var (ok, result) = await BulkAsync(client, admin, File(BulkCredits.MaxRows), "bulk-max");
        var balance = await SendAsync(client, user, HttpMethod.Get, "/api/credits/balance");

        Assert.Equal(HttpStatusCode.BadRequest, tooMany);
        Assert.Contains("10,000", problem.GetProperty("errors").GetProperty("file")[0].GetString());
        Assert.True(ok == HttpStatusCode.OK, result.GetRawText());
        Assert.Equal(BulkCredits.MaxRows, result.GetProperty("rowsApplied").GetInt32());
        Assert.Equal(start + 10_000, balance.GetProperty("balanceMicros").GetInt64());
        Assert.Equal(entries + BulkCredits.MaxRows, await host.EntryCountAsync(accountId));
    }

    static string Format(long micros) => Micros.Format(micros);

    internal static async Task<(HttpStatusCode Status, JsonElement Body)> BulkAsync(HttpClient client, AuthTokens who, string csv, string? key)
    {
        using var request = As(who, HttpMethod.Post, "/api/admin/credits/bulk", idempotencyKey: key);
        request.Content = new StringContent(csv, Encoding.UTF8, "text/csv");
        using var response = await client.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }
}

public sealed class BulkCreditsOnSqlite(SqliteIdentityFixture fixture) : BulkCreditTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class BulkCreditsOnPostgres(PostgresIdentityFixture fixture) : BulkCreditTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
