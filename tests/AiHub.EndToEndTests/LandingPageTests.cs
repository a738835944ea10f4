using Microsoft.Playwright;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed class LandingPageTests(BrowserFixture fixture)
{
    [Fact]
    public async Task The_landing_page_says_what_AiHub_is_and_is_saved_as_a_screenshot()
    {
        var page = await fixture.NewPageAsync();
        var failedRequests = new List<string>();
        page.RequestFailed += (_, request) => failedRequests.Add(request.Url);
        page.Response += (_, response) => { if (response.Status >= 400) failedRequests.Add($"{response.Status} {response.Url}"); };

        await page.GotoAsync(fixture.BaseAddress.ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });

        Assert.Equal("AiHub", await page.TitleAsync());
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Your organisation's AI hub");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Chat with your providers' models" })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "API reference" }).First).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByTestId("landing-register")).ToHaveAttributeAsync("href", "account/register");
        // Only what is built: no knowledge bases, MCP, payments or generation until they exist.
        var text = await page.Locator("main").InnerTextAsync();
        foreach (var unbuilt in new[] { "knowledge", "document", "MCP", "Stripe", "payment", "video", "image generation" })
            Assert.DoesNotContain(unbuilt, text, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(failedRequests);
        var path = await BrowserFixture.ScreenshotAsync(page, "landing.png");
        Assert.True(new FileInfo(path).Length > 10_000, "the screenshot should show a rendered page");
        TestContext.Current.AddAttachment("landing.png", await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken), "image/png");
    }

    [Fact]
    public async Task A_signed_in_user_going_to_the_home_page_lands_on_their_chat()
    {
        var email = AccountTests.Unique("home");
        await fixture.CreateAccountAsync(email, AccountTests.Password, "Hana Home");
        var page = await AccountTests.SignedInAsync(fixture, email);

        await page.GotoAsync(fixture.BaseAddress.ToString());

        await Assertions.Expect(page).ToHaveURLAsync(AccountTests.ChatHome());
        await Assertions.Expect(page.GetByTestId("chat-input")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Your organisation's AI hub" })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task The_theme_switch_turns_the_page_dark_and_back()
    {
        var page = await fixture.NewPageAsync();
        await page.GotoAsync(fixture.BaseAddress.ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });
        var light = await BackgroundAsync(page);

        await page.GetByTestId("theme-toggle").ClickAsync();
        await page.WaitForFunctionAsync($"() => getComputedStyle(document.body).backgroundColor !== '{light}'");
        var dark = await BackgroundAsync(page);
        await BrowserFixture.ScreenshotAsync(page, "landing-dark.png");

        Assert.NotEqual(light, dark);
        Assert.True(Brightness(dark) < Brightness(light), $"dark background {dark} should be darker than {light}");
    }

    [Fact]
    public async Task An_unknown_address_shows_the_not_found_page()
    {
        var page = await fixture.NewPageAsync();

        var response = await page.GotoAsync(new Uri(fixture.BaseAddress, "/no/such/page").ToString());

        Assert.Equal(404, response!.Status);
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("This page does not exist");
    }

    [Fact]
    public async Task The_api_reference_is_served_without_the_internet()
    {
        var page = await fixture.NewPageAsync();
        var external = new List<string>();
        page.Request += (_, request) => { if (!request.Url.StartsWith(fixture.BaseAddress.ToString(), StringComparison.Ordinal) && !request.Url.StartsWith("data:", StringComparison.Ordinal)) external.Add(request.Url); };

        await page.GotoAsync(new Uri(fixture.BaseAddress, "/docs").ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });

        // The reference renders the whole OpenAPI document in the browser, which takes seconds on a busy machine.
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "AiHub API" }).First).ToBeVisibleAsync(new() { Timeout = 20_000 });
        await BrowserFixture.ScreenshotAsync(page, "api-reference.png");
        Assert.Empty(external);
    }

    [Fact]
    public async Task Pages_run_under_the_content_security_policy_without_a_violation()
    {
        var page = await fixture.NewPageAsync();
        var violations = new List<string>();
        page.Console += (_, message) => { if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase)) violations.Add($"{page.Url}: {message.Text}"); };

        var landing = await page.GotoAsync(fixture.BaseAddress.ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });
        await page.GetByTestId("theme-toggle").ClickAsync();
        await page.GotoAsync(new Uri(fixture.BaseAddress, "/account/login").ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });
        await page.GotoAsync(new Uri(fixture.BaseAddress, "/docs").ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "AiHub API" }).First).ToBeVisibleAsync(new() { Timeout = 30_000 });

        Assert.Contains("img-src 'self' data:", (await landing!.AllHeadersAsync())["content-security-policy"], StringComparison.Ordinal);
        Assert.Empty(violations);
    }

    static Task<string> BackgroundAsync(IPage page) => page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor");

    static double Brightness(string rgb)
    {
        var parts = rgb[(rgb.IndexOf('(', StringComparison.Ordinal) + 1)..rgb.IndexOf(')', StringComparison.Ordinal)].Split(',');
        return parts.Take(3).Select(p => double.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).Sum();
    }
}
