using System.Net;
using AiHub.Infrastructure.Audit;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Cost arithmetic in integers only, rounded up once per call.</summary>
public sealed class CostArithmeticTests
{
    [Theory]
    [InlineData(0, 0, 15_000_000, 60_000_000, 0)]                 // nothing used costs nothing
    [InlineData(1_000, 500, 15_000_000, 60_000_000, 45_000)]      // gpt-4o-mini: 15 and 60 micros a token
    [InlineData(1, 0, 1, 0, 1)]                                   // a millionth of a micro-credit rounds up to one
    [InlineData(3, 0, 333_333, 0, 1)]                             // 0.999999 rounds up to 1
    [InlineData(1_000_000, 0, 333_333, 0, 333_333)]               // exact stays exact
    [InlineData(1, 1, 500_000, 500_000, 1)]                       // halves sum before rounding: 1, not 2
    [InlineData(1, 1, 500_001, 500_000, 2)]
    [InlineData(long.MaxValue, 0, 1_000_000, 0, long.MaxValue)]   // a micro-credit a token, at the very top
    [InlineData(1_000_000_000_000, 0, 1_000_000_000_000, 0, 1_000_000_000_000_000_000)] // a product far beyond 64 bits
    public void Cost_is_the_exact_sum_divided_once_and_rounded_up(long input, long output, long inPrice, long outPrice, long expected) =>
        Assert.Equal(expected, PriceCatalog.Cost(input, output, inPrice, outPrice));

    [Fact]
    public void A_cost_beyond_what_an_account_can_hold_is_refused_not_wrapped()
    {
        var tooMuch = Assert.Throws<ProblemException>(() => PriceCatalog.Cost(long.MaxValue, 0, 1_000_001, 0));
        var both = Assert.Throws<ProblemException>(() => PriceCatalog.Cost(long.MaxValue, long.MaxValue, 1_000_000, 1_000_000));

        Assert.Equal(400, tooMuch.Status);
        Assert.Equal(ProblemTypes.Validation, both.Type);
    }
}

/// <summary>The price catalog over HTTP and as the meter sees it: edits take effect at once, bad prices are refused.</summary>
public abstract class PriceCatalogTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_catalog_ships_with_list_prices_and_an_unknown_model_is_a_clear_503()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);

        var list = await SendAsync(client, admin, HttpMethod.Get, "/api/admin/prices");
        var mini = list.EnumerateArray().Single(p => p.GetProperty("provider").GetString() == "openai" && p.GetProperty("model").GetString() == "gpt-4o-mini");
        var cost = await CostAsync("OpenAI", "GPT-4o-mini", 1_000, 500);
        var unknown = await Assert.ThrowsAsync<ProblemException>(() => CostAsync("openai", "gpt-nobody-made", 1, 1));

        Assert.Equal(15m, mini.GetProperty("inputPerMillion").GetDecimal());
        Assert.Equal(60_000_000, mini.GetProperty("outputMicrosPerMillion").GetInt64());
        Assert.Equal(45_000, cost);
        Assert.Equal(503, unknown.Status);
        Assert.Equal(ProblemTypes.ModelNotPriced, unknown.Type);
        Assert.Contains("openai/gpt-nobody-made", unknown.Detail, StringComparison.Ordinal);
        Assert.Contains("/admin/prices", unknown.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_price_set_changed_and_deleted_by_an_admin_takes_effect_at_once_and_is_audited()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var provider = "prov-" + Guid.NewGuid().ToString("N")[..8];
        var path = $"/api/admin/prices/{provider}/model-x";

        var before = await Record.ExceptionAsync(() => CostAsync(provider, "model-x", 1, 1));
        var set = await SendAsync(client, admin, HttpMethod.Put, path, new { inputPerMillion = 1.5m, outputPerMillion = 2m });
        var first = await CostAsync(provider, "model-x", 1, 1);
        await SendAsync(client, admin, HttpMethod.Put, path, new { inputPerMillion = 0.000001m, outputPerMillion = 0m });
        var second = await CostAsync(provider, "model-x", 1_000_000, 5);
        await SendAsync(client, admin, HttpMethod.Delete, path, expected: HttpStatusCode.NoContent);
        var after = await Record.ExceptionAsync(() => CostAsync(provider, "model-x", 1, 1));
        await SendAsync(client, admin, HttpMethod.Delete, path, expected: HttpStatusCode.NotFound);
        var audit = await AuditAsync(provider);

        Assert.Equal(ProblemTypes.ModelNotPriced, Assert.IsType<ProblemException>(before).Type);
        Assert.Equal(1_500_000, set.GetProperty("inputMicrosPerMillion").GetInt64());
        Assert.Equal(1.5m, set.GetProperty("inputPerMillion").GetDecimal());
        Assert.Equal(UserIdOf(admin), set.GetProperty("updatedBy").GetGuid());
        Assert.Equal(4, first);    // (1.5 + 2) micros, rounded up
        Assert.Equal(1, second);   // a micro-credit per million tokens
        Assert.Equal(ProblemTypes.ModelNotPriced, Assert.IsType<ProblemException>(after).Type);
        Assert.Equal([AuditKinds.ModelPriceDeleted, AuditKinds.ModelPriceSet, AuditKinds.ModelPriceSet], audit.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Prices_must_be_exact_non_negative_credits_and_only_providers_managers_set_them()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var user = await host.NewUserAsync(client);
        var path = $"/api/admin/prices/prov-{Guid.NewGuid():N}/model-y";

        foreach (var body in new object[]
        {
            new { inputPerMillion = -1m, outputPerMillion = 1m },
            new { inputPerMillion = 1m, outputPerMillion = 0.0000001m },
            new { inputPerMillion = 1m },
            new { inputPerMillion = 2_000_000m, outputPerMillion = 1m },
        })
        {
            using var response = await client.SendAsync(As(admin, HttpMethod.Put, path, body), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(ProblemTypes.Validation, (await ProblemAsync(response)).GetProperty("type").GetString());
        }
        await SendAsync(client, admin, HttpMethod.Put, "/api/admin/prices/bad%20name/model", new { inputPerMillion = 1m, outputPerMillion = 1m }, HttpStatusCode.BadRequest);
        await SendAsync(client, user, HttpMethod.Put, path, new { inputPerMillion = 1m, outputPerMillion = 1m }, HttpStatusCode.Forbidden);
        await SendAsync(client, user, HttpMethod.Get, "/api/admin/prices", expected: HttpStatusCode.Forbidden);
        await SendAsync(client, admin, HttpMethod.Put, path, new { inputPerMillion = 0m, outputPerMillion = 0.000001m });
    }

    async Task<long> CostAsync(string provider, string model, long input, long output)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<PriceCatalog>().CostAsync(provider, model, input, output, Ct);
    }

    async Task<List<string>> AuditAsync(string provider)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var events = await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEvents.AsNoTracking()
            .Where(e => e.Data != null && e.Data.Contains(provider)).ToListAsync(Ct);
        return events.Select(e => e.Kind).ToList();
    }
}

public sealed class PriceCatalogOnSqlite(SqliteIdentityFixture fixture) : PriceCatalogTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class PriceCatalogOnPostgres(PostgresIdentityFixture fixture) : PriceCatalogTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
