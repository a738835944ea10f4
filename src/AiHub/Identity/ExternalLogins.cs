using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text.Json;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Google;
using Microsoft.AspNetCore.Authentication.OAuth;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace AiHub.Identity;

internal sealed record ExternalProvider(string Scheme, string Route, string DisplayName);

/// <summary>Sign-in with Google, GitHub and one OpenID Connect provider; each is on only when its client id is configured.</summary>
internal static class ExternalLogins
{
    public const string Google = "Google";
    public const string GitHub = "GitHub";
    public const string Oidc = "Oidc";
    const string VerifiedClaim = "email_verified";

    public static IServiceCollection AddExternalLogins(this IServiceCollection services)
    {
        new AuthenticationBuilder(services)
            .AddGoogle(Google, _ => { })
            .AddOAuth(GitHub, "GitHub", _ => { })
            .AddOpenIdConnect(Oidc, "Single sign-on", _ => { });
        services.AddOptions<GoogleOptions>(Google).Configure<IOptions<IdentitySettings>>((o, s) => ConfigureGoogle(o, s.Value.Google));
        services.AddOptions<OAuthOptions>(GitHub).Configure<IOptions<IdentitySettings>>((o, s) => ConfigureGitHub(o, s.Value.GitHub));
        services.AddOptions<OpenIdConnectOptions>(Oidc).Configure<IOptions<IdentitySettings>>((o, s) => ConfigureOidc(o, s.Value.Oidc));
        services.AddTransient<IStartupFilter, RemoveUnconfiguredProviders>();
        return services;
    }

    /// <summary>The providers that are configured, for the sign-in page's buttons.</summary>
    public static IReadOnlyList<ExternalProvider> Configured(IdentitySettings settings)
    {
        var list = new List<ExternalProvider>();
        if (settings.Google.Enabled)
            list.Add(new(Google, "google", "Google"));
        if (settings.GitHub.Enabled)
            list.Add(new(GitHub, "github", "GitHub"));
        if (settings.Oidc.Enabled)
            list.Add(new(Oidc, "oidc", settings.Oidc.DisplayName));
        return list;
    }

    static void ConfigureGoogle(GoogleOptions options, OAuthProviderSettings settings)
    {
        ConfigureOAuth(options, settings, "/auth/google/callback");
        options.ClaimActions.MapJsonKey(VerifiedClaim, VerifiedClaim);
    }

    static void ConfigureGitHub(OAuthOptions options, OAuthProviderSettings settings)
    {
        options.AuthorizationEndpoint = "https://github.com/login/oauth/authorize";
        options.TokenEndpoint = "https://github.com/login/oauth/access_token";
        options.UserInformationEndpoint = "https://api.github.com/user";
        ConfigureOAuth(options, settings, "/auth/github/callback");
        options.Scope.Add("read:user");
        options.Scope.Add("user:email");
        options.ClaimActions.MapJsonKey(ClaimTypes.NameIdentifier, "id");
        options.ClaimActions.MapJsonKey(ClaimTypes.Name, "name");
        options.Events.OnCreatingTicket = LoadGitHubUserAsync;
    }

    static void ConfigureOAuth(OAuthOptions options, OAuthProviderSettings settings, string callback)
    {
        options.ClientId = settings.ClientId ?? "";
        options.ClientSecret = settings.ClientSecret ?? "";
        options.CallbackPath = callback;
        options.SignInScheme = IdentityConstants.ExternalScheme;
        options.UsePkce = true;
        options.Events.OnRemoteFailure = BackToLoginAsync;
        if (settings.AuthorizationEndpoint is { } authorize)
            options.AuthorizationEndpoint = authorize.ToString();
        if (settings.TokenEndpoint is { } token)
            options.TokenEndpoint = token.ToString();
        if (settings.UserInformationEndpoint is { } userInfo)
            options.UserInformationEndpoint = userInfo.ToString();
    }

    static void ConfigureOidc(OpenIdConnectOptions options, OidcProviderSettings settings)
    {
        options.Authority = settings.Authority?.ToString();
        options.ClientId = settings.ClientId;
        options.ClientSecret = settings.ClientSecret;
        options.RequireHttpsMetadata = settings.RequireHttpsMetadata;
        options.CallbackPath = "/auth/oidc/callback";
        options.SignedOutCallbackPath = "/auth/oidc/signed-out";
        options.SignInScheme = IdentityConstants.ExternalScheme;
        options.ResponseType = OpenIdConnectResponseType.Code;
        options.UsePkce = true;
        options.GetClaimsFromUserInfoEndpoint = true;
        options.Scope.Clear();
        options.Scope.Add("openid");
        options.Scope.Add("profile");
        options.Scope.Add("email");
        options.ClaimActions.MapUniqueJsonKey(VerifiedClaim, VerifiedClaim);
        options.Events.OnRemoteFailure = BackToLoginAsync;
    }

    /// <summary>A refused consent, a forged state or a provider error ends on the sign-in page with a reason, not a 500.</summary>
    static Task BackToLoginAsync(RemoteFailureContext context)
    {
        var reason = context.Failure?.Message.Contains("access_denied", StringComparison.Ordinal) == true
            ? "The sign-in was cancelled at the provider."
            : "The sign-in with the provider could not be completed; try again.";
        context.Response.Redirect("/account/login?error=" + Uri.EscapeDataString(reason));
        context.HandleResponse();
        return Task.CompletedTask;
    }

    /// <summary>GitHub's profile may hide the address; the emails endpoint says which one is primary and verified.</summary>
    static async Task LoadGitHubUserAsync(OAuthCreatingTicketContext context)
    {
        var ct = context.HttpContext.RequestAborted;
        using var user = await GetJsonAsync(context, context.Options.UserInformationEndpoint, ct);
        context.RunClaimActions(user.RootElement);
        var emailsEndpoint = context.Options.UserInformationEndpoint.TrimEnd('/') + "/emails";
        using var emails = await GetJsonAsync(context, emailsEndpoint, ct);
        foreach (var entry in emails.RootElement.EnumerateArray())
        {
            if (entry.TryGetProperty("primary", out var primary) && primary.GetBoolean() && entry.GetProperty("email").GetString() is { } address)
            {
                context.Identity!.AddClaim(new Claim(ClaimTypes.Email, address));
                var verified = entry.TryGetProperty("verified", out var v) && v.GetBoolean();
                context.Identity.AddClaim(new Claim(VerifiedClaim, verified ? "true" : "false"));
                break;
            }
        }
    }

    static async Task<JsonDocument> GetJsonAsync(OAuthCreatingTicketContext context, string url, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", context.AccessToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("AiHub", "1.0"));
        using var response = await context.Backchannel.SendAsync(request, ct);
        response.EnsureSuccessStatusCode();
        return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
    }

    public static void MapExternalLoginEndpoints(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/auth").WithTags("Authentication").AllowAnonymous().ExcludeFromDescription();
        auth.MapGet("/google", (HttpContext http, SignInManager<AppUser> signIn, string? returnUrl) => ChallengeAsync(http, signIn, Google, returnUrl));
        auth.MapGet("/github", (HttpContext http, SignInManager<AppUser> signIn, string? returnUrl) => ChallengeAsync(http, signIn, GitHub, returnUrl));
        auth.MapGet("/oidc", (HttpContext http, SignInManager<AppUser> signIn, string? returnUrl) => ChallengeAsync(http, signIn, Oidc, returnUrl));
        auth.MapGet("/complete", CompleteAsync);
    }

    static async Task<IResult> ChallengeAsync(HttpContext http, SignInManager<AppUser> signIn, string scheme, string? returnUrl)
    {
        if (await http.RequestServices.GetRequiredService<IAuthenticationSchemeProvider>().GetSchemeAsync(scheme) is null)
            throw new ProblemException(StatusCodes.Status404NotFound, $"Sign-in with {scheme} is not configured.",
                $"An administrator sets Identity:{scheme}:ClientId and ClientSecret to turn it on.", ProblemTypes.NotFound);
        var redirect = "/auth/complete?returnUrl=" + Uri.EscapeDataString(BrowserSignIn.LocalOrHome(returnUrl));
        return Results.Challenge(signIn.ConfigureExternalAuthenticationProperties(scheme, redirect), [scheme]);
    }

    /// <summary>Where every provider's callback lands: find or link the account, then start a browser session.</summary>
    static async Task<IResult> CompleteAsync(HttpContext http, SignInManager<AppUser> signIn, UserManager<AppUser> users,
        AuditLog audit, Accounts accounts, BrowserSignIn browser, TimeProvider clock, string? returnUrl, CancellationToken ct)
    {
        var info = await signIn.GetExternalLoginInfoAsync();
        await http.SignOutAsync(IdentityConstants.ExternalScheme);
        if (info is null)
            return BrowserSignIn.BackToLogin("The sign-in with the provider did not complete; try again.");
        var user = await users.FindByLoginAsync(info.LoginProvider, info.ProviderKey);
        if (user is null)
        {
            var email = info.Principal.FindFirstValue(ClaimTypes.Email);
            var verified = string.Equals(info.Principal.FindFirstValue(VerifiedClaim), "true", StringComparison.OrdinalIgnoreCase);
            // Linking by an unverified address would hand the account to whoever typed it at the provider.
            if (email is null || !verified)
                return BrowserSignIn.BackToLogin($"{info.ProviderDisplayName} did not confirm an email address for this account; sign up with a password instead.");
            user = await users.FindByEmailAsync(email);
            if (user is null)
            {
                user = new AppUser { UserName = email, Email = email, EmailConfirmed = true, CreatedAt = clock.GetUtcNow(), DisplayName = info.Principal.FindFirstValue(ClaimTypes.Name) ?? info.Principal.FindFirstValue("name") };
                var created = await accounts.CreateAsync(user, password: null, via: info.LoginProvider, ct);
                if (!created.Succeeded)
                    return BrowserSignIn.BackToLogin(string.Join(" ", created.Errors.Select(e => e.Description)));
            }
            else if (!user.EmailConfirmed)
                await accounts.ReclaimUnverifiedAsync(user, info.LoginProvider, ct);
            var linked = await users.AddLoginAsync(user, new UserLoginInfo(info.LoginProvider, info.ProviderKey, info.ProviderDisplayName));
            if (!linked.Succeeded)
                return BrowserSignIn.BackToLogin(string.Join(" ", linked.Errors.Select(e => e.Description)));
            audit.Add(AuditKinds.ExternalLoginLinked, user.Id, new { provider = info.LoginProvider });
        }
        if (await users.IsLockedOutAsync(user))
            return BrowserSignIn.BackToLogin("The account is locked for a while after too many failed sign-ins.");
        var method = $"external:{info.LoginProvider}";
        if (user.TwoFactorEnabled)
        {
            // The provider vouches for the first factor only; the account's own second factor still applies.
            await browser.BeginSecondFactorAsync(user, method);
            return Results.LocalRedirect("/account/login?twoFactor=true&returnUrl=" + Uri.EscapeDataString(BrowserSignIn.LocalOrHome(returnUrl)));
        }
        var (_, session) = await accounts.StartSessionAsync(user, SessionKind.Browser, method, ct);
        await browser.SignInAsync(user, session);
        return Results.LocalRedirect(BrowserSignIn.LocalOrHome(returnUrl));
    }

    /// <summary>Every handler is registered so that its options and services exist; the unconfigured ones are removed before the first request.</summary>
    sealed class RemoveUnconfiguredProviders(IAuthenticationSchemeProvider schemes, IOptions<IdentitySettings> settings) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            var configured = Configured(settings.Value).Select(p => p.Scheme).ToHashSet();
            foreach (var scheme in new[] { Google, GitHub, Oidc }.Where(s => !configured.Contains(s)))
                schemes.RemoveScheme(scheme);
            next(app);
        };
    }
}
