using AiHub.Mcp.Client;
using AiHub.Mcp.OAuth;
using AiHub.Mcp.Server;

namespace AiHub.Mcp;

public static class McpExtensions
{
    /// <summary>The MCP server at <c>/mcp</c> (keys and OAuth 2.1), and the org's remote MCP servers as chat tools.</summary>
    public static IHostApplicationBuilder AddMcpFeature(this IHostApplicationBuilder builder)
    {
        ServerExtensions.AddServer(builder);
        McpOAuthExtensions.AddOAuth(builder);
        ConnectionsExtensions.AddConnections(builder);
        return builder;
    }

    public static IEndpointRouteBuilder MapMcpEndpoints(this IEndpointRouteBuilder app)
    {
        ServerExtensions.MapServer(app);
        McpOAuthExtensions.MapOAuth(app);
        ConnectionsExtensions.MapConnections(app);
        return app;
    }
}
