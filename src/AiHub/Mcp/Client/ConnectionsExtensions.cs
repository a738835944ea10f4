namespace AiHub.Mcp.Client;

internal static class ConnectionsExtensions
{
    public static void AddConnections(IHostApplicationBuilder builder)
    {
    }

    public static void MapConnections(IEndpointRouteBuilder app)
    {
    }
}
