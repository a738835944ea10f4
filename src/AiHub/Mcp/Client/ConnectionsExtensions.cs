using AiHub.Chat.Tools;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Mcp.Client;

internal static class ConnectionsExtensions
{
    /// <summary>The org's remote MCP servers: their registration, and their enabled tools offered to chats.</summary>
    public static void AddConnections(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<McpClientSettings>(McpClientSettings.Section);
        services.AddSingleton<McpConnector>();
        services.AddScoped<McpServers>();
        services.AddScoped<IChatToolSource, McpToolSource>();
    }

    public static void MapConnections(IEndpointRouteBuilder app) => McpServerEndpoints.MapMcpServerRoutes(app);
}
