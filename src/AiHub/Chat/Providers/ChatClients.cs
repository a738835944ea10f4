using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using Anthropic;
using AiHub.Infrastructure.Outbound;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using OpenAI;
using ChatCompletionOptions = OpenAI.Chat.ChatCompletionOptions;
using Polly;

namespace AiHub.Chat.Providers;

/// <summary>One <see cref="IChatClient"/> per provider, model and key, built once with its whole pipeline and kept.</summary>
internal sealed class ChatClients(IHttpClientFactory httpClients, ILoggerFactory loggers)
{
    /// <summary>The OpenTelemetry source of every model call; tracing listens to it.</summary>
    public const string SourceName = "AiHub.Chat";

    readonly ConcurrentDictionary<(string Client, string Model), (string Version, IChatClient Client)> _clients = new();

    public IChatClient Get(ProviderSource source, string model)
    {
        var key = (source.ClientName, model);
        if (_clients.TryGetValue(key, out var cached) && cached.Version == source.Version)
            return cached.Client;
        var built = (source.Version, Build(source, model));
        // A newer key replaces the entry, so a provider whose key was changed never leaves its old clients behind.
        _clients[key] = built;
        return built.Item2;
    }

    IChatClient Build(ProviderSource source, string model)
    {
        var http = httpClients.CreateClient(source.ClientName);
        var inner = source.Kind switch
        {
            ProviderKinds.Anthropic => new AnthropicClient
            {
                ApiKey = source.ApiKey,
                BaseUrl = source.BaseUrl.ToString().TrimEnd('/'),
                HttpClient = http,
                MaxRetries = 0,
                // The resilience handler times each attempt's headers and the engine times the stream; this only bounds a runaway call.
                Timeout = TimeSpan.FromHours(1),
            }.AsIChatClient(model),
            _ => new OpenAIClient(new ApiKeyCredential(source.ApiKey ?? "none"), new OpenAIClientOptions
            {
                Endpoint = source.BaseUrl,
                Transport = new HttpClientPipelineTransport(http),
                RetryPolicy = new ClientRetryPolicy(0),
                NetworkTimeout = Timeout.InfiniteTimeSpan,
            }).GetChatClient(model).AsIChatClient(),
        };
        // OpenAI reads max_completion_tokens; many OpenAI-compatible servers (and Gemini's endpoint) read only max_tokens.
        if (source.Kind is ProviderKinds.OpenAICompatible or ProviderKinds.Gemini)
            inner = new MaxTokensChatClient(inner);
        return new ChatClientBuilder(inner)
            // Function invocation outermost: each model round trip of a tool loop is then its own span and log entry, not one for the whole loop.
            .UseFunctionInvocation(loggers)
            .UseOpenTelemetry(loggers, SourceName, telemetry => telemetry.EnableSensitiveData = false)
            .UseLogging(loggers)
            .Build();
    }
}

/// <summary>Sends the output cap as <c>max_tokens</c>, the field servers that speak the older OpenAI format honour.</summary>
internal sealed class MaxTokensChatClient(IChatClient inner) : DelegatingChatClient(inner)
{
    public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetResponseAsync(messages, AsMaxTokens(options), cancellationToken);

    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default) =>
        base.GetStreamingResponseAsync(messages, AsMaxTokens(options), cancellationToken);

    internal static ChatOptions? AsMaxTokens(ChatOptions? options)
    {
        if (options?.MaxOutputTokens is not { } max)
            return options;
        var moved = options.Clone();
        // Left on the options, the SDK would write max_completion_tokens as well.
        moved.MaxOutputTokens = null;
        var earlier = options.RawRepresentationFactory;
        moved.RawRepresentationFactory = client =>
        {
            var raw = earlier?.Invoke(client) as ChatCompletionOptions ?? new ChatCompletionOptions();
            raw.MaxOutputTokenCount = null;
#pragma warning disable SCME0001 // JSON patches are the SDK's way to send a field it does not model.
            raw.Patch.Set("$.max_tokens"u8, max);
#pragma warning restore SCME0001
            return raw;
        };
        return moved;
    }
}

/// <summary>
/// Configures every HttpClient named <c>chat-provider:…</c>, whatever the provider (org providers appear at run time):
/// connect timeout, no overall timeout, and a resilience handler whose circuit breaker is the provider's own.
/// An org's provider goes through the outbound policy; the deployment's, configured by the operator, are trusted.
/// </summary>
internal sealed class ProviderHttpClients(IOptions<ChatSettings> settings, OutboundPolicy outbound) : IConfigureNamedOptions<HttpClientFactoryOptions>
{
    /// <summary>One pipeline per provider for the process's life: handlers are rebuilt every few minutes, the breaker's state must not be.</summary>
    readonly ConcurrentDictionary<string, ResiliencePipeline<HttpResponseMessage>> _pipelines = new();

    public void Configure(HttpClientFactoryOptions options) { }

    public void Configure(string? name, HttpClientFactoryOptions options)
    {
        if (name is null || !name.StartsWith(ProviderSource.ClientPrefix, StringComparison.Ordinal))
            return;
        var chat = settings.Value;
        // Streams last minutes: the engine enforces first-token and idle limits instead of one overall timeout.
        var tenant = ProviderSource.IsOrgClient(name);
        options.HttpClientActions.Add(client =>
        {
            if (tenant)
                outbound.Configure(client);
            client.Timeout = Timeout.InfiniteTimeSpan;
        });
        options.HttpMessageHandlerBuilderActions.Add(builder =>
        {
            builder.PrimaryHandler = tenant ? outbound.CreateHandler(chat.Timeouts.Connect) : new SocketsHttpHandler
            {
                ConnectTimeout = chat.Timeouts.Connect,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            };
            builder.AdditionalHandlers.Add(new ResilienceHandler(_pipelines.GetOrAdd(name, _ => Pipeline(chat))));
        });
    }

    /// <summary>A refusal by the outbound policy is final: trying again would only ask the same question.</summary>
    static bool Transient(Outcome<HttpResponseMessage> outcome) =>
        !OutboundRefusedException.Caused(outcome.Exception) && HttpClientResiliencePredicates.IsTransient(outcome);

    /// <summary>Retry (honouring Retry-After) around the circuit breaker around a per-attempt timeout that ends once the headers arrive.</summary>
    internal static ResiliencePipeline<HttpResponseMessage> Pipeline(ChatSettings chat)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (chat.Retry.MaxAttempts > 1)
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = chat.Retry.MaxAttempts - 1,
                Delay = chat.Retry.BaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldRetryAfterHeader = true,
                ShouldHandle = args => ValueTask.FromResult(Transient(args.Outcome)),
            });
        return builder
            .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(Transient(args.Outcome)),
                FailureRatio = chat.CircuitBreaker.FailureRatio,
                MinimumThroughput = chat.CircuitBreaker.MinimumThroughput,
                BreakDuration = chat.CircuitBreaker.BreakDuration,
                SamplingDuration = TimeSpan.FromSeconds(30),
            })
            // The SDKs read with ResponseHeadersRead, so the attempt ends at the headers and the timeout never cuts a stream.
            .AddTimeout(new HttpTimeoutStrategyOptions { Timeout = chat.Timeouts.FirstToken })
            .Build();
    }
}
