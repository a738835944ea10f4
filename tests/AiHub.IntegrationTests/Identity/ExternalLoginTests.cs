using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Identity;

/// <summary>Google, GitHub and OIDC sign-in through the real handlers against a provider that speaks OAuth 2.0 and OpenID Connect.</summary>
public abstract class ExternalLoginTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(FakeIdentityProvider.Google, "Google")]
    [InlineData(FakeIdentityProvider.GitHub, "GitHub")]
    [InlineData(FakeIdentityProvider.Oidc, "Oidc")]
    public async Task A_new_person_signs_in_with_a_provider_and_gets_a_verified_account(string provider, string scheme)
    {
        var email = NewEmail(provider);
        host.Idp.NextUser(provider, new FakeUser(Subject(provider), email, EmailVerified: true, "Grace Hopper"));
        using var browser = host.Client(cookies: true);

        var landing = await ExternalSignIn.SignInWithAsync(browser, provider, "/account");
        using var me = await browser.GetAsync("/api/me", Ct);
        var profile = await me.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal("/account", landing);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(email, profile.GetProperty("email").GetString());
        Assert.True(profile.GetProperty("emailVerified").GetBoolean());
        Assert.False(profile.GetProperty("hasPassword").GetBoolean());
        Assert.Equal([scheme], profile.GetProperty("externalLogins").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal("Grace Hopper", profile.GetProperty("displayName").GetString());
    }

    [Fact]
    public async Task An_existing_account_is_linked_only_through_a_verified_email()
    {
        using var api = host.Client();
        var email = await host.RegisterVerifiedAsync(api);
        using var unverifiedBrowser = host.Client(cookies: true);
        host.Idp.NextUser(FakeIdentityProvider.Oidc, new FakeUser(Guid.NewGuid().ToString(), email, EmailVerified: false, "Mallory"));

        var refused = await ExternalSignIn.SignInWithAsync(unverifiedBrowser, FakeIdentityProvider.Oidc, "/");
        using var notSignedIn = await unverifiedBrowser.GetAsync("/api/me", Ct);

        using var verifiedBrowser = host.Client(cookies: true);
        host.Idp.NextUser(FakeIdentityProvider.GitHub, new FakeUser("90210", email, EmailVerified: true, "Test User"));
        var linked = await ExternalSignIn.SignInWithAsync(verifiedBrowser, FakeIdentityProvider.GitHub, "/");
        using var me = await verifiedBrowser.GetAsync("/api/me", Ct);
        var profile = await me.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.StartsWith("/account/login?error=", refused, StringComparison.Ordinal);
        Assert.Contains("did%20not%20confirm", refused, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, notSignedIn.StatusCode);
        Assert.Equal("/", linked);
        Assert.Equal(email, profile.GetProperty("email").GetString());
        Assert.True(profile.GetProperty("hasPassword").GetBoolean());
        Assert.Equal(["GitHub"], profile.GetProperty("externalLogins").EnumerateArray().Select(l => l.GetString()));
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.True(await db.AuditEvents.AnyAsync(e => e.Kind == AuditKinds.ExternalLoginLinked, Ct));
    }

    [Fact]
    public async Task A_provider_vouches_for_the_first_factor_only_and_the_account_still_asks_for_its_code()
    {
        using var api = host.Client();
        var email = await host.RegisterVerifiedAsync(api);
        var tokens = await LoginAsync(api, email);
        using var enable = await api.SendAsync(As(tokens, HttpMethod.Post, "/api/me/2fa/enable"), Ct);
        var key = (await enable.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("sharedKey").GetString()!;
        using var confirm = await api.SendAsync(As(tokens, HttpMethod.Post, "/api/me/2fa/confirm", new { code = Totp.Code(key) }), Ct);
        host.Idp.NextUser(FakeIdentityProvider.Google, new FakeUser(Guid.NewGuid().ToString("N"), email, EmailVerified: true, "Test User"));
        using var browser = host.Client(cookies: true);

        var askedForCode = await ExternalSignIn.SignInWithAsync(browser, FakeIdentityProvider.Google, "/account");
        using var beforeCode = await browser.GetAsync("/api/me", Ct);
        var form = await browser.GetStringAsync(askedForCode, Ct);
        using var wrong = await PostCodeAsync(browser, askedForCode, form, Totp.Code(key) == "000000" ? "111111" : "000000");
        var retry = await wrong.Content.ReadAsStringAsync(Ct);
        using var right = await PostCodeAsync(browser, askedForCode, retry, Totp.Code(key, DateTimeOffset.UtcNow.AddSeconds(30)));
        using var me = await browser.GetAsync("/api/me", Ct);

        Assert.Equal(HttpStatusCode.OK, confirm.StatusCode);
        Assert.StartsWith("/account/login?twoFactor=true", askedForCode, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, beforeCode.StatusCode);
        Assert.Contains(email, form, StringComparison.Ordinal);
        Assert.Contains("not correct", retry, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, right.StatusCode);
        Assert.Equal("/account", right.Headers.Location!.AbsolutePath());
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
    }

    /// <summary>Posts the sign-in page's code form as a browser would, with its antiforgery token.</summary>
    static async Task<HttpResponseMessage> PostCodeAsync(HttpClient browser, string page, string html, string code)
    {
        string Hidden(string name) => System.Text.RegularExpressions.Regex.Match(html, $"name=\"{System.Text.RegularExpressions.Regex.Escape(name)}\"[^>]*value=\"([^\"]*)\"").Groups[1].Value;
        var fields = new Dictionary<string, string>
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = System.Net.WebUtility.HtmlDecode(Hidden("__RequestVerificationToken")),
            ["Input.Stage"] = Hidden("Input.Stage"),
            ["Input.Code"] = code,
        };
        return await browser.PostAsync(page, new FormUrlEncodedContent(fields), Ct);
    }

    [Fact]
    public async Task A_forged_state_or_a_refusal_at_the_provider_ends_on_the_sign_in_page()
    {
        using var browser = host.Client(cookies: true);
        using var external = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var start = await browser.GetAsync("/auth/google", Ct);
        var authorize = start.Headers.Location!;
        using var approved = await external.GetAsync(authorize, Ct);
        var callback = approved.Headers.Location!;
        var forged = callback.PathAndQuery.Replace("state=", "state=x", StringComparison.Ordinal);
        using var forgedCallback = await browser.GetAsync(forged, Ct);

        host.Idp.Deny = true;
        string denied;
        try
        {
            denied = await ExternalSignIn.SignInWithAsync(host.Client(cookies: true), FakeIdentityProvider.Oidc, "/");
        }
        finally
        {
            host.Idp.Deny = false;
        }

        Assert.Equal(HttpStatusCode.Redirect, forgedCallback.StatusCode);
        Assert.StartsWith("/account/login?error=", forgedCallback.Headers.Location!.OriginalString, StringComparison.Ordinal);
        Assert.StartsWith("/account/login?error=", denied, StringComparison.Ordinal);
        Assert.Contains("cancelled", Uri.UnescapeDataString(denied), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/café?q=ü", "/caf%C3%A9?q=%C3%BC")]
    [InlineData("/account", "/account")]
    [InlineData("//evil.example/ü", "/")]
    [InlineData("/\u0001x", "/")]
    public async Task A_return_address_with_non_ascii_characters_lands_on_its_encoded_local_path_never_a_500(string returnUrl, string expected)
    {
        host.Idp.NextUser(FakeIdentityProvider.Google, new FakeUser(Guid.NewGuid().ToString("N"), NewEmail("google"), EmailVerified: true, "Ada"));
        using var browser = host.Client(cookies: true);

        var landing = await ExternalSignIn.SignInWithAsync(browser, FakeIdentityProvider.Google, returnUrl);

        Assert.Equal(expected, landing);
    }

    [Fact]
    public async Task An_unconfigured_provider_is_a_404_problem_and_only_configured_ones_are_offered()
    {
        await using var bare = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["Identity:Google:ClientId"] = null,
            ["Identity:GitHub:ClientId"] = null,
        });
        using var client = bare.Client();

        using var google = await client.GetAsync("/auth/google", Ct);
        using var oidc = await client.GetAsync("/auth/oidc", Ct);

        Assert.Equal(HttpStatusCode.NotFound, google.StatusCode);
        Assert.Contains("Identity:Google:ClientId", (await ProblemAsync(google)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Redirect, oidc.StatusCode);
    }

    static string Subject(string provider) => provider == FakeIdentityProvider.GitHub
        ? Random.Shared.Next(1_000_000, 9_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture)
        : Guid.NewGuid().ToString("N");
}

static class ExternalSignIn
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Plays the browser through the provider and back; returns where AiHub finally sends it.</summary>
    public static async Task<string> SignInWithAsync(HttpClient browser, string provider, string returnUrl)
    {
        using var external = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true });
        var start = await browser.GetAsync($"/auth/{provider}?returnUrl={Uri.EscapeDataString(returnUrl)}", Ct);
        Assert.Equal(HttpStatusCode.Redirect, start.StatusCode);
        using var back = await OAuthFlow.FollowAsync(browser, external, start, Ct);
        var location = back.Headers.Location!;
        if (!location.AbsolutePath().StartsWith("/auth/complete", StringComparison.Ordinal))
            return location.OriginalString;
        using var completed = await browser.GetAsync(location, Ct);
        Assert.Equal(HttpStatusCode.Redirect, completed.StatusCode);
        return completed.Headers.Location!.OriginalString;
    }

}

static class UriPaths
{
    public static string AbsolutePath(this Uri uri) => uri.IsAbsoluteUri ? uri.AbsolutePath : uri.OriginalString.Split('?')[0];
}

public sealed class ExternalLoginsOnSqlite(SqliteIdentityFixture fixture) : ExternalLoginTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;
