using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed class PlansTests(BrowserFixture fixture)
{
    [Fact]
    public async Task The_plans_page_highlights_the_users_plan_with_what_is_left_and_how_to_change_it()
    {
        var email = Unique("planner");
        await fixture.CreateAccountAsync(email, Password, "Pat Planner");
        var page = await SignedInAsync(fixture, email);
        await InteractiveAsync(page);

        await page.GetByTestId("nav-plans").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/plans$"));
        await Expect(page.Locator("[data-testid=plan-card][data-code=FREE]")).ToHaveAttributeAsync("data-current", "true");
        await Expect(page.Locator("[data-testid=plan-card][data-code=BASIC]")).ToHaveAttributeAsync("data-current", "false");
        await Expect(page.Locator("[data-testid=plan-card][data-code=BASIC]").GetByTestId("plan-card-price")).ToHaveTextAsync("$29 / month");
        await Expect(page.GetByTestId("plan-current-name")).ToHaveTextAsync("Free");
        await Expect(page.GetByTestId("plan-quota-chatQuestions")).ToContainTextAsync("3 questions remaining");
        await Expect(page.GetByTestId("plan-quota-storageBytes")).ToContainTextAsync("5 GB of 5 GB remaining");
        await Expect(page.GetByTestId("plan-change")).ToContainTextAsync("ask an AiHub administrator");
        await Expect(page.GetByTestId("nav-admin-plans")).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(page, "plans.png");
    }

    [Fact]
    public async Task An_admin_edits_a_plan_and_the_plans_page_shows_the_new_limit()
    {
        var email = Unique("plan-admin");
        await fixture.CreateAccountAsync(email, Password, "Ada Admin", AiHub.Identity.Roles.SuperAdmin);
        var page = await SignedInAsync(fixture, email);
        await InteractiveAsync(page);

        await page.GetByTestId("nav-admin-plans").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/admin/plans$"));
        var pro = page.Locator("[data-testid=admin-plan][data-code=PRO]");
        await pro.GetByTestId("admin-plan-chat").FillAsync("600");
        await pro.GetByTestId("admin-plan-save").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToHaveTextAsync("The plan PRO is saved.");
        await BrowserFixture.ScreenshotAsync(page, "admin-plans.png");
        var blank = page.Locator("[data-testid=admin-plan]").Last;
        await blank.GetByTestId("admin-plan-code").FillAsync("no spaces please");
        await blank.GetByTestId("admin-plan-name").FillAsync("Broken");
        await blank.GetByTestId("admin-plan-save").ClickAsync();
        await Expect(blank).ToContainTextAsync("A plan code is 2 to 32 letters");
        await page.GetByTestId("nav-plans").ClickAsync();

        await Expect(page.Locator("[data-testid=plan-card][data-code=PRO]")).ToContainTextAsync("600 chat questions per day");
    }
}
