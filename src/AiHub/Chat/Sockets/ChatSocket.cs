using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using AiHub.Chat.Engine;
using AiHub.Chat.Tools;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Identity;
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

    /// <summary>The server pings this often; a peer that has not answered two pings is closed.</summary>
    public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(30);

    public int RequestsPerMinute { get; set; } = 60;

    /// <summary>Requests one socket may run at once.</summary>
    public int MaxConcurrent { get; set; } = 8;

    public int MaxMessageBytes { get; set; } = 1 << 20;
}

/// <summary>A client message: <c>{id, type:"chat", provider?, model, messages, stream, maxTokens?, temperature?}</c>, or <c>cancel</c>/<c>ping</c>.</summary>
internal sealed record SocketRequest(
    string? Id, string? Type, string? Provider, string? Model, List<SocketMessage>? Messages, bool? Stream, int? MaxTokens, float? Temperature,
    Guid? OrgId, Guid? WorkspaceId);

internal sealed record SocketMessage(string? Role, string? Content);

/// <summary>A server message: <c>{id, type:"chunk"|"done"|"error", data?, usage?, error?}</c>.</summary>
internal sealed record SocketReply(
    string? Id, string Type,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] object? Data = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SocketUsage? Usage = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ProblemDetails? Error = null);

internal sealed record SocketUsage(long InputTokens, long OutputTokens, bool Reported, decimal Cost, long CostMicros, string? Provider, string? Model, string Status, string? FinishReason);

/// <summary>
/// The chat WebSocket at <c>/ws</c>: authenticated at connect (bearer token, API key or the session cookie), then any
/// number of chat requests, several at once, each checked (permission, rate, credits) before it runs.
/// </summary>
internal static class ChatSocket
{
    static readonly JsonSerializerOptions Json = ApiJson.Options;

    /// <summary>The provider names of the socket protocol, by provider kind.</summary>
    static readonly Dictionary<string, string> Kinds = new(StringComparer.OrdinalIgnoreCase)
    {
        ["openai"] = "OpenAI",
        ["claude"] = "Anthropic",
        ["anthropic"] = "Anthropic",
        ["gemini"] = "Gemini",
    };

    public static void MapChatSocket(IEndpointRouteBuilder app) =>
        app.Map("/ws", AcceptAsync).RequireAuthorization().WithMetadata(ApiKeysAllowedMetadata.Instance).ExcludeFromDescription();

    static async Task AcceptAsync(HttpContext http, IOptions<SocketSettings> options, IServiceScopeFactory scopes, ILoggerFactory logs)
    {
        if (!http.WebSockets.IsWebSocketRequest)
            throw new ProblemException(StatusCodes.Status400BadRequest, "This is a WebSocket endpoint.", "Connect with a WebSocket upgrade request.", ProblemTypes.Validation);
        var settings = options.Value;
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = settings.PingInterval,
            // Two pings unanswered: the peer is gone.
            KeepAliveTimeout = settings.PingInterval * 2,
        });
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
                    SocketRequest? request;
                    try
                    {
                        request = JsonSerializer.Deserialize<SocketRequest>(text, Json);
                    }
                    catch (JsonException e)
                    {
                        await SendAsync(new SocketReply(null, "error", Error: Problem(400, "That is not a JSON message.", e.Message)), closing.Token);
                        continue;
                    }
                    if (request is null)
                        continue;
                    switch (request.Type)
                    {
                        case "ping":
                            await SendAsync(new SocketReply(request.Id, "pong"), closing.Token);
                            break;
                        case "cancel":
                            lock (_gate)
                                if (request.Id is { } cancelled && _running.TryGetValue(cancelled, out var stop))
                                    stop.Cancel();
                            break;
                        case "chat":
                            tasks.RemoveAll(t => t.IsCompleted);
                            tasks.Add(StartAsync(request, closing.Token));
                            break;
                        default:
                            await SendAsync(new SocketReply(request.Id, "error", Error: Problem(400, "Unknown message type.",
                                "A message's type is chat, cancel or ping.")), closing.Token);
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
            var id = request.Id;
            CancellationTokenSource stop;
            lock (_gate)
            {
                if (string.IsNullOrWhiteSpace(id) || _running.ContainsKey(id) || _running.Count >= settings.MaxConcurrent)
                {
                    var detail = string.IsNullOrWhiteSpace(id) ? "Give every chat request an id."
                        : _running.ContainsKey(id) ? $"A request with id {id} is already running on this socket."
                        : $"At most {settings.MaxConcurrent} requests run at once on one socket.";
                    return SendAsync(new SocketReply(id, "error", Error: Problem(string.IsNullOrWhiteSpace(id) ? 400 : 429, "Request refused.", detail)), closing);
                }
                stop = CancellationTokenSource.CreateLinkedTokenSource(closing);
                _running[id] = stop;
            }
            return Task.Run(async () =>
            {
                try
                {
                    await ChatAsync(request, id, stop.Token);
                }
                finally
                {
                    lock (_gate)
                        _running.Remove(id);
                    stop.Dispose();
                }
            }, CancellationToken.None);
        }

        async Task ChatAsync(SocketRequest request, string id, CancellationToken ct)
        {
            // Each request has its own scope: a DbContext serves one operation at a time and requests run together.
            await using var scope = scopes.CreateAsyncScope();
            var services = scope.ServiceProvider;
            try
            {
                var spender = await services.GetRequiredService<SpenderResolver>().ResolveAsync(principal, request.OrgId, request.WorkspaceId, OrgPermissions.ChatUse, ct);
                var limit = settings.RequestsPerMinute;
                await services.GetRequiredService<RateCounter>().EnforceAsync($"ws:{spender.ApiKeyId ?? spender.UserId}", limit, TimeSpan.FromMinutes(1), ct);
                var run = new ChatRun(spender, request.Model, Messages(request), $"ws:{Guid.CreateVersion7()}", request.MaxTokens, request.Temperature,
                    ProviderKind: Kind(request.Provider),
                    Tools: services.GetRequiredService<ChatTools>().For(ToolContext.Of(spender)));
                await using var call = await services.GetRequiredService<ChatEngine>().StartAsync(run, ct);
                var stream = request.Stream != false;
                ChatUsage? usage = null;
                await foreach (var e in call.StreamAsync(ct))
                {
                    switch (e)
                    {
                        case ChatDelta d when stream:
                            await SendAsync(new SocketReply(id, "chunk", d.Text), CancellationToken.None);
                            break;
                        case ChatUsage u:
                            usage = u;
                            break;
                        case ChatDone done:
                            var summary = new SocketUsage(usage?.InputTokens ?? 0, usage?.OutputTokens ?? 0, usage?.Reported ?? false,
                                Micros.ToCredits(done.CostMicros), done.CostMicros, done.Provider, done.Model,
                                ChatOutcomes.Name(done.Outcome), done.FinishReason);
                            await SendAsync(done.Error is { } error
                                ? new SocketReply(id, "error", done.Text.Length > 0 ? done.Text : null, summary, error)
                                : new SocketReply(id, "done", stream ? null : done.Text, summary), CancellationToken.None);
                            break;
                    }
                }
            }
            catch (ProblemException e)
            {
                await SendAsync(new SocketReply(id, "error", Error: e.ToProblemDetails()), CancellationToken.None);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // The socket closed or the client cancelled before the call started.
            }
            catch (Exception e) when (e is not WebSocketException)
            {
                log.LogError(e, "A socket chat request failed.");
                await SendAsync(new SocketReply(id, "error", Error: Problem(500, "The request failed.", "Something went wrong on our side; try again.")), CancellationToken.None);
            }
        }

        static string? Kind(string? provider)
        {
            if (string.IsNullOrWhiteSpace(provider) || provider.Equals("auto", StringComparison.OrdinalIgnoreCase))
                return null;
            return Kinds.TryGetValue(provider, out var kind) ? kind
                : throw ProblemException.Invalid("provider", "provider is openai, claude, gemini or auto.");
        }

        static List<ChatMessage> Messages(SocketRequest request)
        {
            if (request.Messages is not { Count: > 0 } messages)
                throw ProblemException.Invalid("messages", "Send at least one message.");
            return [.. messages.Select((m, i) => new ChatMessage(m.Role?.ToLowerInvariant() switch
            {
                "system" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                _ => throw ProblemException.Invalid($"messages[{i}].role", "A role is system, user or assistant."),
            }, m.Content ?? ""))];
        }

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

        static ProblemDetails Problem(int status, string title, string detail) =>
            new() { Status = status, Title = title, Detail = detail, Type = status == 429 ? ProblemTypes.RateLimited : ProblemTypes.Validation };
    }
}
