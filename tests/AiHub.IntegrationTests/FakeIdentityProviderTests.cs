using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AiHub.Fixtures;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.IntegrationTests;

/// <summary>The fake identity provider is only worth its name if real clients and the real ASP.NET Core handlers accept it.</summary>
public sealed class FakeIdentityProviderTests
{
    const string Verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    // Never called: these tests read the redirect themselves.
    const string RedirectUri = "http://127.0.0.1:9/callback";

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_discovery_document_is_readable_by_the_OpenID_Connect_configuration_retriever()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();

        var configuration = await DiscoverAsync(idp);

        Assert.Equal(idp.OidcAuthority, configuration.Issuer);
        Assert.Equal(idp.OidcTokenEndpoint, configuration.TokenEndpoint);
        Assert.Contains("S256", configuration.CodeChallengeMethodsSupported);
        Assert.Contains("form_post", configuration.ResponseModesSupported);
        var key = Assert.Single(configuration.SigningKeys);
        Assert.False(string.IsNullOrEmpty(key.KeyId));
    }

    [Fact]
    public async Task A_code_flow_with_pkce_yields_an_id_token_that_validates_against_the_published_keys()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        idp.NextUser(FakeIdentityProvider.Oidc, new FakeUser("grace", "grace@example.com", true, "Grace Hopper"));
        using var http = Browserless();

        var code = await AuthorizeAsync(http, idp, nonce: "n-42");
        using var response = await RedeemAsync(http, idp, code);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var tokens = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("Bearer", tokens.GetProperty("token_type").GetString());
        var configuration = await DiscoverAsync(idp);
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(tokens.GetProperty("id_token").GetString(), new TokenValidationParameters
        {
            ValidIssuer = idp.OidcAuthority,
            ValidAudience = FakeIdentityProvider.ClientId,
            IssuerSigningKeys = configuration.SigningKeys,
        });
        Assert.True(result.IsValid, result.Exception?.Message);
        Assert.Equal("n-42", result.Claims["nonce"]);
        Assert.Equal("grace", result.Claims["sub"]);
        Assert.Equal("grace@example.com", result.Claims["email"]);
        Assert.Equal(true, result.Claims["email_verified"]);
        Assert.Equal("Grace Hopper", result.Claims["name"]);

        using var userInfo = new HttpRequestMessage(HttpMethod.Get, idp.OidcUserInfoEndpoint);
        userInfo.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens.GetProperty("access_token").GetString());
        using var claims = await http.SendAsync(userInfo, Ct);
        var user = await claims.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("grace", user.GetProperty("sub").GetString());
        Assert.Equal("grace@example.com", user.GetProperty("email").GetString());
    }

    [Fact]
    public async Task A_code_can_be_redeemed_only_once()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        using var http = Browserless();
        var code = await AuthorizeAsync(http, idp);

        using var first = await RedeemAsync(http, idp, code);
        using var second = await RedeemAsync(http, idp, code);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        await AssertErrorAsync(second, HttpStatusCode.BadRequest, "invalid_grant");
    }

    [Fact]
    public async Task The_client_authenticates_in_the_form_or_with_basic_auth_and_a_wrong_secret_is_refused()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        using var http = Browserless();

        using var wrong = await RedeemAsync(http, idp, await AuthorizeAsync(http, idp), secret: "guess");
        using var basic = new HttpRequestMessage(HttpMethod.Post, idp.OidcTokenEndpoint)
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "authorization_code",
                ["code"] = await AuthorizeAsync(http, idp),
                ["redirect_uri"] = RedirectUri,
                ["code_verifier"] = Verifier,
            }),
        };
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"{FakeIdentityProvider.ClientId}:{FakeIdentityProvider.ClientSecret}")));
        using var accepted = await http.SendAsync(basic, Ct);

        await AssertErrorAsync(wrong, HttpStatusCode.Unauthorized, "invalid_client");
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact]
    public async Task A_wrong_pkce_verifier_is_refused()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        using var http = Browserless();

        using var response = await RedeemAsync(http, idp, await AuthorizeAsync(http, idp), verifier: Verifier.Replace('d', 'e'));

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
    }

    [Fact]
    public async Task A_redirect_uri_other_than_the_authorized_one_is_refused()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        using var http = Browserless();

        using var response = await RedeemAsync(http, idp, await AuthorizeAsync(http, idp), redirectUri: RedirectUri + "/elsewhere");

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
    }

    [Fact]
    public async Task A_code_expires()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var idp = await FakeIdentityProvider.StartAsync(time);
        using var http = Browserless();
        var code = await AuthorizeAsync(http, idp);

        time.Advance(FakeIdentityProvider.CodeLifetime);
        using var response = await RedeemAsync(http, idp, code);

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_grant");
    }

    [Fact]
    public async Task A_denied_sign_in_answers_access_denied_to_the_redirect_uri()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        idp.Deny = true;
        using var http = Browserless();

        using var response = await http.GetAsync(AuthorizeUrl(idp.GoogleAuthorizationEndpoint, "openid email"), Ct);

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var callback = QueryHelpers.ParseQuery(response.Headers.Location!.Query);
        Assert.Equal("access_denied", callback["error"]);
        Assert.Equal("s-1", callback["state"]);
        Assert.False(callback.ContainsKey("code"));
    }

    [Fact]
    public async Task GitHub_answers_token_errors_with_200_and_its_own_codes_like_the_real_one()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        using var http = Browserless();
        using var request = new HttpRequestMessage(HttpMethod.Post, idp.GitHubTokenEndpoint)
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["client_id"] = FakeIdentityProvider.ClientId,
                ["client_secret"] = FakeIdentityProvider.ClientSecret,
                ["grant_type"] = "authorization_code",
                ["code"] = "never-issued",
                ["redirect_uri"] = RedirectUri,
            }),
        };
        request.Headers.Accept.ParseAdd("application/json");

        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal("bad_verification_code", body.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData(OpenIdConnectResponseMode.FormPost)]
    [InlineData(OpenIdConnectResponseMode.Query)]
    public async Task The_OpenID_Connect_handler_signs_in(string responseMode)
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        idp.NextUser(FakeIdentityProvider.Oidc, new FakeUser("grace", "grace@example.com", true, "Grace Hopper"));
        await using var app = await SignInApp.StartAsync(auth => auth.AddOpenIdConnect("oidc", options =>
        {
            OidcOptions(options, idp);
            options.ResponseMode = responseMode;
        }));

        var claims = await SignInAsync(app, "oidc");

        Assert.Equal("grace", claims["sub"]);
        Assert.Equal("grace@example.com", claims["email"]);
        Assert.Equal("true", claims["email_verified"]);
        Assert.Equal("Grace Hopper", claims["name"]);
        var authorize = Assert.Single(idp.Requests, r => r.Path == "/oidc/authorize");
        // The handler leaves response_mode out when it is the default for the code flow.
        Assert.Equal(responseMode, authorize.Parameters.GetValueOrDefault("response_mode") ?? OpenIdConnectResponseMode.Query);
        Assert.Contains(idp.Requests, r => r.Path == "/oidc/userinfo");
    }

    [Fact]
    public async Task The_OpenID_Connect_handler_sends_a_denied_sign_in_to_its_access_denied_path()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        idp.Deny = true;
        await using var app = await SignInApp.StartAsync(auth => auth.AddOpenIdConnect("oidc", options => OidcOptions(options, idp)));
        using var external = Browserless();

        using var end = await OAuthFlow.FollowAsync(app.Client, external, await app.Client.GetAsync("/login/oidc", Ct), Ct);

        Assert.Equal(HttpStatusCode.Redirect, end.StatusCode);
        Assert.Equal("/denied", new Uri(app.Client.BaseAddress!, end.Headers.Location!).AbsolutePath);
        using var me = await app.Client.GetAsync("/me", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
    }

    [Fact]
    public async Task The_Google_handler_signs_in()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        idp.NextUser(FakeIdentityProvider.Google, new FakeUser("1170", "grace@example.com", true, "Grace Hopper"));
        await using var app = await SignInApp.StartAsync(auth => auth.AddGoogle(options =>
        {
            options.ClientId = FakeIdentityProvider.ClientId;
            options.ClientSecret = FakeIdentityProvider.ClientSecret;
            options.AuthorizationEndpoint = idp.GoogleAuthorizationEndpoint;
            options.TokenEndpoint = idp.GoogleTokenEndpoint;
            options.UserInformationEndpoint = idp.GoogleUserInformationEndpoint;
            options.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        }));

        var claims = await SignInAsync(app, "Google");

        Assert.Equal("1170", claims[ClaimTypes.NameIdentifier]);
        Assert.Equal("grace@example.com", claims[ClaimTypes.Email]);
        Assert.Equal("Grace Hopper", claims[ClaimTypes.Name]);
        Assert.Equal("Hopper", claims[ClaimTypes.Surname]);
        Assert.Contains(idp.Requests, r => r.Path == "/google/token" && r.Parameters.ContainsKey("code_verifier"));
    }

    [Fact]
    public async Task The_OAuth_handler_signs_in_with_GitHub_and_finds_the_primary_verified_email()
    {
        await using var idp = await FakeIdentityProvider.StartAsync();
        idp.NextUser(FakeIdentityProvider.GitHub, new FakeUser("1906", "grace@example.com", true, "Grace Hopper"));
        await using var app = await SignInApp.StartAsync(auth => auth.AddOAuth("github", options =>
        {
            options.ClientId = FakeIdentityProvider.ClientId;
            options.ClientSecret = FakeIdentityProvider.ClientSecret;
            options.AuthorizationEndpoint = idp.GitHubAuthorizationEndpoint;
            options.TokenEndpoint = idp.GitHubTokenEndpoint;
            options.UserInformationEndpoint = idp.GitHubUserEndpoint;
            options.CallbackPath = "/signin-github";
            options.UsePkce = true;
            options.Scope.Add("read:user");
            options.Scope.Add("user:email");
            options.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.ClaimActions.MapJsonKey(ClaimTypes.NameIdentifier, "id");
            options.ClaimActions.MapJsonKey(ClaimTypes.Name, "name");
            options.ClaimActions.MapJsonKey("urn:github:login", "login");
            options.Events.OnCreatingTicket = async context =>
            {
                using var user = await GitHubGetAsync(context.Backchannel, context.Options.UserInformationEndpoint, context.AccessToken!);
                context.RunClaimActions(user.RootElement);
                using var emails = await GitHubGetAsync(context.Backchannel, idp.GitHubEmailsEndpoint, context.AccessToken!);
                var primary = emails.RootElement.EnumerateArray()
                    .Single(e => e.GetProperty("primary").GetBoolean() && e.GetProperty("verified").GetBoolean());
                context.Identity!.AddClaim(new Claim(ClaimTypes.Email, primary.GetProperty("email").GetString()!));
            };
        }));

        var claims = await SignInAsync(app, "github");

        Assert.Equal("1906", claims[ClaimTypes.NameIdentifier]);
        Assert.Equal("grace", claims["urn:github:login"]);
        Assert.Equal("grace@example.com", claims[ClaimTypes.Email]);
    }

    static async Task<JsonDocument> GitHubGetAsync(HttpClient backchannel, string url, string accessToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        request.Headers.Accept.ParseAdd("application/vnd.github+json");
        using var response = await backchannel.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync());
    }

    static void OidcOptions(OpenIdConnectOptions options, FakeIdentityProvider idp)
    {
        options.Authority = idp.OidcAuthority;
        options.RequireHttpsMetadata = false;
        options.ClientId = FakeIdentityProvider.ClientId;
        options.ClientSecret = FakeIdentityProvider.ClientSecret;
        options.ResponseType = OpenIdConnectResponseType.Code;
        options.Scope.Add("email");
        options.GetClaimsFromUserInfoEndpoint = true;
        options.MapInboundClaims = false;
        options.AccessDeniedPath = "/denied";
        // The app listens on plain http, where a browser would drop Secure cookies.
        options.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        options.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
    }

    static async Task<Dictionary<string, string>> SignInAsync(SignInApp app, string scheme)
    {
        using var external = Browserless();
        using var end = await OAuthFlow.FollowAsync(app.Client, external, await app.Client.GetAsync($"/login/{scheme}", Ct), Ct);
        Assert.Equal(HttpStatusCode.Redirect, end.StatusCode);
        Assert.Equal("/me", end.Headers.Location!.OriginalString);

        using var me = await app.Client.GetAsync("/me", Ct);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        return (await me.Content.ReadFromJsonAsync<Dictionary<string, string>>(Ct))!;
    }

    static HttpClient Browserless() => new(new SocketsHttpHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() });

    static async Task<OpenIdConnectConfiguration> DiscoverAsync(FakeIdentityProvider idp)
    {
        using var http = new HttpClient();
        return await OpenIdConnectConfigurationRetriever.GetAsync(
            idp.OidcAuthority + "/.well-known/openid-configuration", new HttpDocumentRetriever(http) { RequireHttps = false }, Ct);
    }

    static string AuthorizeUrl(string endpoint, string scope, string nonce = "n-1") => QueryHelpers.AddQueryString(endpoint, new Dictionary<string, string?>
    {
        ["client_id"] = FakeIdentityProvider.ClientId,
        ["redirect_uri"] = RedirectUri,
        ["response_type"] = "code",
        ["scope"] = scope,
        ["state"] = "s-1",
        ["nonce"] = nonce,
        ["code_challenge"] = Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(Verifier))),
        ["code_challenge_method"] = "S256",
    });

    static async Task<string> AuthorizeAsync(HttpClient http, FakeIdentityProvider idp, string nonce = "n-1")
    {
        using var response = await http.GetAsync(AuthorizeUrl(idp.OidcAuthorizationEndpoint, "openid profile email", nonce), Ct);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var callback = QueryHelpers.ParseQuery(response.Headers.Location!.Query);
        Assert.Equal("s-1", callback["state"]);
        return callback["code"]!;
    }

    static Task<HttpResponseMessage> RedeemAsync(
        HttpClient http, FakeIdentityProvider idp, string code,
        string secret = FakeIdentityProvider.ClientSecret, string verifier = Verifier, string redirectUri = RedirectUri) =>
        http.PostAsync(idp.OidcTokenEndpoint, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["redirect_uri"] = redirectUri,
            ["client_id"] = FakeIdentityProvider.ClientId,
            ["client_secret"] = secret,
            ["code_verifier"] = verifier,
        }), Ct);

    static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string error)
    {
        Assert.Equal(status, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(error, body.GetProperty("error").GetString());
        Assert.True(body.TryGetProperty("error_description", out _));
    }

    /// <summary>The smallest app that signs in through a remote handler into a cookie, as AiHub does.</summary>
    sealed class SignInApp(WebApplication app, HttpClient client) : IAsyncDisposable
    {
        public HttpClient Client { get; } = client;

        public static async Task<SignInApp> StartAsync(Action<AuthenticationBuilder> addProvider)
        {
            var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            builder.Services.AddRoutingCore();
            builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();
            addProvider(builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie());
            var app = builder.Build();
            app.UseAuthentication();
            app.MapGet("/login/{scheme}", context => context.ChallengeAsync(
                (string)context.Request.RouteValues["scheme"]!, new AuthenticationProperties { RedirectUri = "/me" }));
            app.MapGet("/me", context =>
            {
                if (context.User.Identity?.IsAuthenticated != true)
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return Task.CompletedTask;
                }
                return context.Response.WriteAsJsonAsync(
                    context.User.Claims.GroupBy(c => c.Type).ToDictionary(g => g.Key, g => g.First().Value), context.RequestAborted);
            });
            app.MapGet("/denied", context => context.Response.WriteAsync("denied", context.RequestAborted));
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() })
            {
                BaseAddress = new Uri(address),
            };
            return new SignInApp(app, client);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
