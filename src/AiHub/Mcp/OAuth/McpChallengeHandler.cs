using System.Text.Encodings.Web;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace AiHub.Mcp.OAuth;

/// <summary>
/// The 401 of <c>/mcp</c>: a ProblemDetails, with <c>WWW-Authenticate: Bearer resource_metadata="…"</c> so that an MCP
/// client finds the authorization server from there (MCP authorization, RFC 9728).
/// </summary>
internal sealed class McpChallengeHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<PublicUrlSettings> publicUrl,
    IProblemDetailsService problems) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync() => Task.FromResult(AuthenticateResult.NoResult());

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var metadata = new Uri(publicUrl.Value.PublicUrl, McpOAuthExtensions.ProtectedResourceMetadataPath + Server.ServerExtensions.Path).AbsoluteUri;
        var hasToken = IdentityExtensions.TokenOf(Request) is not null;
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = hasToken
            ? $"Bearer resource_metadata=\"{metadata}\", error=\"invalid_token\", error_description=\"The token is invalid, expired or revoked.\""
            : $"Bearer resource_metadata=\"{metadata}\"";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = hasToken ? "The token is invalid, expired or revoked." : "This needs a bearer token.",
                Detail = "Send an organisation API key (ahk_…) or an OAuth access token from this server as 'Authorization: Bearer …'.",
                Type = ProblemTypes.InvalidApiKey,
            },
        });
    }
}
