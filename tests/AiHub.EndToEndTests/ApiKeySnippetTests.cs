using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static AiHub.EndToEndTests.OrganizationTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

[Collection(SharedBrowser.Name)]
public sealed class ApiKeySnippetTests(BrowserFixture fixture)
{
    [Fact]
    public async Task On_a_phone_a_new_key_comes_with_SDK_snippets_holding_this_server_and_the_key_and_the_page_does_not_scroll_sideways()
    {
        var email = Unique("snippets");
        await fixture.CreateAccountAsync(email, Password, "Sid Snippet");
        var page = await NewOrgAsync(fixture, email, "Snippet Makers");
        await page.SetViewportSizeAsync(390, 844);
        var server = fixture.BaseAddress.ToString().TrimEnd('/');

        await page.GotoAsync(page.Url + "/api-keys");
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("api-key-sdk-help").GetByTestId("api-key-snippet-openai-python"))
            .ToContainTextAsync($"OpenAI(base_url=\"{server}/v1\", api_key=\"ahk_YOUR_KEY\")");
        await page.GetByTestId("api-key-name").FillAsync("sdk app");
        await page.GetByLabel("chat:use").CheckAsync();
        await page.GetByLabel("Tokens per minute (optional)").FillAsync("20000");
        await page.GetByTestId("api-key-create").ClickAsync();
        var secret = (await page.GetByTestId("api-key-secret").TextContentAsync())!.Trim();
        var panel = page.GetByTestId("api-key-new-snippets");

        await Expect(panel.GetByTestId("api-key-snippet-openai-python")).ToContainTextAsync($"OpenAI(base_url=\"{server}/v1\", api_key=\"{secret}\")");
        await panel.GetByRole(AriaRole.Tab, new() { Name = "Anthropic · JavaScript" }).ClickAsync();
        await Expect(panel.GetByTestId("api-key-snippet-anthropic-js")).ToContainTextAsync($"new Anthropic({{ baseURL: \"{server}\", apiKey: \"{secret}\" }})");
        await Expect(page.Locator("[data-testid=api-key][data-name='sdk app']").GetByTestId("api-key-tokens-per-minute")).ToHaveTextAsync(new Regex("20,000 tokens / min"));
        var sideways = await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > document.documentElement.clientWidth");
        await BrowserFixture.ScreenshotAsync(page, "api-key-snippets-phone.png");

        Assert.Matches("^ahk_[a-z0-9]{8}_", secret);
        Assert.False(sideways, "The API-keys page scrolls sideways at phone width.");
    }
}
