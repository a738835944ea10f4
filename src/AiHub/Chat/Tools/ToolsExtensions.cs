using System.Text.RegularExpressions;
using AiHub.Chat.Tools.WebSearch;

namespace AiHub.Chat.Tools;

internal static partial class ToolsExtensions
{
    public static void AddTools(IHostApplicationBuilder builder)
    {
        builder.Services.AddScoped<ChatTools>();
        builder.Services.AddHostedService<ToolNameCheck>();
        WebSearchExtensions.AddWebSearch(builder.Services);
    }

    public static void MapToolRoutes(IEndpointRouteBuilder app) => ToolEndpoints.MapToolRoutes(app);

    /// <summary>Offers <typeparamref name="T"/> to chat calls; its name must be unique, or the app refuses to start.</summary>
    public static IServiceCollection AddChatTool<T>(this IServiceCollection services) where T : class, IChatTool =>
        services.AddScoped<IChatTool, T>();

    /// <summary>Providers reject a tool list with a repeated or odd name, so every chat call would fail: refuse to start instead.</summary>
    internal sealed class ToolNameCheck(IServiceScopeFactory scopes) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            using var scope = scopes.CreateScope();
            var names = scope.ServiceProvider.GetServices<IChatTool>().Select(t => t.Name).ToList();
            var problems = names.Where(n => !ValidName().IsMatch(n ?? "")).Select(n => $"'{n}' is not a valid tool name (letters, digits, _ and -, at most 64)")
                .Concat(names.GroupBy(n => n, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => $"'{g.Key}' is registered {g.Count()} times"))
                .ToList();
            if (problems.Count > 0)
                throw new InvalidOperationException("Chat tools: " + string.Join("; ", problems));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex ValidName();
}
