using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using AiHub.Chat.Engine;
using AiHub.Chat.Grounding;
using AiHub.Chat.Providers;
using AiHub.Chat.Tools;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Json;
using AiHub.Infrastructure.RateLimiting;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Sockets;

internal sealed class SocketSettings
{
    public const string Section = "Chat:WebSocket";

    /// <summary>
    /// The server pings a client that has sent nothing for this long (at least a second), and closes one that
    /// has not answered by the time the next ping is due.
    /// </summary>
    [Duration("00:00:01", "01:00:00")]
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(30);

    public int RequestsPerMinute { get; set; } = 60;

    /// <summary>Requests one socket may run at once.</summary>
    public int MaxConcurrent { get; set; } = 8;

    public int MaxMessageBytes { get; set; } = 1 << 20;

    /// <summary>
    /// The keep-alive options that make .NET ping every <paramref name="ping"/>. It sends a ping once the peer has
    /// been silent for the interval (its pong counts), but checks only on a heartbeat of a quarter of the shorter of
    /// interval and timeout, so 30 s with a 60 s timeout pinged on the fifth beat after a pong, every 37.5 s. Four
    /// fifths of the period as the interval puts the ping on the fifth beat of a fifth of it: every 30 s, for any
    /// pong that comes back within 6 s.
    /// </summary>
    public static (TimeSpan Interval, TimeSpan Timeout) KeepAlive(TimeSpan ping) => (ping * 4 / 5, ping);
}

/// <summary>A server message: <c>{id, type:"citation"|"chunk"|"done"|"error"|"pong", data?, usage?, error?}</c>.</summary>
internal sealed record SocketReply(
    JsonElement? Id, string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] object? Data = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SocketUsage? Usage = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ProblemDetails? Error = null);

/// <summary>
/// A call's usage: the protocol's <c>promptTokens</c>, <c>completionTokens</c> and <c>totalTokens</c>, and AiHub's
/// <c>inputTokens</c>/<c>outputTokens</c> (the same counts), the cost and how the call ended.
/// </summary>
internal sealed record SocketUsage(
    long PromptTokens, long CompletionTokens, long TotalTokens, long InputTokens, long OutputTokens, bool Reported,
    decimal Cost, long CostMicros, string? Provider, string? Model, string Status, string? FinishReason)
{
    public static SocketUsage Of(ChatUsage? usage, ChatDone done)
    {
        long input = usage?.InputTokens ?? 0, output = usage?.OutputTokens ?? 0;
        return new SocketUsage(input, output, input + output, input, output, usage?.Reported ?? false,
            Micros.ToCredits(done.CostMicros), done.CostMicros, done.Provider, done.Model, ChatOutcomes.Name(done.Outcome), done.FinishReason);
    }
}

/// <summary>
/// The chat WebSocket at <c>/ws</c>: authenticated at connect (bearer token in the Authorization header or the
/// <c>access_token</c>/<c>token</c> query parameter, an API key, or the session cookie), then any number of chat and
/// completion requests, several at once, each checked (permission, rate, credits) before it runs. docs/websocket.md
/// describes the protocol.
/// </summary>
internal static class ChatSocket
{
    static readonly JsonSerializerOptions Json = ApiJson.Options;

    public static void MapChatSocket(IEndpointRouteBuilder app) =>
        app.Map("/ws", AcceptAsync).RequireAuthorization().WithMetadata(ApiKeysAllowedMetadata.Instance).ExcludeFromDescription();

    static async Task AcceptAsync(HttpContext http, IOptions<SocketSettings> options, IServiceScopeFactory scopes, ILoggerFactory logs)
    {
        if (!http.WebSockets.IsWebSocketRequest)
            throw new ProblemException(StatusCodes.Status400BadRequest, "This is a WebSocket endpoint.", "Connect with a WebSocket upgrade request.", ProblemTypes.Validation);
        var settings = options.Value;
        var (interval, timeout) = SocketSettings.KeepAlive(settings.PingInterval);
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext { KeepAliveInterval = interval, KeepAliveTimeout = timeout });
        using var connection = new Connection(socket, http.User, settings, scopes, logs.CreateLogger("AiHub.Chat.Sockets"));
        await connection.RunAsync(http.RequestAborted);
    }

    sealed class Connection(WebSocket socket, ClaimsPrincipal principal, SocketSettings settings, IServiceScopeFactory scopes, ILogger log) : IDisposable
    {
        readonly SemaphoreSlim _send = new(1, 1);
        readonly Dictionary<string, CancellationTokenSource> _running = [];
        readonly Lock _gate = new();

        public void Dispose() => _send.Dispose();

        public async Task RunAsync(CancellationToken aborted)
        {
            using var closing = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            var tasks = new List<Task>();
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    var text = await ReceiveAsync(closing.Token);
                    if (text is null)
                        break;
                    SocketRequest request;
                    try
                    {
                        request = SocketFrames.Parse(text);
                    }
                    catch (FrameException e)
                    {
                        await SendAsync(new SocketReply(e.Id, "error", Error: e.ToProblemDetails()), closing.Token);
                        continue;
                    }
                    switch (request.Type)
                    {
                        case SocketFrames.Ping:
                            await SendAsync(new SocketReply(request.Id, "pong"), closing.Token);
                            break;
                        case SocketFrames.Cancel:
                            lock (_gate)
                                if (_running.TryGetValue(request.Key, out var stop))
                                    stop.Cancel();
                            break;
                        default:
                            tasks.RemoveAll(t => t.IsCompleted);
                            tasks.Add(StartAsync(request, closing.Token));
                            break;
                    }
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // The peer went away (or missed its pings); its running requests stop below.
            }
            finally
            {
                await closing.CancelAsync();
                await Task.WhenAll(tasks);
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    try
                    {
                        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                    }
                    catch (WebSocketException)
                    {
                        // Already gone.
                    }
                }
            }
        }

        async Task<string?> ReceiveAsync(CancellationToken ct)
        {
            var buffer = new ArrayBufferWriter<byte>();
            while (true)
            {
                var memory = buffer.GetMemory(4096);
                var result = await socket.ReceiveAsync(memory, ct);
                if (result.MessageType == WebSocketMessageType.Close)
                    return null;
                buffer.Advance(result.Count);
                if (buffer.WrittenCount > settings.MaxMessageBytes)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, $"A message has at most {settings.MaxMessageBytes} bytes.", ct);
                    return null;
                }
                if (result.EndOfMessage)
                    return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
            }
        }

        Task StartAsync(SocketRequest request, CancellationToken closing)
        {
            var key = request.Key;
            CancellationTokenSource stop;
            lock (_gate)
            {
                // Refused with a code of its own: the request already running under this id goes on, and ends with its own done or error.
                if (_running.ContainsKey(key))
                    return SendAsync(new SocketReply(request.Id, "error", Error: SocketErrors.Problem(StatusCodes.Status409Conflict, "Duplicate request id.",
                        $"A request with id {key} is still running on this socket, so this one was not started; the running one goes on. Use a new id for every request.",
                        ProblemTypes.Conflict, SocketErrors.DuplicateId)), closing);
                if (_running.Count >= settings.MaxConcurrent)
                    return SendAsync(new SocketReply(request.Id, "error", Error: SocketErrors.Problem(StatusCodes.Status429TooManyRequests, "Too many requests at once.",
                        $"At most {settings.MaxConcurrent} requests run at once on one socket; send this one again when one of them is done.",
                        ProblemTypes.RateLimited, SocketErrors.TooManyRunning)), closing);
                stop = CancellationTokenSource.CreateLinkedTokenSource(closing);
                _running[key] = stop;
            }
            return Task.Run(async () =>
            {
                try
                {
                    await ChatAsync(request, stop.Token);
                }
                finally
                {
                    lock (_gate)
                        _running.Remove(key);
                    stop.Dispose();
                }
            }, CancellationToken.None);
        }

        async Task ChatAsync(SocketRequest request, CancellationToken ct)
        {
            var id = request.Id;
            // Each request has its own scope: a DbContext serves one operation at a time and requests run together.
            await using var scope = scopes.CreateAsyncScope();
            var services = scope.ServiceProvider;
            try
            {
                var provider = ProviderChoice.Parse(request.Provider);
                var spender = await services.GetRequiredService<SpenderResolver>().ResolveAsync(principal, request.OrgId, request.WorkspaceId, OrgPermissions.ChatUse, ct);
                var limit = settings.RequestsPerMinute;
                await services.GetRequiredService<RateCounter>().EnforceAsync($"ws:{spender.ApiKeyId ?? spender.UserId}", limit, TimeSpan.FromMinutes(1), ct);
                var messages = Messages(request);
                var grounding = await GroundAsync(services, spender, request, provider, messages, ct);
                if (grounding is not null)
                    messages.Insert(Math.Max(0, messages.FindIndex(m => m.Role != ChatRole.System)), new ChatMessage(ChatRole.System, grounding.SystemMessage));
                var citations = new CitationCollector((grounding?.Citations.Count ?? 0) + 1);
                var run = new ChatRun(spender, request.Model, messages, $"ws:{Guid.CreateVersion7()}", request.MaxTokens, request.Temperature,
                    Provider: provider,
                    Tools: await services.GetRequiredService<ChatTools>().ForAsync(ToolContext.Of(spender) with { Citations = citations }, ct));
                await using var call = await services.GetRequiredService<ChatEngine>().StartAsync(run, ct);
                ChatUsage? usage = null;
                // The sources come before the first chunk, so a client can link the answer's [n] as it arrives.
                foreach (var citation in grounding?.Citations ?? [])
                    await SendAsync(new SocketReply(id, "citation", citation), CancellationToken.None);
                await foreach (var e in call.StreamAsync(ct))
                {
                    switch (e)
                    {
                        case ChatToolResult:
                            foreach (var citation in citations.TakeNew())
                                await SendAsync(new SocketReply(id, "citation", citation), CancellationToken.None);
                            break;
                        case ChatDelta d when request.Stream:
                            await SendAsync(new SocketReply(id, "chunk", d.Text), CancellationToken.None);
                            break;
                        case ChatUsage u:
                            usage = u;
                            break;
                        case ChatDone done:
                            var summary = SocketUsage.Of(usage, done);
                            await SendAsync(done.Error is { } error
                                ? new SocketReply(id, "error", done.Text.Length > 0 ? done.Text : null, summary, SocketErrors.WithCode(error))
                                : new SocketReply(id, "done", request.Stream ? null : done.Text, summary), CancellationToken.None);
                            break;
                    }
                }
            }
            catch (ProblemException e)
            {
                await SendAsync(new SocketReply(id, "error", Error: SocketErrors.WithCode(e.ToProblemDetails())), CancellationToken.None);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The socket closed or the client cancelled before the call started.
            }
            catch (Exception e) when (e is not WebSocketException)
            {
                log.LogError(e, "A socket chat request failed.");
                await SendAsync(new SocketReply(id, "error", Error: SocketErrors.Problem(500, "The request failed.", "Something went wrong on our side; try again.",
                    null, SocketErrors.InternalError)), CancellationToken.None);
            }
        }

        /// <summary>
        /// The request's knowledge bases (or the member's focused one) searched for its last user message; null when
        /// nothing grounds it. Sized to a quarter of the first model's context, as on the HTTP API.
        /// </summary>
        static async Task<GroundingResult?> GroundAsync(IServiceProvider services, Spender spender, SocketRequest request, ProviderChoice? provider,
            List<ChatMessage> messages, CancellationToken ct)
        {
            if (services.GetService<IChatGrounding>() is not { } grounding || spender.WorkspaceId is not { } workspaceId
                || messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text is not { Length: > 0 } question)
                return null;
            var bases = request.KnowledgeBaseIds ?? [];
            if (bases.Count > 0)
                foreach (var check in services.GetServices<IKnowledgeBaseCheck>())
                    await check.RequireInWorkspaceAsync(spender.OrganizationId, workspaceId, bases, "knowledgeBaseIds", ct);
            var routed = await services.GetRequiredService<IModelRouter>().RouteAsync(spender.OrganizationId, request.Model, provider, ct);
            return await grounding.GroundAsync(spender, bases, question, Math.Max(1, routed[0].ContextLength / 4), ct);
        }

        static List<ChatMessage> Messages(SocketRequest request) =>
        [
            .. request.Messages.Select(m => new ChatMessage(m.Role switch
            {
                "system" => ChatRole.System,
                "assistant" => ChatRole.Assistant,
                _ => ChatRole.User,
            }, m.Content)),
        ];

        async Task SendAsync(SocketReply reply, CancellationToken ct)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(reply, Json);
            await _send.WaitAsync(ct);
            try
            {
                if (socket.State == WebSocketState.Open)
                    await socket.SendAsync(bytes, WebSocketMessageType.Text, true, ct);
            }
            catch (WebSocketException)
            {
                // The peer left while we answered; the receive loop ends the connection.
            }
            finally
            {
                _send.Release();
            }
        }
    }
}
