using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Security;

/// <summary>
/// Refuses what another site could make a signed-in browser send: a state-changing request, or a WebSocket, that is
/// authenticated by the session cookie must come from AiHub's own origin or carry the antiforgery token. Bearer
/// tokens and API keys are not sent by a browser on its own, so their requests pass.
/// </summary>
internal static class CrossSiteRequests
{
    const string FetchSiteHeader = "Sec-Fetch-Site";

    public static IApplicationBuilder UseCrossSiteRequestCheck(this IApplicationBuilder app)
    {
        var publicOrigin = app.ApplicationServices.GetRequiredService<IOptions<PublicUrlSettings>>().Value.PublicUrl.GetLeftPart(UriPartial.Authority);
        return app.Use(async (http, next) =>
        {
            if (IsCookieAuthenticated(http) && (IsStateChanging(http.Request.Method) || http.WebSockets.IsWebSocketRequest)
                && !IsSameOrigin(http.Request, publicOrigin) && !await HasAntiforgeryTokenAsync(http))
                throw Refused();
            await next(http);
        });
    }

    /// <remarks>The same rule as the sign-in scheme's selector: without a bearer header or a socket's query token, the user came from the cookie.</remarks>
    static bool IsCookieAuthenticated(HttpContext http) =>
        http.User.Identity?.IsAuthenticated == true
        && !http.Request.Headers.Authorization.ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
        && QueryTokens.Of(http.Request) is null
        // An x-api-key header wins over the cookie in the sign-in selector; another site's page cannot send it without CORS.
        && !(http.Request.Headers.Authorization.Count == 0 && http.Request.Headers.ContainsKey(ApiKeyHeader));

    const string ApiKeyHeader = "x-api-key";

    static bool IsStateChanging(string method) =>
        !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method));

    static bool IsSameOrigin(HttpRequest request, string publicOrigin)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0)
            return origin.Equals($"{request.Scheme}://{request.Host.ToUriComponent()}", StringComparison.OrdinalIgnoreCase)
                || origin.Equals(publicOrigin, StringComparison.OrdinalIgnoreCase);
        // Browsers set this header themselves; a page of another site cannot claim to be this one.
        return request.Headers[FetchSiteHeader].ToString().Equals("same-origin", StringComparison.OrdinalIgnoreCase);
    }

    static async Task<bool> HasAntiforgeryTokenAsync(HttpContext http)
    {
        if (http.WebSockets.IsWebSocketRequest || http.RequestServices.GetService<IAntiforgery>() is not { } antiforgery)
            return false;
        try
        {
            return await antiforgery.IsRequestValidAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    public static ProblemException Refused() =>
        new(StatusCodes.Status403Forbidden, "The request came from another site.",
            "A request signed in with the browser's session must come from AiHub's own pages or carry the antiforgery token; other clients sign in with a bearer token or an API key.",
            ProblemTypes.CrossSiteRequest);
}
