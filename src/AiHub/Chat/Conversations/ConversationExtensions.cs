using AiHub.Credits;

namespace AiHub.Chat.Conversations;

internal static class ConversationExtensions
{
    public static void AddConversations(IHostApplicationBuilder builder)
    {
        builder.Services.AddScoped<ConversationService>();
        builder.Services.AddScoped<ConversationQueries>();
        builder.Services.AddScoped<ICallSubjects, ConversationCalls>();
        builder.Services.AddScoped<SystemPrompts>();
    }

    public static void MapConversationRoutes(IEndpointRouteBuilder app) => ConversationEndpoints.MapConversationEndpoints(app);
}
