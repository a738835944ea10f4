using System.Text.RegularExpressions;
using AiHub.IntegrationTests.Mcp;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static AiHub.EndToEndTests.OrganizationTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

/// <summary>npm's reference MCP server, and an AiHub whose organisations may reach loopback, where it listens.</summary>
public sealed class McpPageFixture : IAsyncLifetime
{
    public McpServerProcess Everything { get; private set; } = null!;

    public BrowserFixture App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Everything = await McpServerProcess.EverythingAsync();
        App = new BrowserFixture(new Dictionary<string, string?> { ["Outbound:AllowPrivateNetworks"] = "true" });
        await App.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await Everything.DisposeAsync();
    }
}

public sealed class McpServersPageTests(McpPageFixture mcp) : IClassFixture<McpPageFixture>
{
    static readonly LocatorAssertionsToBeVisibleOptions Slowly = new() { Timeout = 30_000 };

    [Fact]
    public async Task On_a_phone_an_admin_adds_a_server_sees_its_tools_and_enables_one_without_sideways_scrolling()
    {
        var fixture = mcp.App;
        var email = Unique("mcp");
        await fixture.CreateAccountAsync(email, Password, "Mia Connector");
        var page = await NewOrgAsync(fixture, email, "Tool Users");
        await page.SetViewportSizeAsync(390, 844);

        await page.GotoAsync(page.Url + "/mcp-servers");
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("mcp-servers-empty")).ToBeVisibleAsync();
        // The prerendered form is replaced when the circuit starts; Save is enabled once the live one is there.
        await Expect(page.GetByTestId("mcp-server-save")).ToBeEnabledAsync();
        await page.GetByTestId("mcp-server-name").FillAsync("everything");
        await page.GetByTestId("mcp-server-url").FillAsync(mcp.Everything.Url);
        await page.GetByTestId("mcp-server-save").ClickAsync();

        var server = page.Locator("[data-testid=mcp-server][data-name=everything]");
        var echo = server.Locator("[data-testid=mcp-tool][data-name=echo]");
        await Expect(echo).ToBeVisibleAsync(Slowly);
        await Expect(server.Locator("[data-testid=mcp-tool][data-name=get-sum]")).ToBeVisibleAsync();
        await Expect(echo).ToContainTextAsync("Echoes back the input string");
        await echo.Locator("input[type=checkbox]").CheckAsync();
        await server.GetByTestId("mcp-server-save-tools").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync(new Regex(@"everything: 1 of \d+ tools enabled"));
        await Expect(echo.Locator("input[type=checkbox]")).ToBeCheckedAsync();
        var sideways = await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > document.documentElement.clientWidth");
        await BrowserFixture.ScreenshotAsync(page, "mcp-servers-phone.png");

        Assert.False(sideways, "The MCP servers page scrolls sideways at phone width.");
    }
}
