using System.Collections.Concurrent;
using System.Text.Json;
using AiHub.Chat.Tools;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiHub.IntegrationTests.Chat;

/// <summary>A fake search service and an AiHub configured to search through it.</summary>
public abstract class SearchHostFixture(string database, IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? services = null) : IAsyncLifetime
{
    public string Database => database;

    public FakeSearch Search { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public LogCapture Logs { get; } = new();

    public async ValueTask InitializeAsync()
    {
        Search = await FakeSearch.StartAsync();
        var all = settings.ToDictionary(s => s.Key, s => s.Value?.Replace("{searxng}", Search.SearxngUrl, StringComparison.Ordinal).Replace("{brave}", Search.BraveUrl, StringComparison.Ordinal));
        Host = await IdentityHost.StartAsync(database, all, s =>
        {
            s.AddSingleton<ILoggerProvider>(Logs);
            services?.Invoke(s);
        });
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Search.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    public static readonly IReadOnlyDictionary<string, string?> Searxng = new Dictionary<string, string?>
    {
        ["WebSearch:Provider"] = "SearXNG",
        ["WebSearch:BaseUrl"] = "{searxng}",
        ["WebSearch:MaxResults"] = "3",
        ["WebSearch:Timeout"] = "00:00:01",
    };

    public static readonly IReadOnlyDictionary<string, string?> Brave = new Dictionary<string, string?>
    {
        ["WebSearch:Provider"] = "Brave",
        ["WebSearch:BaseUrl"] = "{brave}",
        ["WebSearch:ApiKey"] = FakeSearch.BraveToken,
        ["WebSearch:MaxResults"] = "3",
        ["WebSearch:Timeout"] = "00:00:01",
        // Request headers are logged at Trace: on here, so that a token that escaped redaction would show.
        ["Logging:LogLevel:System.Net.Http"] = "Trace",
    };
}

internal static class ChatToolCalls
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static ToolContext AnyContext() => new(Guid.NewGuid(), Guid.NewGuid(), null, null);

    /// <summary>The tools a chat call in <paramref name="context"/> would offer, resolved as the engine does: in a scope of its own.</summary>
    public static async Task<List<AIFunction>> ToolsAsync(IdentityHost host, ToolContext context)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return [.. (await scope.ServiceProvider.GetRequiredService<ChatTools>().ForAsync(context, Ct)).Cast<AIFunction>()];
    }

    /// <summary>Calls a tool the way FunctionInvokingChatClient does, and gives back the text the model would read.</summary>
    public static async Task<string> InvokeAsync(IdentityHost host, string name, AIFunctionArguments arguments, ToolContext? context = null)
    {
        var tool = (await ToolsAsync(host, context ?? AnyContext())).Single(t => t.Name == name);
        var result = await tool.InvokeAsync(arguments, Ct);
        return result switch
        {
            JsonElement { ValueKind: JsonValueKind.String } text => text.GetString()!,
            string text => text,
            _ => throw new InvalidOperationException($"{name} returned {result?.GetType().Name ?? "null"}, not text"),
        };
    }
}
