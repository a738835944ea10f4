using AiHub.Chat.Messages;
using AiHub.Chat.Sockets;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.OpenApi;

namespace AiHub.Chat.Engine;

internal static class EngineExtensions
{
    public static void AddEngine(IHostApplicationBuilder builder)
    {
        builder.Services.AddSettings<SocketSettings>(SocketSettings.Section);
        builder.Services.Configure<Microsoft.AspNetCore.OpenApi.OpenApiOptions>(ApiDocument.Name, options => options.AddSocketToDocument());
        builder.Services.AddScoped<ChatEngine>();
        builder.Services.AddScoped<ChatTurns>();
        builder.Services.AddScoped<SideCalls>();
        builder.Services.AddSingleton<RunningCalls>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RunningCalls>());
    }

    public static void MapEngineRoutes(IEndpointRouteBuilder app)
    {
        MessageEndpoints.MapMessageRoutes(app);
        ChatSocket.MapChatSocket(app);
    }
}
