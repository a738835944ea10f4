using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AiHub.Chat.Providers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AiHub.IntegrationTests.Chat;

/// <summary>
/// The client pipeline against a provider on the wire: retries that honour Retry-After, a circuit that opens and then
/// spares the provider, a connect timeout, and each kind's path and auth header.
/// </summary>
public sealed class ProviderTestsResilience
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_429_with_Retry_After_is_waited_out_and_retried_once()
    {
        await using var fake = await WireProvider.StartAsync();
        fake.Next(429, retryAfter: "1");
        var client = Clients(new ChatSettings { Retry = { BaseDelay = TimeSpan.FromMilliseconds(10) } }).Get(fake.Source(ProviderKinds.OpenAI), "gpt-4o-mini");

        var answer = await client.GetResponseAsync("Hello?", cancellationToken: Ct);

        Assert.Equal(WireProvider.Answer, answer.Text);
        var seen = fake.Requests.ToList();
        Assert.Equal(2, seen.Count);
        Assert.InRange(seen[1].At - seen[0].At, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_500_is_retried_and_the_second_answer_comes_through()
    {
        await using var fake = await WireProvider.StartAsync();
        fake.Next(500);
        var client = Clients(new ChatSettings { Retry = { BaseDelay = TimeSpan.FromMilliseconds(10) } }).Get(fake.Source(ProviderKinds.OpenAICompatible), "llama3");

        var answer = await client.GetResponseAsync("Hello?", cancellationToken: Ct);

        Assert.Equal(WireProvider.Answer, answer.Text);
        Assert.Equal(2, fake.Requests.Count);
    }

    [Fact]
    public async Task Repeated_failures_open_the_circuit_and_the_next_call_fails_without_reaching_the_provider()
    {
        await using var fake = await WireProvider.StartAsync();
        for (var i = 0; i < 10; i++)
            fake.Next(503);
        var settings = new ChatSettings
        {
            Retry = { MaxAttempts = 1 },
            CircuitBreaker = { MinimumThroughput = 2, FailureRatio = 0.5, BreakDuration = TimeSpan.FromSeconds(30) },
        };
        var client = Clients(settings).Get(fake.Source(ProviderKinds.OpenAI), "gpt-4o");

        await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("one", cancellationToken: Ct));
        await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("two", cancellationToken: Ct));
        var watch = Stopwatch.StartNew();
        var open = await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("three", cancellationToken: Ct));

        Assert.Equal(2, fake.Requests.Count);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"took {watch.Elapsed}");
        Assert.Contains("circuit", Describe(open), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_provider_that_never_accepts_the_connection_fails_after_the_connect_timeout()
    {
        using var blackhole = FullBacklog.Open();
        var settings = new ChatSettings { Retry = { MaxAttempts = 1 }, Timeouts = { Connect = TimeSpan.FromSeconds(1) } };
        var source = new ProviderSource("slow", ProviderKinds.OpenAI, new Uri($"http://127.0.0.1:{blackhole.Port}/v1"), "sk-test", ["gpt-4o"], ProviderOrigins.Deployment, null, "1");
        var client = Clients(settings).Get(source, "gpt-4o");

        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("Hello?", cancellationToken: Ct));

        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(800), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Anthropic_and_Gemini_reach_their_own_paths_with_their_own_auth_headers()
    {
        await using var fake = await WireProvider.StartAsync();
        var clients = Clients(new ChatSettings());

        var claude = await clients.Get(fake.Source(ProviderKinds.Anthropic, key: "sk-ant-test", path: "/"), "claude-sonnet-4-20250514").GetResponseAsync("Hello?", cancellationToken: Ct);
        var gemini = await clients.Get(fake.Source(ProviderKinds.Gemini, key: "gemini-test", path: "/v1beta/openai/"), "gemini-2.0-flash").GetResponseAsync("Hello?", cancellationToken: Ct);

        Assert.Equal(WireProvider.Answer, claude.Text);
        Assert.Equal(WireProvider.Answer, gemini.Text);
        var (anthropic, google) = (fake.Requests.ElementAt(0), fake.Requests.ElementAt(1));
        Assert.Equal("/v1/messages", anthropic.Path);
        // Anthropic's SDK 13 sends the API key as a bearer token, beside the API version header.
        Assert.Equal("Bearer sk-ant-test", anthropic.Headers["Authorization"]);
        Assert.False(string.IsNullOrEmpty(anthropic.Headers["anthropic-version"]));
        Assert.Equal("/v1beta/openai/chat/completions", google.Path);
        Assert.Equal("Bearer gemini-test", google.Headers["Authorization"]);
    }

    [Fact]
    public async Task A_stream_arrives_as_it_is_sent_and_outlives_the_attempt_timeout()
    {
        await using var fake = await WireProvider.StartAsync();
        var rest = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fake.Stream = rest.Task;
        var settings = new ChatSettings { Timeouts = { FirstToken = TimeSpan.FromSeconds(1) } };
        var client = Clients(settings).Get(fake.Source(ProviderKinds.OpenAI), "gpt-4o-mini");

        await using var updates = client.GetStreamingResponseAsync("Hello?", cancellationToken: Ct).GetAsyncEnumerator(Ct);
        var first = await updates.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5), Ct);
        var firstText = updates.Current.Text;
        // Longer than the attempt timeout: it covers the headers only, so the stream goes on.
        await Task.Delay(TimeSpan.FromSeconds(1.5), Ct);
        rest.SetResult();
        var text = new System.Text.StringBuilder(firstText);
        while (await updates.MoveNextAsync())
            text.Append(updates.Current.Text);

        Assert.True(first);
        Assert.Equal("Hel", firstText);
        Assert.Equal("Hello", text.ToString());
        Assert.Single(fake.Requests);
    }

    static string Describe(Exception e) => e.InnerException is null ? $"{e.GetType().Name}: {e.Message}" : $"{e.GetType().Name}: {e.Message} / {Describe(e.InnerException)}";

    /// <summary>The pipeline as the app builds it, with these settings.</summary>
    static ChatClients Clients(ChatSettings settings)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpClient();
        services.AddSingleton(Options.Create(settings));
        services.AddSingleton<ProviderHttpClients>();
        services.AddSingleton<IConfigureOptions<HttpClientFactoryOptions>>(sp => sp.GetRequiredService<ProviderHttpClients>());
        services.AddSingleton<ChatClients>();
        return services.BuildServiceProvider().GetRequiredService<ChatClients>();
    }
}

/// <summary>
/// A provider on loopback that answers as OpenAI's chat completions and Anthropic's messages APIs do, after the
/// failures a test queues; it records every request it sees.
/// </summary>
internal sealed class WireProvider : IAsyncDisposable
{
    public const string Answer = "Hello from the wire.";

    readonly WebApplication _app;
    readonly ConcurrentQueue<(int Status, string? RetryAfter)> _failures = new();

    WebApplication App => _app;

    public ConcurrentQueue<(string Path, DateTimeOffset At, Dictionary<string, string> Headers)> Requests { get; } = new();

    public Uri Root { get; private set; } = null!;

    WireProvider()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    public static async Task<WireProvider> StartAsync()
    {
        var provider = new WireProvider();
        await provider.App.StartAsync(TestContext.Current.CancellationToken);
        provider.Root = new Uri(provider.App.Urls.First());
        return provider;
    }

    /// <summary>When set, answers with a server-sent-event stream whose first chunk goes out at once and the rest when this completes.</summary>
    public Task? Stream { get; set; }

    public void Next(int status, string? retryAfter = null) => _failures.Enqueue((status, retryAfter));

    public ProviderSource Source(string kind, string key = "sk-test", string path = "/v1") =>
        new($"fake-{Guid.NewGuid():N}"[..20], kind, new Uri(Root, path), key, ["any"], ProviderOrigins.Deployment, null, "1");

    async Task HandleAsync(HttpContext http)
    {
        Requests.Enqueue((http.Request.Path, DateTimeOffset.UtcNow, http.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase)));
        await new StreamReader(http.Request.Body).ReadToEndAsync();
        if (_failures.TryDequeue(out var failure))
        {
            http.Response.StatusCode = failure.Status;
            if (failure.RetryAfter is not null)
                http.Response.Headers.RetryAfter = failure.RetryAfter;
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("""{"error":{"message":"scripted failure","type":"server_error"}}""");
            return;
        }
        if (Stream is { } rest)
        {
            http.Response.ContentType = "text/event-stream";
            await http.Response.WriteAsync(Chunk("""{"role":"assistant","content":"Hel"}""", "null"));
            await http.Response.Body.FlushAsync();
            await rest;
            await http.Response.WriteAsync(Chunk("""{"content":"lo"}""", "\"stop\"") + "data: [DONE]\n\n");
            return;
        }
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(http.Request.Path.Value!.EndsWith("/messages", StringComparison.Ordinal)
            ? $$$"""{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"{{{Answer}}}"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}"""
            : $$$"""{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"{{{Answer}}}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}""");
    }

    static string Chunk(string delta, string finish) =>
        $$"""data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{{delta}},"finish_reason":{{finish}}}]}""" + "\n\n";

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>A loopback port whose accept queue is full, so that a new connection is never completed: what a dead host looks like, without leaving this machine.</summary>
internal sealed class FullBacklog : IDisposable
{
    readonly Socket _listener;
    readonly List<Socket> _fillers = [];

    FullBacklog(Socket listener) => _listener = listener;

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    public static FullBacklog Open()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        var full = new FullBacklog(listener);
        // Never accepted: these fill the queue; the connect that finds it full gets no answer at all.
        for (var i = 0; i < 8; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try
            {
                filler.Connect(listener.LocalEndPoint!);
            }
            catch (SocketException)
            {
            }
            full._fillers.Add(filler);
        }
        Thread.Sleep(200);
        return full;
    }

    public void Dispose()
    {
        foreach (var filler in _fillers)
            filler.Dispose();
        _listener.Dispose();
    }
}
