using AiHub.Infrastructure.Configuration;

namespace AiHub.Chat.Tools.WebSearch;

internal static class WebSearchExtensions
{
    public static void AddWebSearch(IServiceCollection services)
    {
        services.AddSettings<WebSearchSettings>(WebSearchSettings.Section);
        // The client enforces the timeout itself, so that it can tell a slow service from a cancelled call.
        services.AddHttpClient<WebSearchClient>(http => http.Timeout = Timeout.InfiniteTimeSpan)
            // Every header value stays out of the request logs, Brave's subscription token among them.
            .RedactLoggedHeaders(_ => true);
        services.AddChatTool<WebSearchTool>();
    }
}
