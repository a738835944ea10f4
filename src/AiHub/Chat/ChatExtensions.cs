using AiHub.Chat.Engine;
using AiHub.Chat.Providers;

namespace AiHub.Chat;

public static class ChatExtensions
{
    /// <summary>Chat with any provider: providers and the model catalog, conversations, tools, and the engine that streams, falls back and meters each call.</summary>
    public static IHostApplicationBuilder AddChat(this IHostApplicationBuilder builder)
    {
        ProviderExtensions.AddProviders(builder);
        EngineExtensions.AddEngine(builder);
        return builder;
    }

    public static IEndpointRouteBuilder MapChatEndpoints(this IEndpointRouteBuilder app)
    {
        ProviderExtensions.MapProviderRoutes(app);
        EngineExtensions.MapEngineRoutes(app);
        return app;
    }
}
