using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

/// <summary>The frame around every page: the app bar on a phone, the drawer, and which navigation link is lit.</summary>
[Collection(SharedBrowser.Name)]
public sealed class LayoutTests(BrowserFixture fixture)
{
    [Fact]
    public async Task On_a_phone_the_app_bar_fits_the_screen_and_the_user_menu_opens_inside_it()
    {
        var email = Unique("narrow");
        // A long name and a long org name are what pushed the menu off the screen.
        await fixture.CreateAccountAsync(email, Password, "Maximiliana Longname-Example");
        var page = await SignedInAsync(fixture, email);
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync(new Uri(fixture.BaseAddress, "/credits").ToString());
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("credit-balance")).ToBeVisibleAsync();

        var (scrollWidth, innerWidth) = await WidthsAsync(page);
        Assert.True(scrollWidth <= innerWidth, $"the page is {scrollWidth}px wide in a {innerWidth}px window");
        await AssertInsideAsync(page, page.GetByTestId("user-menu-button"), innerWidth);
        await AssertInsideAsync(page, page.GetByTestId("org-switcher-button"), innerWidth);
        await AssertInsideAsync(page, page.GetByTestId("credit-balance"), innerWidth);
        // The balance's figure is drawn whole, not cut by the button's edge.
        var clipped = await page.GetByTestId("credit-balance").EvaluateAsync<bool>(
            "b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflow !== 'visible' && e.clientWidth > 1)");
        Assert.False(clipped, "the credits label is clipped");
        await Expect(page.GetByTestId("credit-balance")).ToHaveAccessibleNameAsync(new Regex(@"^[\d.,]+ credits$"));
        // Only the icon is drawn, and the name is still what a screen reader announces.
        var account = page.GetByRole(AriaRole.Button, new() { Name = "Maximiliana Longname-Example", Exact = true });
        await Expect(account).ToBeVisibleAsync();

        await account.FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        var menu = page.Locator(".mud-popover-open").Filter(new() { Has = page.GetByTestId("user-menu-account") });
        await Expect(menu).ToBeVisibleAsync();
        await AssertInsideAsync(page, menu, innerWidth);
        await BrowserFixture.ScreenshotAsync(page, "user-menu-390-light.png");
        await page.GetByTestId("user-menu-sessions").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/account/sessions$"));
    }

    [Fact]
    public async Task On_a_phone_the_navigation_folds_away_behind_the_menu_button()
    {
        var email = Unique("drawer");
        await fixture.CreateAccountAsync(email, Password, "Dora Drawer");
        var page = await SignedInAsync(fixture, email);
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync(new Uri(fixture.BaseAddress, "/credits").ToString());
        await InteractiveAsync(page);

        await Expect(page.GetByTestId("nav-usage")).Not.ToBeInViewportAsync();
        // The drawer learns the screen's width from the browser after the first render and closes itself then; a click before that would be undone.
        await Expect(page.Locator(".mud-drawer")).ToHaveClassAsync(new Regex(@"\bmud-drawer--closed\b"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Toggle navigation" }).ClickAsync();
        await Expect(page.GetByTestId("nav-usage")).ToBeInViewportAsync();
        await page.GetByTestId("nav-usage").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/usage$"));
    }

    [Fact]
    public async Task In_a_workspace_chat_the_chat_link_is_lit_and_not_workspaces()
    {
        var email = Unique("lit");
        await fixture.CreateAccountAsync(email, Password, "Lia Lit");
        var page = await SignedInAsync(fixture, email);
        await InteractiveAsync(page);

        await Expect(page.GetByTestId("nav-chat")).ToHaveClassAsync(new Regex(@"\bactive\b"));
        await Expect(page.GetByTestId("nav-org-workspaces")).Not.ToHaveClassAsync(new Regex(@"\bactive\b"));

        await page.GetByTestId("nav-org-workspaces").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/workspaces$"));
        await Expect(page.GetByTestId("nav-org-workspaces")).ToHaveClassAsync(new Regex(@"\bactive\b"));
        await Expect(page.GetByTestId("nav-chat")).Not.ToHaveClassAsync(new Regex(@"\bactive\b"));
    }

    static async Task<(int ScrollWidth, int InnerWidth)> WidthsAsync(IPage page)
    {
        var widths = await page.EvaluateAsync<int[]>("() => [document.scrollingElement.scrollWidth, window.innerWidth]");
        return (widths[0], widths[1]);
    }

    static async Task AssertInsideAsync(IPage page, ILocator element, int innerWidth)
    {
        var box = await element.BoundingBoxAsync() ?? throw new Xunit.Sdk.XunitException($"{element} is not drawn");
        Assert.True(box.X >= 0 && box.X + box.Width <= innerWidth,
            $"{element} spans {box.X:0}..{box.X + box.Width:0}px in a {innerWidth}px window ({page.Url})");
    }
}
