using AiHub.Identity;
using AiHub.Infrastructure.Hosting;
using AiHub.Mcp.Server;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using OpenIddict.Server;
using OpenIddict.Validation.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AiHub.Mcp.OAuth;

/// <summary>OAuth 2.1 for remote MCP connectors: an authorization server on OpenIddict, and its tokens accepted on <c>/mcp</c>.</summary>
internal static class McpOAuthExtensions
{
    /// <summary>The scheme of <c>/mcp</c>: an API key or an OAuth access token, and a challenge that points at the resource metadata.</summary>
    public const string BearerScheme = "McpBearer";

    const string ChallengeScheme = "McpChallenge";

    public const string AuthorizationServerMetadataPath = "/.well-known/oauth-authorization-server";
    public const string ProtectedResourceMetadataPath = "/.well-known/oauth-protected-resource";
    public const string AuthorizePath = "/oauth/authorize";
    public const string TokenPath = "/oauth/token";
    public const string RevokePath = "/oauth/revoke";
    public const string RegisterPath = "/oauth/register";
    public const string ConsentPath = "/oauth/consent";

    /// <summary>The MCP server as an OAuth resource (RFC 8707): what tokens are issued for and checked against.</summary>
    public static Uri ResourceOf(PublicUrlSettings settings) => new(settings.PublicUrl, ServerExtensions.Path);

    public static Uri IssuerOf(PublicUrlSettings settings) => settings.PublicUrl;

    public static void AddOAuth(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<OAuthKeys>();
        services.AddHostedService(sp => sp.GetRequiredService<OAuthKeys>());
        services.AddScoped<OAuthGrants>();
        services.AddScoped<IConnectedApps>(sp => sp.GetRequiredService<OAuthGrants>());
        services.AddSingleton<IMcpCallerSource, OAuthCallerSource>();

        services.AddOpenIddict()
            .AddCore(options => options.UseEntityFrameworkCore()
                .UseDbContext<Data.AppDbContext>()
                .ReplaceDefaultEntities<OAuthApplication, OAuthAuthorization, OAuthScope, OAuthToken, Guid>())
            .AddServer(options =>
            {
                options.SetAuthorizationEndpointUris(AuthorizePath)
                    .SetTokenEndpointUris(TokenPath)
                    .SetRevocationEndpointUris(RevokePath)
                    .SetConfigurationEndpointUris(AuthorizationServerMetadataPath, "/.well-known/openid-configuration");
                options.AllowAuthorizationCodeFlow().AllowRefreshTokenFlow().RequireProofKeyForCodeExchange();
                options.RegisterScopes([.. McpScopes.All]);
                // A redeemed refresh token is refused at once: rotation that tolerates a replay for 30 s protects nothing.
                options.SetRefreshTokenReuseLeeway(TimeSpan.Zero);
                options.SetAccessTokenLifetime(TimeSpan.FromHours(1));
                options.SetRefreshTokenLifetime(TimeSpan.FromDays(30));
                options.IgnoreResourcePermissions().IgnoreAudiencePermissions();
                options.UseAspNetCore()
                    .EnableAuthorizationEndpointPassthrough()
                    // TLS is the operator's proxy's: the public URL, not the hop to this node, is what clients see.
                    .DisableTransportSecurityRequirement();
                options.AddEventHandler<OpenIddictServerEvents.HandleConfigurationRequestContext>(handler => handler
                    .UseInlineHandler(context =>
                    {
                        // The public URL, not the address this node was reached at behind the operator's proxy.
                        var publicUrl = context.Transaction.GetHttpRequest()!.HttpContext.RequestServices.GetRequiredService<IOptions<PublicUrlSettings>>().Value.PublicUrl;
                        context.AuthorizationEndpoint = new Uri(publicUrl, AuthorizePath);
                        context.TokenEndpoint = new Uri(publicUrl, TokenPath);
                        context.RevocationEndpoint = new Uri(publicUrl, RevokePath);
                        context.Metadata["registration_endpoint"] = new Uri(publicUrl, RegisterPath).AbsoluteUri;
                        return default;
                    })
                    .SetOrder(int.MaxValue - 100));
            })
            .AddValidation(options =>
            {
                options.UseLocalServer();
                options.UseAspNetCore();
                // Checks the token's and the grant's rows on every call, so a revoked grant stops the next one.
                options.EnableTokenEntryValidation();
                options.EnableAuthorizationEntryValidation();
            });
        services.AddOptions<OpenIddictServerOptions>().Configure<OAuthKeys, IOptions<PublicUrlSettings>>((options, keys, publicUrl) =>
        {
            options.Issuer = IssuerOf(publicUrl.Value);
            options.SigningCredentials.Add(new Microsoft.IdentityModel.Tokens.SigningCredentials(keys.Signing, Microsoft.IdentityModel.Tokens.SecurityAlgorithms.RsaSha256));
            options.EncryptionCredentials.Add(new Microsoft.IdentityModel.Tokens.EncryptingCredentials(keys.Encryption,
                Microsoft.IdentityModel.Tokens.SecurityAlgorithms.Aes256KW, Microsoft.IdentityModel.Tokens.SecurityAlgorithms.Aes256CbcHmacSha512));
            options.CodeChallengeMethods.Clear();
            options.CodeChallengeMethods.Add(CodeChallengeMethods.Sha256);
            options.Resources.Add(ResourceOf(publicUrl.Value));
        });
        services.AddOptions<OpenIddict.Validation.OpenIddictValidationOptions>().Configure<IOptions<PublicUrlSettings>>((options, publicUrl) =>
            options.Audiences.Add(ResourceOf(publicUrl.Value).AbsoluteUri));

        services.AddAuthentication()
            .AddPolicyScheme(BearerScheme, "API key or OAuth access token", options =>
            {
                options.ForwardDefaultSelector = http =>
                    IdentityExtensions.TokenOf(http.Request) is { } token && token.StartsWith(IdentityExtensions.ApiKeyTokenPrefix, StringComparison.Ordinal)
                        ? IdentityExtensions.ApiKeyScheme
                        : OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme;
                options.ForwardChallenge = ChallengeScheme;
            })
            .AddScheme<AuthenticationSchemeOptions, McpChallengeHandler>(ChallengeScheme, null);
        services.Configure<BearerRouteOptions>(options => options.SchemeByPath[ServerExtensions.Path] = BearerScheme);
    }

    public static void MapOAuth(IEndpointRouteBuilder app)
    {
        app.MapMethods(AuthorizePath, [HttpMethods.Get, HttpMethods.Post], OAuthEndpoints.AuthorizeAsync)
            .ExcludeFromDescription().DisableAntiforgery();
        app.MapPost(RegisterPath, ClientRegistration.RegisterAsync)
            .ExcludeFromDescription().DisableAntiforgery();
        app.MapGet(ProtectedResourceMetadataPath, OAuthEndpoints.ProtectedResourceMetadata).ExcludeFromDescription();
        app.MapGet(ProtectedResourceMetadataPath + ServerExtensions.Path, OAuthEndpoints.ProtectedResourceMetadata).ExcludeFromDescription();

        var me = app.MapGroup("/api/me/connected-apps").WithTags("Me").RequireAuthorization();
        me.MapGet("", OAuthEndpoints.ListConnectedAppsAsync).WithSummary("The apps (MCP connectors) you let act for you in an organisation.");
        me.MapDelete("/{id}", OAuthEndpoints.RevokeConnectedAppAsync).WithSummary("Revokes an app's grant and every token it holds; its next call is refused.");
    }
}
