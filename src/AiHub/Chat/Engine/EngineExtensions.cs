namespace AiHub.Chat.Engine;

internal static class EngineExtensions
{
    public static void AddEngine(IHostApplicationBuilder builder)
    {
    }

    public static void MapEngineRoutes(IEndpointRouteBuilder app)
    {
    }
}
