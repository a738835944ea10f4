using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static AiHub.EndToEndTests.OrganizationTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed class CreditPoolTests(BrowserFixture fixture)
{
    [Fact]
    public async Task An_owner_asks_for_credits_approves_a_different_amount_lowers_the_allowance_and_lifts_the_cap()
    {
        var email = Unique("treasurer");
        await fixture.CreateAccountAsync(email, Password, "Tess Treasurer");
        var page = await NewOrgAsync(fixture, email, "Credit Co");

        await page.GetByTestId("nav-org-credits").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/orgs/[0-9a-f-]{36}/credits$"));
        await Expect(page.GetByTestId("credits-pool-available")).ToHaveTextAsync("0");
        await Expect(page.GetByTestId("credits-allowance")).ToContainTextAsync("Uncapped");

        await page.GetByTestId("credits-request-credits").FillAsync("12.5");
        await page.GetByTestId("credits-request-reason").FillAsync("a long report");
        await page.GetByTestId("credits-request-submit").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Your request is sent");
        await Expect(page.GetByTestId("credits-my-request")).ToHaveAttributeAsync("data-status", "pending");
        var request = page.Locator($"[data-testid=credits-request][data-email='{email}']");
        await request.GetByTestId("credits-request-grant").FillAsync("10");
        await request.GetByTestId("credits-request-grant").BlurAsync();
        await request.GetByTestId("credits-request-approve").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("approved");
        await Expect(page.GetByTestId("credits-allowance")).ToContainTextAsync("10 credits left");
        await Expect(page.GetByTestId("credits-my-request")).ToHaveAttributeAsync("data-status", "approved");
        await Expect(page.GetByTestId("credits-requests-empty")).ToBeVisibleAsync();

        await page.GetByTestId("credits-allocation-member").SelectOptionAsync(new SelectOptionValue { Label = email });
        await page.GetByTestId("credits-allocation-credits").FillAsync("-4");
        await page.GetByTestId("credits-allocation-reason").FillAsync("a smaller report after all");
        await page.GetByTestId("credits-allocation-submit").ClickAsync();
        var row = page.Locator($"[data-testid=credits-allocation][data-email='{email}']");
        await Expect(row.GetByTestId("credits-allocation-left")).ToHaveTextAsync("6");
        await BrowserFixture.ScreenshotAsync(page, "org-credits.png");

        await row.GetByTestId("credits-allocation-remove").ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Remove the cap" }).ClickAsync();
        await Expect(row.GetByTestId("credits-allocation-left")).ToHaveTextAsync("uncapped");
        await Expect(page.GetByTestId("credits-allowance")).ToContainTextAsync("Uncapped");
    }
}
