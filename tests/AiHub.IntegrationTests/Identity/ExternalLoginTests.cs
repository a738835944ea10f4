using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Admin;
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

        var landing = await SignInWithAsync(browser, provider, "/account");
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

        var refused = await SignInWithAsync(unverifiedBrowser, FakeIdentityProvider.Oidc, "/");
        using var notSignedIn = await unverifiedBrowser.GetAsync("/api/me", Ct);

        using var verifiedBrowser = host.Client(cookies: true);
        host.Idp.NextUser(FakeIdentityProvider.GitHub, new FakeUser("90210", email, EmailVerified: true, "Test User"));
        var linked = await SignInWithAsync(verifiedBrowser, FakeIdentityProvider.GitHub, "/");
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
            denied = await SignInWithAsync(host.Client(cookies: true), FakeIdentityProvider.Oidc, "/");
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

    /// <summary>Plays the browser through the provider and back; returns where AiHub finally sends it.</summary>
    static async Task<string> SignInWithAsync(HttpClient browser, string provider, string returnUrl)
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

    static string Subject(string provider) => provider == FakeIdentityProvider.GitHub
        ? Random.Shared.Next(1_000_000, 9_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture)
        : Guid.NewGuid().ToString("N");
}

static class UriPaths
{
    public static string AbsolutePath(this Uri uri) => uri.IsAbsoluteUri ? uri.AbsolutePath : uri.OriginalString.Split('?')[0];
}

public sealed class ExternalLoginsOnSqlite(SqliteIdentityFixture fixture) : ExternalLoginTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;
