using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using AiHub.Chat.Providers;
using AiHub.Fixtures;
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
        await using var fake = await FakeLlm.StartAsync();
        fake.Enqueue(FakeScript.Status(429, TimeSpan.FromSeconds(1)));
        var client = Clients(new ChatSettings { Retry = { BaseDelay = TimeSpan.FromMilliseconds(10) } }).Get(Source(fake, ProviderKinds.OpenAI), "gpt-4o-mini");

        var watch = Stopwatch.StartNew();
        var answer = await client.GetResponseAsync("Hello?", cancellationToken: Ct);

        Assert.Equal("You said: Hello?", answer.Text);
        Assert.Equal(2, fake.Requests.Count);
        // The backoff is 10 ms; only the provider's Retry-After makes it a second.
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_500_is_retried_and_the_second_answer_comes_through()
    {
        await using var fake = await FakeLlm.StartAsync();
        fake.Enqueue(FakeScript.Status(500));
        var client = Clients(new ChatSettings { Retry = { BaseDelay = TimeSpan.FromMilliseconds(10) } }).Get(Source(fake, ProviderKinds.OpenAICompatible), "llama3");

        var answer = await client.GetResponseAsync("Hello?", cancellationToken: Ct);

        Assert.Equal("You said: Hello?", answer.Text);
        Assert.Equal(2, fake.Requests.Count);
    }

    [Fact]
    public async Task Repeated_failures_open_the_circuit_and_the_next_call_fails_without_reaching_the_provider()
    {
        await using var fake = await FakeLlm.StartAsync();
        for (var i = 0; i < 10; i++)
            fake.Enqueue(FakeScript.Status(503));
        var settings = new ChatSettings
        {
            Retry = { MaxAttempts = 1 },
            CircuitBreaker = { MinimumThroughput = 2, FailureRatio = 0.5, BreakDuration = TimeSpan.FromSeconds(30) },
        };
        var client = Clients(settings).Get(Source(fake, ProviderKinds.OpenAI), "gpt-4o");

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
        await using var fake = await FakeLlm.StartAsync();
        var clients = Clients(new ChatSettings());

        var claude = await clients.Get(Source(fake, ProviderKinds.Anthropic, "sk-ant-test"), "claude-sonnet-4-5").GetResponseAsync("Hello?", cancellationToken: Ct);
        var gemini = await clients.Get(Source(fake, ProviderKinds.Gemini, "gemini-test"), "gemini-2.5-flash").GetResponseAsync("Hello?", cancellationToken: Ct);

        Assert.Equal("You said: Hello?", claude.Text);
        Assert.Equal("You said: Hello?", gemini.Text);
        var (anthropic, google) = (fake.Requests[0], fake.Requests[1]);
        Assert.Equal((FakeLlmProvider.Anthropic, "/v1/messages"), (anthropic.Provider, anthropic.Path));
        // Anthropic's SDK 13 sends the API key as a bearer token, beside the API version header.
        Assert.Equal("Bearer sk-ant-test", anthropic.Headers["Authorization"]);
        Assert.True(anthropic.Headers.ContainsKey("anthropic-version"));
        Assert.Equal((FakeLlmProvider.Gemini, "/v1beta/openai/chat/completions"), (google.Provider, google.Path));
        Assert.Equal("Bearer gemini-test", google.Headers["Authorization"]);
    }

    [Fact]
    public async Task A_stream_arrives_as_it_is_sent_and_outlives_the_attempt_timeout()
    {
        await using var fake = await FakeLlm.StartAsync();
        fake.Enqueue(FakeScript.Reply("one two three four", chunks: 4, delayPerChunk: TimeSpan.FromMilliseconds(500)));
        // Shorter than the whole stream: the attempt timeout covers the headers only, so the stream goes on.
        var client = Clients(new ChatSettings { Timeouts = { FirstToken = TimeSpan.FromSeconds(1) } }).Get(Source(fake, ProviderKinds.OpenAI), "gpt-4o-mini");

        var watch = Stopwatch.StartNew();
        TimeSpan? firstText = null;
        var text = new System.Text.StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync("Hello?", cancellationToken: Ct))
        {
            if (update.Text.Length > 0)
                firstText ??= watch.Elapsed;
            text.Append(update.Text);
        }

        Assert.Equal("one two three four", text.ToString());
        Assert.True(watch.Elapsed > TimeSpan.FromSeconds(1.4), $"the whole stream took {watch.Elapsed}");
        // Unbuffered: the first words arrive long before the last.
        Assert.True(firstText < watch.Elapsed - TimeSpan.FromSeconds(1), $"first text at {firstText}, end at {watch.Elapsed}");
        Assert.True(fake.Requests.Single().Stream);
    }

    static ProviderSource Source(FakeLlm fake, string kind, string key = "sk-test") =>
        new($"fake-{Guid.NewGuid():N}"[..20], kind, kind switch
        {
            ProviderKinds.Anthropic => new Uri(fake.AnthropicBaseUrl),
            ProviderKinds.Gemini => fake.GeminiEndpoint,
            _ => fake.OpenAiEndpoint,
        }, key, ["any"], ProviderOrigins.Deployment, null, "1");

    static string Describe(Exception e) => e.InnerException is null ? $"{e.GetType().Name}: {e.Message}" : $"{e.GetType().Name}: {e.Message} / {Describe(e.InnerException)}";

    /// <summary>The pipeline as the app builds it, with these settings.</summary>
    static ChatClients Clients(ChatSettings settings)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHttpClient();
        services.AddSingleton(Options.Create(settings));
        services.AddSingleton(Options.Create(new AiHub.Infrastructure.Outbound.OutboundSettings()));
        services.AddSingleton<AiHub.Infrastructure.Outbound.OutboundNetwork>();
        services.AddSingleton<AiHub.Infrastructure.Outbound.OutboundPolicy>();
        services.AddSingleton<ProviderHttpClients>();
        services.AddSingleton<IConfigureOptions<HttpClientFactoryOptions>>(sp => sp.GetRequiredService<ProviderHttpClients>());
        services.AddSingleton<ChatClients>();
        return services.BuildServiceProvider().GetRequiredService<ChatClients>();
    }
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
