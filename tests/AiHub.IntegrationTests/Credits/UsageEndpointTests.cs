using System.Net;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Credits.Usage;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Credits.UsageSupport;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Usage over HTTP: exact sums however grouped, whether aggregated or not, CSV that reads back, and the tenant fence.</summary>
public abstract class UsageEndpointTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static DateTimeOffset At(int day, int hour, int minute) => new(2026, 6, day, hour, minute, 0, TimeSpan.Zero);

    const string June = "from=2026-06-01&to=2026-06-04";

    static readonly string[] KeyPermissions = ["api-keys:read"];

    /// <summary>Four calls over three of four days, half of them rolled up before they are read.</summary>
    async Task<(AuthTokens Owner, Guid OrgId, Guid KeyId)> SpendAsync(HttpClient client)
    {
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Spending");
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = KeyPermissions }, HttpStatusCode.Created);
        var keyId = key.GetProperty("key").GetProperty("id").GetGuid();
        var me = UserIdOf(owner);
        await RecordAsync(host, Call(orgId, me, "openai", "gpt-4o-mini", 1_000, 500, At(1, 10, 0), latencyMs: 300));                   // 45_000
        await RecordAsync(host, Call(orgId, me, "anthropic", "claude-sonnet-4-0", 2_000, 100, At(1, 23, 59), apiKeyId: keyId));       // 750_000
        await RecordAsync(host, Call(orgId, me, "openai", "gpt-4o", 10, 10, At(2, 0, 0), UsageStatus.Failed, apiKeyId: keyId));        // 12_500
        await AggregateAsync(host, new FakeTimeProvider(At(2, 1, 30)));
        await RecordAsync(host, Call(orgId, me, "gemini", "odd,\"model\"", 7, 3, At(4, 12, 0), cost: 1));                              // read raw
        return (owner, orgId, keyId);
    }

    [Fact]
    public async Task Grouping_by_day_provider_and_model_gives_exact_sums_of_aggregated_and_fresh_records()
    {
        using var client = host.Client();
        var (owner, orgId, _) = await SpendAsync(client);

        var days = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage?{June}");
        var providers = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage?{June}&groupBy=provider");
        var models = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage?{June}&groupBy=model");

        Assert.Equal(["2026-06-01", "2026-06-02", "2026-06-03", "2026-06-04"], Rows(days).Select(r => r.GetProperty("day").GetString()));
        Assert.Equal([795_000L, 12_500, 0, 1], Rows(days).Select(r => r.GetProperty("costMicros").GetInt64()));
        Assert.Equal([2L, 1, 0, 1], Rows(days).Select(r => r.GetProperty("requests").GetInt64()));
        Assert.Equal(0.795m, Rows(days)[0].GetProperty("credits").GetDecimal());
        Assert.Equal([("anthropic", 750_000L), ("openai", 57_500), ("gemini", 1)],
            Rows(providers).Select(r => (r.GetProperty("provider").GetString(), r.GetProperty("costMicros").GetInt64())));
        Assert.Equal(["claude-sonnet-4-0", "gpt-4o-mini", "gpt-4o", "odd,\"model\""], Rows(models).Select(r => r.GetProperty("model").GetString()));
        var gpt4o = Rows(models)[2];
        Assert.Equal((1L, 1L, 10L, 10L), (gpt4o.GetProperty("requests").GetInt64(), gpt4o.GetProperty("failures").GetInt64(),
            gpt4o.GetProperty("inputTokens").GetInt64(), gpt4o.GetProperty("outputTokens").GetInt64()));
        foreach (var answer in new[] { days, providers, models })
        {
            var total = answer.GetProperty("total");
            Assert.Equal((4L, 807_501L, 3_017L, 613L), (total.GetProperty("requests").GetInt64(), total.GetProperty("costMicros").GetInt64(),
                total.GetProperty("inputTokens").GetInt64(), total.GetProperty("outputTokens").GetInt64()));
        }
    }

    [Fact]
    public async Task Csv_is_a_download_that_parses_back_to_the_same_numbers()
    {
        using var client = host.Client();
        var (owner, orgId, keyId) = await SpendAsync(client);

        var json = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage?{June}&groupBy=model");
        using var response = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage.csv?{June}&groupBy=model"), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        using var viaFormat = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys/{keyId}/usage?{June}&format=csv"), Ct);
        var keyCsv = ParseCsv(await viaFormat.Content.ReadAsStringAsync(Ct));
        var csv = ParseCsv(text);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.EndsWith(".csv", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'), StringComparison.Ordinal);
        Assert.Contains("\"odd,\"\"model\"\"\"", text, StringComparison.Ordinal);
        Assert.Equal(["provider", "model", "requests", "failures", "input_tokens", "output_tokens", "credits", "cost_micros", "average_latency_ms"], csv[0]);
        Assert.Equal(Rows(json).Select(r => string.Join('|',
            r.GetProperty("provider").GetString(), r.GetProperty("model").GetString(), r.GetProperty("requests").GetInt64(), r.GetProperty("failures").GetInt64(),
            r.GetProperty("inputTokens").GetInt64(), r.GetProperty("outputTokens").GetInt64(),
            r.GetProperty("credits").GetDecimal().ToString(System.Globalization.CultureInfo.InvariantCulture), r.GetProperty("costMicros").GetInt64(),
            r.GetProperty("averageLatencyMs").GetInt64())), csv.Skip(1).Select(r => string.Join('|', r)));
        Assert.Equal("attachment", viaFormat.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal(["day", "2026-06-01", "2026-06-02", "2026-06-03", "2026-06-04"], keyCsv.Select(r => r[0]));
        Assert.Equal(["cost_micros", "750000", "12500", "0", "0"], keyCsv.Select(r => r[6]));
    }

    [Fact]
    public async Task My_usage_spans_all_my_orgs_and_an_org_can_be_narrowed_to_one_member()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var personal = await PersonalOrgAsync(client, owner);
        var team = await CreateOrgAsync(client, owner, "Team");
        var memberEmail = NewEmail("usage-member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, team, memberEmail, member);
        await RecordAsync(host, Call(personal, UserIdOf(owner), "openai", "gpt-4o-mini", 1_000, 0, At(3, 9, 0)));   // 15_000
        await RecordAsync(host, Call(team, UserIdOf(owner), "openai", "gpt-4o-mini", 2_000, 0, At(3, 10, 0)));      // 30_000
        await RecordAsync(host, Call(team, UserIdOf(member), "openai", "gpt-4o-mini", 4_000, 0, At(3, 11, 0)));     // 60_000

        var mine = await SendAsync(client, owner, HttpMethod.Get, $"/api/me/usage?{June}&groupBy=provider");
        var theirs = await SendAsync(client, member, HttpMethod.Get, $"/api/me/usage?{June}");
        var org = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{team}/usage?{June}");
        var oneMember = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{team}/usage?{June}&userId={UserIdOf(member)}");
        await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{team}/usage?{June}", expected: HttpStatusCode.Forbidden);

        Assert.Equal(45_000, Cost(mine));
        Assert.Equal(60_000, Cost(theirs));
        Assert.Equal(90_000, Cost(org));
        Assert.Equal(60_000, Cost(oneMember));
    }

    [Fact]
    public async Task Another_orgs_key_or_org_is_not_found()
    {
        using var client = host.Client();
        var (owner, orgId, keyId) = await SpendAsync(client);
        var stranger = await host.NewUserAsync(client);
        var strangerOrg = await CreateOrgAsync(client, stranger, "Elsewhere");

        await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys/{keyId}/usage?{June}");
        await SendAsync(client, stranger, HttpMethod.Get, $"/api/orgs/{strangerOrg}/api-keys/{keyId}/usage?{June}", expected: HttpStatusCode.NotFound);
        await SendAsync(client, stranger, HttpMethod.Get, $"/api/orgs/{strangerOrg}/api-keys/{keyId}/usage.csv?{June}", expected: HttpStatusCode.NotFound);
        await SendAsync(client, stranger, HttpMethod.Get, $"/api/orgs/{orgId}/usage?{June}", expected: HttpStatusCode.NotFound);
        await SendAsync(client, stranger, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys/{keyId}/usage?{June}", expected: HttpStatusCode.NotFound);
        var strangerSees = await SendAsync(client, stranger, HttpMethod.Get, $"/api/orgs/{strangerOrg}/usage?{June}");
        Assert.Equal(0, Cost(strangerSees));
    }

    [Theory]
    [InlineData("from=2026-06-05&to=2026-06-01", "from")]
    [InlineData("from=2025-01-01&to=2026-06-01", "to")]
    [InlineData("from=01/06/2026", "from")]
    [InlineData("to=yesterday", "to")]
    [InlineData("groupBy=week", "groupBy")]
    [InlineData("format=xml", "format")]
    [InlineData("to=9999-12-31", "to")]
    [InlineData("from=9999-12-30&to=9999-12-31", "to")]
    [InlineData("from=0001-01-01&to=2026-06-01", "from")]
    [InlineData("from=0001-01-01", "from")]
    public async Task A_range_or_option_that_makes_no_sense_is_a_400_naming_the_field(string query, string field)
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);

        using var response = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/me/usage?{query}"), Ct);
        var problem = await ProblemAsync(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(ProblemTypes.Validation, problem.GetProperty("type").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Theory]
    [InlineData("to=9999-12-31")]
    [InlineData("from=0001-01-01&to=0001-01-02")]
    public async Task Dates_at_the_ends_of_the_calendar_are_a_400_on_every_usage_route(string query)
    {
        using var client = host.Client();
        var (owner, orgId, keyId) = await SpendAsync(client);
        var admin = await host.SuperAdminAsync(client);

        foreach (var (who, path) in new[]
        {
            (owner, "/api/me/usage"), (owner, "/api/me/usage.csv"), (owner, $"/api/orgs/{orgId}/usage"), (owner, $"/api/orgs/{orgId}/usage.csv"),
            (owner, $"/api/orgs/{orgId}/api-keys/{keyId}/usage"), (owner, $"/api/orgs/{orgId}/api-keys/{keyId}/usage.csv"),
            (admin, "/api/admin/credits/report"), (admin, "/api/admin/credits/report.csv"),
        })
        {
            using var response = await client.SendAsync(As(who, HttpMethod.Get, $"{path}?{query}"), Ct);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path}?{query} answered {response.StatusCode}");
            Assert.Equal(ProblemTypes.Validation, (await ProblemAsync(response)).GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task Csv_cells_that_look_like_formulas_stay_text_and_negative_numbers_stay_numbers()
    {
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Formulas");
        var me = UserIdOf(owner);
        await RecordAsync(host, Call(orgId, me, "openai", "=HYPERLINK(\"http://evil.example\",\"x\")", 1, 1, At(1, 10, 0), cost: 1));
        await RecordAsync(host, Call(orgId, me, "openai", "@SUM(A1)", 1, 1, At(1, 11, 0), cost: 1));
        await RecordAsync(host, Call(orgId, me, "openai", "-2+3", 1, 1, At(1, 12, 0), cost: 1));

        using var response = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/usage.csv?{June}&groupBy=model"), Ct);
        var csv = ParseCsv(await response.Content.ReadAsStringAsync(Ct));
        var models = csv.Skip(1).Select(r => r[1]).ToList();

        // Model names are stored in lower case.
        Assert.Contains("'=hyperlink(\"http://evil.example\",\"x\")", models);
        Assert.Contains("'@sum(a1)", models);
        Assert.Contains("'-2+3", models);
        Assert.All(models, m => Assert.StartsWith("'", m));
    }

    [Fact]
    public async Task The_admin_report_sums_usage_purchases_grants_and_adjustments_per_period()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        // A period of its own, far from what other tests spend: 2032-02.
        var orgId = await CreateOrgAsync(client, user, "Reported");
        var clock = new FakeTimeProvider(new DateTimeOffset(2032, 2, 3, 12, 0, 0, TimeSpan.Zero));
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var ledger = new Ledger(scope.ServiceProvider.GetRequiredService<AiHub.Data.AppDbContext>(), clock);
            var account = await ledger.OpenAsync(CreditOwner.User, UserIdOf(user), null, Ct);
            await ledger.PostAsync(account.Id, CreditKind.Purchase, 10_000_000, "order", null, $"report-buy-{account.Id:N}", Ct);
            await ledger.PostAsync(account.Id, CreditKind.Grant, 2_000_000, "welcome", null, $"report-grant-{account.Id:N}", Ct);
            await ledger.PostAsync(account.Id, CreditKind.Promo, 500_000, "PROMO", null, $"report-promo-{account.Id:N}", Ct);
            clock.Advance(TimeSpan.FromDays(7));
            await ledger.PostAsync(account.Id, CreditKind.Adjustment, -250_000, "correction", null, $"report-adjust-{account.Id:N}", Ct);
        }
        await RecordAsync(host, Call(orgId, UserIdOf(user), "openai", "gpt-4o-mini", 1_000, 500, new DateTimeOffset(2032, 2, 3, 13, 0, 0, TimeSpan.Zero)),
            new FakeTimeProvider(new DateTimeOffset(2032, 2, 3, 14, 0, 0, TimeSpan.Zero)));

        var weeks = await SendAsync(client, admin, HttpMethod.Get, "/api/admin/credits/report?from=2032-02-01&to=2032-02-29&period=week");
        var month = await SendAsync(client, admin, HttpMethod.Get, "/api/admin/credits/report?from=2032-02-01&to=2032-02-29&period=month");
        using var csv = await client.SendAsync(As(admin, HttpMethod.Get, "/api/admin/credits/report.csv?from=2032-02-01&to=2032-02-29&period=month"), Ct);
        var table = ParseCsv(await csv.Content.ReadAsStringAsync(Ct));
        await SendAsync(client, user, HttpMethod.Get, "/api/admin/credits/report", expected: HttpStatusCode.Forbidden);
        await SendAsync(client, admin, HttpMethod.Get, "/api/admin/credits/report?period=year", expected: HttpStatusCode.BadRequest);

        Assert.Equal(["2032-01-26", "2032-02-02", "2032-02-09", "2032-02-16", "2032-02-23"], Rows(weeks).Select(r => r.GetProperty("periodStart").GetString()));
        var second = Rows(weeks)[1];
        Assert.Equal((45_000L, 10_000_000L, 2_500_000L, 0L, 1L), Sums(second));
        Assert.Equal((0L, 0L, 0L, -250_000L, 0L), Sums(Rows(weeks)[2]));
        var all = Assert.Single(Rows(month));
        Assert.Equal((45_000L, 10_000_000L, 2_500_000L, -250_000L, 1L), Sums(all));
        Assert.Equal(10m, all.GetProperty("bought").GetDecimal());
        Assert.Equal("attachment", csv.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal(["2032-02-01", "0.045", "45000", "10", "10000000", "2.5", "2500000", "-0.25", "-250000", "1", "1000", "500"], table[1]);
    }

    static (long, long, long, long, long) Sums(JsonElement row) => (
        row.GetProperty("consumedMicros").GetInt64(), row.GetProperty("boughtMicros").GetInt64(), row.GetProperty("grantedMicros").GetInt64(),
        row.GetProperty("adjustmentsMicros").GetInt64(), row.GetProperty("requests").GetInt64());

    static List<JsonElement> Rows(JsonElement answer) => [.. answer.GetProperty("rows").EnumerateArray()];

    static long Cost(JsonElement answer) => answer.GetProperty("total").GetProperty("costMicros").GetInt64();
}

public sealed class UsageEndpointsOnSqlite(SqliteIdentityFixture fixture) : UsageEndpointTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class UsageEndpointsOnPostgres(PostgresIdentityFixture fixture) : UsageEndpointTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
