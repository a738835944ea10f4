using AiHub.Chat.Conversations;
using AiHub.Chat.Engine;
using AiHub.Chat.Providers;
using AiHub.Chat.Tokens;
using AiHub.Chat.Tools;

namespace AiHub.Chat;

public static class ChatExtensions
{
    /// <summary>Chat with any provider: providers and the model catalog, conversations, tools, and the engine that streams, falls back and meters each call.</summary>
    public static IHostApplicationBuilder AddChat(this IHostApplicationBuilder builder)
    {
        ProviderExtensions.AddProviders(builder);
        ConversationExtensions.AddConversations(builder);
        EngineExtensions.AddEngine(builder);
        ToolsExtensions.AddTools(builder);
        TokensExtensions.AddTokens(builder);
        return builder;
    }

    public static IEndpointRouteBuilder MapChatEndpoints(this IEndpointRouteBuilder app)
    {
        ProviderExtensions.MapProviderRoutes(app);
        ConversationExtensions.MapConversationRoutes(app);
        EngineExtensions.MapEngineRoutes(app);
        ToolsExtensions.MapToolRoutes(app);
        return app;
    }
}
