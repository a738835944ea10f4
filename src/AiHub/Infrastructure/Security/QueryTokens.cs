namespace AiHub.Infrastructure.Security;

/// <summary>
/// The one place a token may come from the URL: a WebSocket upgrade without an Authorization header, because a browser
/// cannot set headers on a WebSocket. Any other request's query is never read for a token, because URLs end up in
/// histories, proxies and logs.
/// </summary>
internal static class QueryTokens
{
    /// <summary>The query parameters a WebSocket client may carry its token in, in the order they are read.</summary>
    public static readonly string[] Names = ["access_token", "token"];

    public static string? Of(HttpRequest request)
    {
        if (!request.HttpContext.WebSockets.IsWebSocketRequest || request.Headers.Authorization.Count > 0)
            return null;
        foreach (var name in Names)
            if (request.Query.TryGetValue(name, out var values) && values.ToString().Trim() is { Length: > 0 } token)
                return token;
        return null;
    }
}
