using System.Text.RegularExpressions;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed class UsageTests(BrowserFixture fixture)
{
    [Fact]
    public async Task A_user_sees_their_usage_by_provider_and_model_on_their_own_and_their_orgs_dashboard()
    {
        var email = Unique("spender");
        await fixture.CreateAccountAsync(email, Password, "Sam Spender");
        await RecordAsync(email, "openai", "gpt-4o-mini", 1_000, 500);        // 0.045 credits
        await RecordAsync(email, "anthropic", "claude-sonnet-4-0", 2_000, 100); // 0.75 credits
        var page = await SignedInAsync(fixture, email);
        await InteractiveAsync(page);

        await page.GetByTestId("nav-usage").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/usage$"));
        await Expect(page.GetByTestId("usage-total-credits")).ToContainTextAsync("0.795");
        var byModel = page.GetByTestId("usage-by-model");
        await Expect(byModel.Locator("[data-testid=usage-row][data-model='gpt-4o-mini']").GetByTestId("usage-row-credits")).ToHaveTextAsync("0.045");
        await Expect(page.GetByTestId("usage-by-provider").Locator("[data-testid=usage-row][data-provider=anthropic]")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("usage-trend").Locator("svg").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("usage-csv")).ToHaveAttributeAsync("href", new Regex(@"^/api/me/usage\.csv\?from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}&groupBy=day$"));
        await BrowserFixture.ScreenshotAsync(page, "usage-personal.png");

        await page.GetByTestId("nav-org-usage").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/orgs/[0-9a-f-]+/usage$"));
        await Expect(page.GetByTestId("org-page-title")).ToHaveTextAsync("Usage");
        await Expect(page.GetByTestId("usage-total-credits")).ToContainTextAsync("0.795");
        var csv = await page.APIRequest.GetAsync(new Uri(fixture.BaseAddress, await page.GetByTestId("usage-csv").GetAttributeAsync("href")).ToString());
        Assert.Equal(200, csv.Status);
        var text = await csv.TextAsync();
        Assert.StartsWith("day,requests,failures,", text, StringComparison.Ordinal);
        Assert.Contains(",795000,", text, StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(page, "usage-org.png");
    }

    [Fact]
    public async Task A_small_spend_fills_its_chart_on_an_axis_of_its_own_size_with_its_unit()
    {
        var email = Unique("smallspend");
        await fixture.CreateAccountAsync(email, Password, "Sid Small");
        var page = await SignedInAsync(fixture, email);
        await InteractiveAsync(page);
        await page.GetByTestId("nav-usage").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/usage$"));
        // Nothing spent yet: words, not an empty chart.
        await Expect(page.GetByTestId("usage-trend").GetByTestId("usage-chart-empty")).ToHaveTextAsync("No usage in these days.");
        await Expect(page.GetByTestId("usage-trend").GetByTestId("usage-chart")).ToHaveCountAsync(0);

        await RecordAsync(email, "openai", "gpt-4o-mini", 1_000, 500);        // 0.045 credits
        await page.ReloadAsync();
        await InteractiveAsync(page);

        var credits = page.GetByTestId("usage-trend").GetByTestId("usage-chart");
        await Expect(credits).ToHaveAttributeAsync("data-unit", "credits");
        await Expect(credits).ToHaveAttributeAsync("data-data-max", "0.045");
        var top = decimal.Parse((await credits.GetAttributeAsync("data-axis-max"))!, System.Globalization.CultureInfo.InvariantCulture);
        // Near the data, not the 0 to 1 that drew 0.045 as a flat line.
        Assert.InRange(top, 0.045m, 0.1m);
        var ticks = await credits.GetByTestId("usage-chart-tick").AllTextContentsAsync();
        Assert.Equal(["0.00", "0.01", "0.02", "0.03", "0.04", "0.05"], ticks);
        await Expect(credits.Locator("text").First).ToHaveTextAsync("credits");

        var tokens = page.GetByTestId("usage-tokens").GetByTestId("usage-chart");
        await Expect(tokens).ToHaveAttributeAsync("data-unit", "tokens");
        await Expect(tokens).ToHaveAttributeAsync("data-axis-max", "1000");
        await Expect(page.GetByTestId("usage-by-model").GetByTestId("usage-chart")).ToHaveAttributeAsync("data-axis-max", "0.05");
        await BrowserFixture.ScreenshotAsync(page, "usage-small-spend.png");
    }

    [Fact]
    public async Task An_admin_adds_changes_and_deletes_a_model_price_and_others_do_not_see_the_page()
    {
        var admin = Unique("pricer");
        var plain = Unique("plain");
        await fixture.CreateAccountAsync(admin, Password, "Pat Pricer", Roles.Admin);
        await fixture.CreateAccountAsync(plain, Password);
        var model = "e2e-" + Guid.NewGuid().ToString("N")[..6];

        var other = await SignedInAsync(fixture, plain);
        await InteractiveAsync(other);
        await Expect(other.GetByTestId("nav-usage")).ToBeVisibleAsync();
        await Expect(other.GetByTestId("nav-admin-prices")).ToHaveCountAsync(0);

        var page = await SignedInAsync(fixture, admin);
        await InteractiveAsync(page);
        await page.GetByTestId("nav-admin-prices").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/admin/prices$"));
        await Expect(page.Locator("[data-testid=price][data-provider=openai][data-model='gpt-4o-mini']").GetByTestId("price-row-input")).ToHaveTextAsync("15");

        await Field(page, "price-provider").FillAsync("acme");
        await Field(page, "price-model").FillAsync(model);
        await Field(page, "price-input").FillAsync("1.5");
        await Field(page, "price-output").FillAsync("2");
        await page.GetByTestId("price-save").ClickAsync();
        var row = page.Locator($"[data-testid=price][data-provider=acme][data-model='{model}']");
        await Expect(row.GetByTestId("price-row-input")).ToHaveTextAsync("1.5");

        await row.GetByTestId("price-edit").ClickAsync();
        // The form is filled with the row's price by the server; type only once it is.
        await Expect(Field(page, "price-input")).ToHaveValueAsync("1.5");
        await Field(page, "price-input").FillAsync("3");
        await page.GetByTestId("price-save").ClickAsync();
        await Expect(row.GetByTestId("price-row-input")).ToHaveTextAsync("3");
        await Expect(row.GetByTestId("price-row-output")).ToHaveTextAsync("2");
        await BrowserFixture.ScreenshotAsync(page, "admin-prices.png");

        await row.GetByTestId("price-delete").ClickAsync();
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Delete", Exact = true }).ClickAsync();
        await Expect(row).ToHaveCountAsync(0);
    }

    static ILocator Field(IPage page, string testId) => page.Locator($"input[data-testid={testId}], [data-testid={testId}] input").First;

    [Fact]
    public async Task Calls_made_through_an_assistant_show_as_via_mcp_beside_the_apps_own()
    {
        var email = Unique("assistant");
        await fixture.CreateAccountAsync(email, Password, "Ada Assistant");
        await RecordAsync(email, "openai", "gpt-4o-mini", 1_000, 500);                  // 0.045 credits
        await RecordAsync(email, "openai", "gpt-4o-mini", 2_000, 1_000, channel: "mcp"); // 0.09 credits
        var page = await SignedInAsync(fixture, email);
        await InteractiveAsync(page);

        await page.GetByTestId("nav-org-usage").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/orgs/[0-9a-f-]+/usage$"));
        var byChannel = page.GetByTestId("usage-by-channel");
        var mcp = byChannel.Locator("[data-testid=usage-channel-row][data-channel=mcp]");
        await Expect(mcp.GetByTestId("usage-via-mcp")).ToHaveTextAsync("via MCP");
        await Expect(mcp.Locator("td").Last).ToHaveTextAsync("0.09");
        await Expect(byChannel.Locator("[data-testid=usage-channel-row][data-channel=app]").Locator("td").Last).ToHaveTextAsync("0.045");
        await BrowserFixture.ScreenshotAsync(page, "usage-via-mcp.png");
    }

    async Task RecordAsync(string email, string provider, string model, long input, long output, string? channel = null)
    {
        await using var scope = fixture.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var user = await db.Users.AsNoTracking().FirstAsync(u => u.Email == email);
        var org = await db.Memberships.AsNoTracking().Where(m => m.UserId == user.Id).Select(m => m.OrganizationId).FirstAsync();
        await scope.ServiceProvider.GetRequiredService<UsageMeter>().RecordAsync(
            new UsageEntry($"e2e:{Guid.NewGuid():N}", org, user.Id, provider, model, input, output, 250, UsageStatus.Succeeded, OccurredAt: DateTimeOffset.UtcNow.AddMinutes(-5), Channel: channel), default);
    }
}
