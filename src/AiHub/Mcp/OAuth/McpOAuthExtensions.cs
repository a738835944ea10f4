namespace AiHub.Mcp.OAuth;

internal static class McpOAuthExtensions
{
    public static void AddOAuth(IHostApplicationBuilder builder)
    {
    }

    public static void MapOAuth(IEndpointRouteBuilder app)
    {
    }
}
