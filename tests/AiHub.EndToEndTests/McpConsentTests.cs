using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Infrastructure.Hosting;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

/// <summary>A person connecting an MCP connector on a phone: sign-in, consent with an org, and revoking it from Sessions.</summary>
[Collection(SharedBrowser.Name)]
public sealed partial class McpConsentTests(BrowserFixture fixture)
{
    const string Callback = "http://127.0.0.1:7777/callback";

    static readonly string[] Redirects = [Callback];

    [Fact]
    public async Task A_person_signs_in_on_a_phone_picks_an_org_allows_the_app_and_later_revokes_it_from_sessions()
    {
        var ct = TestContext.Current.CancellationToken;
        var email = AccountTests.Unique("connect");
        await fixture.CreateAccountAsync(email, AccountTests.Password, "Phone Person");
        using var http = new HttpClient { BaseAddress = fixture.BaseAddress };
        using var registered = await http.PostAsJsonAsync("/oauth/register",
            new { redirect_uris = Redirects, token_endpoint_auth_method = "none", client_name = "Pocket Assistant" }, ct);
        var clientId = (await registered.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("client_id").GetString()!;
        var publicUrl = fixture.Services.GetRequiredService<IOptions<PublicUrlSettings>>().Value.PublicUrl;
        var verifier = Base64UrlTextEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        var authorize = QueryHelpers.AddQueryString(new Uri(fixture.BaseAddress, "/oauth/authorize").ToString(), new Dictionary<string, string?>
        {
            ["response_type"] = "code",
            ["client_id"] = clientId,
            ["redirect_uri"] = Callback,
            ["scope"] = "workspaces:read knowledge:read",
            ["state"] = "phone",
            ["code_challenge"] = Base64UrlTextEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))),
            ["code_challenge_method"] = "S256",
            ["resource"] = new Uri(publicUrl, "/mcp").AbsoluteUri,
        });

        var context = await fixture.Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new() { Width = 390, Height = 844 }, ColorScheme = ColorScheme.Light });
        var page = await context.NewPageAsync();
        // The connector's loopback listener: the browser lands there with the code.
        await page.RouteAsync(Callback + "**", route => route.FulfillAsync(new RouteFulfillOptions { Body = "connected", ContentType = "text/plain" }));

        await page.GotoAsync(authorize);
        await Expect(page).ToHaveURLAsync(new Regex("/account/login"));
        await page.GetByTestId("login-email").FillAsync(email);
        await page.GetByTestId("login-password").FillAsync(AccountTests.Password);
        await page.GetByTestId("login-submit").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/oauth/consent\\?"));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Connect Pocket Assistant" })).ToBeVisibleAsync();
        await Expect(page.GetByTestId("consent-scopes").Locator("li")).ToHaveCountAsync(2);
        var org = page.GetByTestId("consent-org");
        await Expect(org.Locator("option")).ToHaveCountAsync(1);
        await org.SelectOptionAsync(new SelectOptionValue { Index = 0 });
        // Nothing is wider than the phone.
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"));
        await BrowserFixture.ScreenshotAsync(page, "mcp-consent-phone.png");
        await page.GetByTestId("consent-allow").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(Callback) + "\\?code=[^&]+&(iss=[^&]+&)?state=phone"));

        await page.GotoAsync(new Uri(fixture.BaseAddress, "/account/sessions").ToString());
        await AccountTests.InteractiveAsync(page);
        var app = page.GetByTestId("connected-app");
        await Expect(app).ToHaveCountAsync(1);
        await Expect(app.GetByTestId("connected-app-name")).ToHaveTextAsync("Pocket Assistant");
        await BrowserFixture.ScreenshotAsync(page, "mcp-connected-apps-phone.png");
        await app.GetByTestId("connected-app-revoke").ClickAsync();
        await Expect(page.GetByTestId("connected-app")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("connected-apps-empty")).ToBeVisibleAsync();
        await context.CloseAsync();
    }
}
