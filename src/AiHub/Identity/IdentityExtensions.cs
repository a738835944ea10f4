using AiHub.Identity.Pages;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using AiHub.Data;

namespace AiHub.Identity;

public static class IdentityExtensions
{
    /// <summary>The scheme that picks JWT bearer for API clients and the Identity cookie for the browser.</summary>
    internal const string SmartScheme = "AiHub";

    /// <summary>The scheme of organisation API keys, which the Organizations feature registers.</summary>
    internal const string ApiKeyScheme = "ApiKey";

    /// <summary>How an API key starts, which tells it apart from a JWT (which starts <c>eyJ</c>).</summary>
    internal const string ApiKeyTokenPrefix = "ahk_";

    /// <summary>Accounts, cookies and tokens, OAuth and OIDC sign-in, two-factor codes, roles and permissions.</summary>
    public static IHostApplicationBuilder AddIdentityFeature(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<IdentitySettings>(IdentitySettings.Section);
        services.AddSettings<BootstrapSettings>(BootstrapSettings.Section);
        services.AddSingleton<IHostCommand, CreateAdminCommand>();
        services.AddHttpContextAccessor();

        services.AddIdentityCore<AppUser>()
            .AddRoles<AppRole>()
            .AddEntityFrameworkStores<AppDbContext>()
            .AddSignInManager()
            .AddDefaultTokenProviders()
            .AddTokenProvider<EmailCodeTokenProvider>(EmailCodeTokenProvider.Name)
            .AddTokenProvider<AuthenticatorCodes>(AuthenticatorCodes.Name)
            .AddPasswordValidator<PasswordPolicy>();
        services.Replace(ServiceDescriptor.Scoped<IUserStore<AppUser>, ProtectedUserStore>());
        services.AddOptions<IdentityOptions>().Configure<IOptions<IdentitySettings>>((options, settings) =>
        {
            options.User.RequireUniqueEmail = true;
            options.Password.RequiredLength = PasswordPolicy.MinimumLength;
            options.Password.RequireDigit = false;
            options.Password.RequireLowercase = false;
            options.Password.RequireUppercase = false;
            options.Password.RequireNonAlphanumeric = false;
            options.Password.RequiredUniqueChars = 1;
            options.Lockout.AllowedForNewUsers = true;
            options.Lockout.MaxFailedAccessAttempts = settings.Value.MaxFailedLogins;
            options.Lockout.DefaultLockoutTimeSpan = settings.Value.LockoutDuration;
            // Login checks verification itself, after the password, so that only the account's owner learns it.
            options.SignIn.RequireConfirmedEmail = false;
            options.Tokens.EmailConfirmationTokenProvider = EmailCodeTokenProvider.Name;
            options.Tokens.AuthenticatorTokenProvider = AuthenticatorCodes.Name;
            options.ClaimsIdentity.UserIdClaimType = "sub";
        });
        services.AddOptions<DataProtectionTokenProviderOptions>().Configure<IOptions<IdentitySettings>>((options, settings) =>
            options.TokenLifespan = settings.Value.PasswordResetLifetime);
        services.AddSingleton<EmailCodeTokenProvider>();

        services.AddAuthentication(SmartScheme)
            .AddPolicyScheme(SmartScheme, "Bearer token, API key or cookie", options => options.ForwardDefaultSelector = SchemeFor)
            .AddJwtBearer()
            .AddIdentityCookies();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme).Configure<SigningKeys, TimeProvider>(ConfigureBearer);
        services.AddOptions<CookieAuthenticationOptions>(IdentityConstants.ApplicationScheme).Configure<IOptions<IdentitySettings>>(ConfigureCookie);
        services.AddExternalLogins();

        services.AddAuthorization(options =>
        {
            foreach (var permission in Permissions.All)
                options.AddPolicy(permission, policy => policy.RequireAuthenticatedUser().AddRequirements(new PermissionRequirement(permission)));
        });
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, PermissionHandler>();
        services.AddSingleton<PermissionLookup>();
        services.Configure<Microsoft.AspNetCore.OpenApi.OpenApiOptions>("v1", options => options.AddBearerSecurity());
        services.AddSingleton<SigningKeys>();
        services.AddHostedService(sp => sp.GetRequiredService<SigningKeys>());
        services.AddHostedService<AdminBootstrap>();
        services.AddScoped<Sessions>();
        services.AddScoped<Tokens>();
        services.AddScoped<Accounts>();
        services.AddScoped<Profiles>();
        services.AddScoped<BrowserSignIn>();
        services.AddScoped<TwoFactor>();
        services.AddCascadingAuthenticationState();
        services.AddScoped<DisplayNameChanges>();
        services.AddScoped<AuthenticationStateProvider, SessionRevalidation>();
        return builder;
    }

    public static IEndpointRouteBuilder MapIdentityEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapAuthEndpoints();
        app.MapMeEndpoints();
        app.MapAdminUserEndpoints();
        app.MapBrowserSignInEndpoints();
        app.MapExternalLoginEndpoints();
        return app;
    }

    /// <summary>The header Anthropic's clients send their key in; only an AiHub API key may come this way.</summary>
    internal const string ApiKeyHeader = "x-api-key";

    /// <summary>
    /// The request's bearer credential: <c>Authorization: Bearer …</c>, else a WebSocket's query token, else
    /// <c>x-api-key</c> (what Anthropic's SDKs send); null when it has none.
    /// </summary>
    internal static string? TokenOf(HttpRequest request) => TokenOf(request, out _);

    static string? TokenOf(HttpRequest request, out bool fromKeyHeader)
    {
        fromKeyHeader = false;
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return authorization["Bearer ".Length..].Trim();
        if (QueryTokens.Of(request) is { } query)
            return query;
        if (authorization.Length > 0 || !request.Headers.TryGetValue(ApiKeyHeader, out var header) || header.ToString().Trim() is not { Length: > 0 } key)
            return null;
        fromKeyHeader = true;
        return key;
    }

    static string SchemeFor(HttpContext http)
    {
        if (http.RequestServices.GetRequiredService<IOptions<BearerRouteOptions>>().Value.SchemeFor(http.Request.Path) is { } routeScheme)
            return routeScheme;
        var token = TokenOf(http.Request, out var fromKeyHeader);
        if (token is null)
            return IdentityConstants.ApplicationScheme;
        // Whatever x-api-key holds, it is never a JWT: the API key scheme answers for it, and refuses what is not a key.
        return fromKeyHeader || token.StartsWith(ApiKeyTokenPrefix, StringComparison.Ordinal) ? ApiKeyScheme : JwtBearerDefaults.AuthenticationScheme;
    }

    /// <summary>Routes that machines call: a missing or refused credential is a 401/403 ProblemDetails there, never a redirect to the sign-in page.</summary>
    static readonly string[] ApiPaths = ["/api", "/v1", "/ws"];

    internal static bool IsApiRequest(HttpRequest request) =>
        request.HttpContext.WebSockets.IsWebSocketRequest
        || ApiPaths.Any(p => request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase));

    static void ConfigureBearer(JwtBearerOptions options, SigningKeys keys, TimeProvider clock)
    {
        options.MapInboundClaims = false;
        options.TimeProvider = clock;
        options.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuer = Tokens.Issuer,
            ValidAudience = Tokens.Audience,
            NameClaimType = "email",
            ClockSkew = TimeSpan.Zero,
            IssuerSigningKeyResolver = (_, _, _, _) => [keys.Current],
            // Lifetime against the injected clock, so that expiry is testable and follows the host's TimeProvider.
            LifetimeValidator = (notBefore, expires, _, _) =>
            {
                var now = clock.GetUtcNow().UtcDateTime;
                return (notBefore is null || notBefore <= now) && expires > now;
            },
        };
        options.Events = new JwtBearerEvents
        {
            OnMessageReceived = context =>
            {
                context.Token ??= QueryTokens.Of(context.Request);
                return Task.CompletedTask;
            },
            OnTokenValidated = async context =>
            {
                var services = context.HttpContext.RequestServices;
                var sessions = services.GetRequiredService<Sessions>();
                var jti = context.Principal?.FindFirst("jti")?.Value;
                var ct = context.HttpContext.RequestAborted;
                if (jti is null || await sessions.IsDeniedAsync(jti, ct))
                    context.Fail("The access token was revoked.");
                else if (context.Principal!.SessionId() is not { } sid || !await sessions.IsActiveAsync(sid, ct))
                    context.Fail("The session has ended.");
            },
        };
    }

    static void ConfigureCookie(CookieAuthenticationOptions options, IOptions<IdentitySettings> settings)
    {
        options.Cookie.Name = "aihub.session";
        options.Cookie.HttpOnly = true;
        options.Cookie.SameSite = SameSiteMode.Lax;
        options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        options.ExpireTimeSpan = settings.Value.BrowserSessionLifetime;
        options.SlidingExpiration = true;
        options.LoginPath = "/account/login";
        options.LogoutPath = "/account/logout";
        options.AccessDeniedPath = "/status/403";
        options.Events = new CookieAuthenticationEvents
        {
            // An API caller without a token gets 401/403 ProblemDetails, not a redirect to the sign-in page.
            OnRedirectToLogin = context => RedirectOrStatus(context, StatusCodes.Status401Unauthorized),
            OnRedirectToAccessDenied = context => RedirectOrStatus(context, StatusCodes.Status403Forbidden),
            OnValidatePrincipal = async context =>
            {
                var sessions = context.HttpContext.RequestServices.GetRequiredService<Sessions>();
                if (context.Principal?.SessionId() is not { } sid || !await sessions.IsActiveAsync(sid, context.HttpContext.RequestAborted))
                {
                    context.RejectPrincipal();
                    await context.HttpContext.SignOutAsync(IdentityConstants.ApplicationScheme);
                }
            },
        };
    }

    static Task RedirectOrStatus(RedirectContext<CookieAuthenticationOptions> context, int status)
    {
        // The redirect would also copy the request's URL, query and any token in it, into the Location header.
        if (IsApiRequest(context.Request))
            context.Response.StatusCode = status;
        else
            context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }
}
