using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AiHub.Infrastructure.Outbound;
using AiHub.Infrastructure.Streams;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace AiHub.Mcp.Client;

/// <summary>What a connection to a remote server needs, taken from its registration so that no DbContext outlives the request.</summary>
internal sealed record McpEndpoint(
    Guid ServerId, string Name, string Url, string Transport, string AuthKind, string? HeaderName, string? SecretProtected,
    string? TokenUrl, string? ClientId, string? Scope, TimeSpan Timeout, int MaxResultBytes)
{
    public static McpEndpoint Of(McpServerRegistration s, McpClientSettings settings) => new(
        s.Id, s.Name, s.Url, s.Transport, s.AuthKind, s.HeaderName, s.SecretProtected, s.TokenUrl, s.ClientId, s.Scope,
        s.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(s.TimeoutMs) : settings.DefaultTimeout,
        s.MaxResultBytes > 0 ? s.MaxResultBytes : settings.DefaultMaxResultBytes);
}

/// <summary>A remote server could not be used; the message is for the tenant and says nothing of the target's internals.</summary>
internal sealed class McpConnectionException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Connects to an organisation's remote MCP servers through the outbound policy: lists their tools, and calls one with a
/// time limit and a cap on what it may send back.
/// </summary>
internal sealed class McpConnector(
    IHttpMessageHandlerFactory handlers, IDataProtectionProvider protection, IOptions<McpClientSettings> settings, ILoggerFactory loggers, TimeProvider clock)
{
    public const string ProtectorPurpose = "AiHub.Mcp.ServerSecrets";

    readonly ILogger _log = loggers.CreateLogger<McpConnector>();

    public IDataProtector Protector => protection.CreateProtector(ProtectorPurpose);

    /// <summary>Connects and lists the server's tools.</summary>
    /// <exception cref="McpConnectionException">The server could not be reached or did not answer as an MCP server.</exception>
    public async Task<List<McpToolInfo>> ListToolsAsync(McpEndpoint endpoint, CancellationToken ct)
    {
        var limit = settings.Value;
        using var timer = new CancellationTokenSource(limit.DiscoveryTimeout, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
        // A listing is small; a server that floods it is not one to offer tools from.
        var cap = new ResponseCap(Math.Max(limit.MaxResultBytes, 1 << 20));
        try
        {
            await using var client = await ConnectAsync(endpoint, cap, linked.Token);
            var tools = await client.ListToolsAsync(cancellationToken: linked.Token);
            return [.. tools.Take(limit.MaxToolsPerServer).Select(t => new McpToolInfo(
                t.ProtocolTool.Name, Shorten(t.ProtocolTool.Description, 4000), t.ProtocolTool.InputSchema.GetRawText()))];
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is not McpConnectionException)
        {
            throw Explain(endpoint, e, cap, timer.IsCancellationRequested, limit.DiscoveryTimeout);
        }
    }

    /// <summary>Calls one tool; what the model reads, always: a failure, a timeout or an oversized result is a sentence, not an exception.</summary>
    public async Task<string> CallAsync(McpEndpoint endpoint, string tool, string shownName, IReadOnlyDictionary<string, object?> arguments, CancellationToken ct)
    {
        using var timer = new CancellationTokenSource(endpoint.Timeout, clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
        var cap = new ResponseCap(endpoint.MaxResultBytes);
        try
        {
            await using var client = await ConnectAsync(endpoint, cap, linked.Token);
            var result = await client.CallToolAsync(tool, arguments, cancellationToken: linked.Token);
            var text = TextOf(result);
            if (Encoding.UTF8.GetByteCount(text) > endpoint.MaxResultBytes)
                text = Truncate(text, endpoint.MaxResultBytes) + $"\n[The result was cut at {endpoint.MaxResultBytes} bytes.]";
            return result.IsError == true ? $"The tool {shownName} failed: {text}" : text;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            var why = e is McpConnectionException known ? known : Explain(endpoint, e, cap, timer.IsCancellationRequested, endpoint.Timeout);
            return $"The tool {shownName} failed: {why.Message}";
        }
    }

    async Task<McpClient> ConnectAsync(McpEndpoint endpoint, ResponseCap cap, CancellationToken ct)
    {
        var headers = new Dictionary<string, string>();
        if (endpoint.AuthKind == McpAuthKinds.Header && endpoint.HeaderName is { } name && Secret(endpoint) is { } value)
            headers[name] = value;
        else if (endpoint.AuthKind == McpAuthKinds.OAuthClientCredentials)
            headers["Authorization"] = "Bearer " + await TokenAsync(endpoint, cap, ct);
        // The factory's handler is pooled and keeps the outbound policy's connect check; only the cap is this call's own.
        var http = new HttpClient(new CappingHandler(cap) { InnerHandler = handlers.CreateHandler(OutboundPolicy.ClientName) }, disposeHandler: false)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(endpoint.Url),
            Name = endpoint.Name,
            TransportMode = endpoint.Transport == McpTransports.Sse ? HttpTransportMode.Sse : HttpTransportMode.StreamableHttp,
            AdditionalHeaders = headers,
            // Each call stands alone: no session is resumed, and a dropped stream is not retried past the time limit.
            MaxReconnectionAttempts = 0,
            // The tools need no unsolicited messages, and a standing GET would count against the response cap.
            EnableStandaloneGetStream = false,
        }, http, loggers, ownsHttpClient: true);
        return await McpClient.CreateAsync(transport, new McpClientOptions
        {
            ClientInfo = new Implementation { Name = "AiHub", Version = typeof(McpConnector).Assembly.GetName().Version?.ToString() ?? "1.0" },
        }, loggers, ct);
    }

    /// <summary>An access token by the client-credentials grant, fetched through the outbound policy like the server itself.</summary>
    async Task<string> TokenAsync(McpEndpoint endpoint, ResponseCap cap, CancellationToken ct)
    {
        if (endpoint.TokenUrl is null || endpoint.ClientId is null || Secret(endpoint) is not { } secret)
            throw new McpConnectionException("its OAuth client credentials are incomplete (token URL, client id and secret).");
        using var http = new HttpClient(new CappingHandler(cap) { InnerHandler = handlers.CreateHandler(OutboundPolicy.ClientName) }, disposeHandler: false);
        var form = new Dictionary<string, string> { ["grant_type"] = "client_credentials" };
        if (endpoint.Scope is { Length: > 0 } scope)
            form["scope"] = scope;
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.TokenUrl) { Content = new FormUrlEncodedContent(form) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.EscapeDataString(endpoint.ClientId) + ":" + Uri.EscapeDataString(secret))));
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            _log.LogWarning(e, "The token endpoint of MCP server {ServerId} could not be reached", endpoint.ServerId);
            throw new McpConnectionException(OutboundRefusedException.Caused(e)
                ? "its token URL points to an address this deployment does not let organisations reach."
                : "its token URL could not be reached.");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                _log.LogWarning("The token endpoint of MCP server {ServerId} answered {Status}", endpoint.ServerId, (int)response.StatusCode);
                throw new McpConnectionException("its token URL refused the client credentials.");
            }
            try
            {
                using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
                return json.RootElement.GetProperty("access_token").GetString() ?? throw new FormatException("access_token is null");
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or FormatException or InvalidOperationException)
            {
                _log.LogWarning("The token endpoint of MCP server {ServerId} answered without an access token", endpoint.ServerId);
                throw new McpConnectionException("its token URL did not answer with an access token.");
            }
        }
    }

    string? Secret(McpEndpoint endpoint) => endpoint.SecretProtected is null ? null : Protector.Unprotect(endpoint.SecretProtected);

    /// <summary>Why a connection or call failed, for the tenant; the details go to the operator's log only.</summary>
    McpConnectionException Explain(McpEndpoint endpoint, Exception e, ResponseCap cap, bool timedOut, TimeSpan limit)
    {
        if (cap.Exceeded)
            return new("the server's response was larger than the " + cap.Limit + " bytes allowed, so it was dropped.");
        if (timedOut)
            return new($"the server did not answer within {limit.TotalSeconds:0.#} s.");
        _log.LogWarning(e, "MCP server {ServerId} failed: {Kind}", endpoint.ServerId, e.GetType().Name);
        if (OutboundRefusedException.Caused(e))
            return new("its URL points to an address this deployment does not let organisations reach.");
        // The server's own JSON-RPC error (an unknown tool, bad arguments) is meant for the caller to read.
        if (e is McpProtocolException protocol)
            return new("the server answered with an error: " + Shorten(protocol.Message, 500));
        return e is HttpRequestException
            ? new("the server could not be reached, or did not answer as an MCP server.")
            : new("the server did not answer as an MCP server.");
    }

    static string TextOf(CallToolResult result)
    {
        var parts = new List<string>();
        foreach (var block in result.Content)
            parts.Add(block switch
            {
                TextContentBlock t => t.Text,
                ImageContentBlock i => $"[an image, {i.MimeType}]",
                AudioContentBlock a => $"[audio, {a.MimeType}]",
                EmbeddedResourceBlock r => r.Resource is TextResourceContents text ? text.Text : $"[a resource: {r.Resource.Uri}]",
                ResourceLinkBlock l => $"[a link: {l.Name} {l.Uri}]",
                _ => $"[{block.Type} content]",
            });
        if (parts.Count == 0 && result.StructuredContent is { } structured)
            parts.Add(structured.GetRawText());
        return parts.Count == 0 ? "(no content)" : string.Join("\n", parts);
    }

    static string? Shorten(string? text, int max) => text is null || text.Length <= max ? text : text[..max];

    static string Truncate(string text, int maxBytes)
    {
        var chars = Math.Min(text.Length, maxBytes);
        while (chars > 0 && Encoding.UTF8.GetByteCount(text.AsSpan(0, chars)) > maxBytes)
            chars = chars * 9 / 10;
        return text[..chars];
    }

    /// <summary>How many bytes one connection's responses may carry in all, and whether a response went past it.</summary>
    internal sealed class ResponseCap(int limit)
    {
        long _read;

        public int Limit => limit;

        public bool Exceeded { get; private set; }

        public void Add(int bytes)
        {
            if (Interlocked.Add(ref _read, bytes) <= limit)
                return;
            Exceeded = true;
            throw new IOException("The response is larger than allowed.");
        }
    }

    /// <summary>Counts what the server sends and stops reading past the cap, so a 5 MB answer is cut rather than held in memory.</summary>
    sealed class CappingHandler(ResponseCap cap) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var response = await base.SendAsync(request, ct);
            var inner = response.Content;
            var capped = new StreamContent(new ReadCountingStream(await inner.ReadAsStreamAsync(ct), cap.Add));
            foreach (var header in inner.Headers)
                capped.Headers.TryAddWithoutValidation(header.Key, header.Value);
            response.Content = capped;
            return response;
        }
    }
}
