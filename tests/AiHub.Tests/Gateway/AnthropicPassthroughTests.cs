using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using AiHub.Chat.Providers;
using AiHub.Gateway.Anthropic;
using AiHub.Gateway.Completions;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Tests.Gateway;

/// <summary>The passthrough to a Claude model, against an upstream that answers with Anthropic's documented bytes.</summary>
public sealed class AnthropicPassthroughTests
{
    sealed class Upstream(HttpStatusCode status, params string[] parts) : HttpMessageHandler
    {
        public HttpRequestMessage? Request { get; private set; }
        public string? Body { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            Request = request;
            Body = await request.Content!.ReadAsStringAsync(ct);
            return new HttpResponseMessage(status) { Content = new StreamContent(new PartsStream(parts)) };
        }
    }

    /// <summary>Hands out its parts one read at a time, as a network does, so events arrive split across reads.</summary>
    sealed class PartsStream(string[] parts) : Stream
    {
        int _next;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
        {
            if (_next == parts.Length)
                return ValueTask.FromResult(0);
            var part = parts[_next++];
            if (part == "RESET")
                throw new IOException("Connection reset by peer");
            var bytes = Encoding.UTF8.GetBytes(part);
            bytes.CopyTo(buffer);
            return ValueTask.FromResult(bytes.Length);
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    const string MessageStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0},\"output_tokens\":1}}}\n\n";
    const string BlockStart = "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
    const string Ping = "event: ping\ndata: {\"type\": \"ping\"}\n\n";
    const string Delta1 = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n";
    const string Delta2 = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" world\"}}\n\n";
    const string BlockStop = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    const string MessageDelta = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"output_tokens\":15}}\n\n";
    const string MessageStop = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    static readonly ProviderSource Source = new("claude", ProviderKinds.Anthropic, new Uri("http://upstream.test/"), "sk-ant-secret", ["claude-x"], ProviderOrigins.Deployment, null, "v1");

    static AnthropicPassthroughCall Call(Upstream upstream, string? version = null, string? beta = null) =>
        new(new HttpClient(upstream), Source, JsonNode.Parse("""{"model":"claude","max_tokens":4096,"stream":true,"messages":[{"role":"user","content":"hi é"}],"metadata":{"user_id":"u"}}""")!.AsObject(),
            "claude-x", "Claude X", 100, version, beta);

    static async Task<string> DrainAsync(AnthropicPassthroughCall call)
    {
        var text = new StringBuilder();
        await foreach (var piece in call.StreamAsync(CancellationToken.None))
            text.Append(Encoding.UTF8.GetString(piece.Span));
        return text.ToString();
    }

    [Fact]
    public async Task Events_are_forwarded_byte_for_byte_and_the_closing_events_are_held_for_the_charged_usage()
    {
        // Split mid-event, as reads from a socket are.
        var all = MessageStart + BlockStart + Ping + Delta1 + Delta2 + BlockStop + MessageDelta + MessageStop;
        var upstream = new Upstream(HttpStatusCode.OK, all[..70], all[70..300], all[300..]);
        await using var call = Call(upstream, version: "2023-06-01", beta: "tools-2024-05-16");

        var sse = await DrainAsync(call);

        Assert.Equal(MessageStart + BlockStart + Ping + Delta1 + Delta2 + BlockStop, sse);
        Assert.True(call.Finished);
        Assert.Equal("stop_sequence", call.FinishReason);
        Assert.Equal((25L, 15L), (call.InputTokens, call.OutputTokens));
        Assert.Equal("Hello world", call.DeliveredText);
        Assert.Equal(
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"input_tokens\":25,\"output_tokens\":12}}\n\n" +
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", Encoding.UTF8.GetString(call.Closing(25, 12).Span));
    }

    [Fact]
    public async Task The_body_goes_up_with_the_model_and_cap_replaced_and_the_clients_version_and_betas()
    {
        var upstream = new Upstream(HttpStatusCode.OK, MessageStart + Delta1 + MessageDelta + MessageStop);
        await using var call = Call(upstream, version: "2023-01-01", beta: "tools-2024-05-16");

        await DrainAsync(call);

        Assert.Equal(new Uri("http://upstream.test/v1/messages"), upstream.Request!.RequestUri);
        Assert.Equal("""{"model":"claude-x","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi é"}],"metadata":{"user_id":"u"}}""", upstream.Body);
        Assert.Equal("sk-ant-secret", upstream.Request.Headers.GetValues("x-api-key").Single());
        Assert.Equal("2023-01-01", upstream.Request.Headers.GetValues("anthropic-version").Single());
        Assert.Equal("tools-2024-05-16", upstream.Request.Headers.GetValues("anthropic-beta").Single());
    }

    [Fact]
    public async Task Without_the_clients_version_the_SDKs_version_is_sent()
    {
        var upstream = new Upstream(HttpStatusCode.OK, MessageStart + Delta1 + MessageDelta + MessageStop);
        await using var call = Call(upstream);

        await DrainAsync(call);

        Assert.Equal("2023-06-01", upstream.Request!.Headers.GetValues("anthropic-version").Single());
        Assert.False(upstream.Request.Headers.Contains("anthropic-beta"));
    }

    [Fact]
    public async Task A_stream_that_ends_without_message_stop_is_not_finished()
    {
        await using var call = Call(new Upstream(HttpStatusCode.OK, MessageStart + BlockStart + Delta1));

        var sse = await DrainAsync(call);

        Assert.Equal(MessageStart + BlockStart + Delta1, sse);
        Assert.False(call.Finished);
        Assert.Null(call.FinishReason);
        Assert.Equal("Hello", call.DeliveredText);
    }

    [Fact]
    public async Task A_connection_reset_after_content_ends_the_stream_unfinished_without_throwing()
    {
        await using var call = Call(new Upstream(HttpStatusCode.OK, MessageStart + Delta1, "RESET"));

        var sse = await DrainAsync(call);

        Assert.Equal(MessageStart + Delta1, sse);
        Assert.False(call.Finished);
    }

    [Fact]
    public async Task A_failure_before_the_first_content_is_thrown_and_nothing_was_sent()
    {
        var sent = new List<ReadOnlyMemory<byte>>();
        await using var call = Call(new Upstream(HttpStatusCode.OK, MessageStart + BlockStart, "RESET"));

        await Assert.ThrowsAsync<IOException>(async () =>
        {
            await foreach (var piece in call.StreamAsync(CancellationToken.None))
                sent.Add(piece);
        });
        Assert.Empty(sent);
    }

    [Fact]
    public async Task An_error_event_before_the_first_content_is_thrown()
    {
        const string overloaded = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        await using var call = Call(new Upstream(HttpStatusCode.OK, MessageStart + overloaded));

        await Assert.ThrowsAsync<UpstreamFailedException>(() => DrainAsync(call));
    }

    [Fact]
    public async Task A_refusal_is_thrown_with_its_status()
    {
        await using var call = Call(new Upstream(HttpStatusCode.TooManyRequests, """{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"""));

        var e = await Assert.ThrowsAsync<HttpRequestException>(() => DrainAsync(call));

        Assert.Equal(HttpStatusCode.TooManyRequests, e.StatusCode);
    }

    [Fact]
    public async Task A_whole_message_is_passed_through_with_its_usage_read()
    {
        const string message = """{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":3}}""";
        var upstream = new Upstream(HttpStatusCode.OK, message);
        await using var call = Call(upstream);

        var answer = await call.CompleteAsync(CancellationToken.None);

        Assert.Equal(message, Encoding.UTF8.GetString(answer.Body.Span));
        Assert.Equal((7L, 3L, "tool_use", "Hi{\"a\":1}"), (answer.InputTokens!.Value, answer.OutputTokens!.Value, answer.FinishReason, answer.Text));
        Assert.DoesNotContain("\"stream\"", upstream.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cut_whole_message_is_thrown()
    {
        await using var call = Call(new Upstream(HttpStatusCode.OK, """{"id":"msg_1","type":"mess"""));

        await Assert.ThrowsAsync<UpstreamFailedException>(() => call.CompleteAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData(400, "invalid_request_error")]
    [InlineData(401, "authentication_error")]
    [InlineData(403, "permission_error")]
    [InlineData(404, "not_found_error")]
    [InlineData(413, "request_too_large")]
    [InlineData(429, "rate_limit_error")]
    [InlineData(500, "api_error")]
    [InlineData(502, "api_error")]
    [InlineData(529, "overloaded_error")]
    public void Errors_have_Anthropics_shape_and_type_for_the_status(int status, string type)
    {
        var wire = new AnthropicWire(null!, null!);
        var problem = new ProblemDetails { Status = status, Title = "It failed.", Detail = "Because \"reasons\"." };

        var json = "{\"type\":\"error\",\"error\":{\"type\":\"" + type + "\",\"message\":\"It failed. Because \\\"reasons\\\".\"}}";
        Assert.Equal(json, Encoding.UTF8.GetString(wire.ErrorBody(problem).Span));
        Assert.Equal("event: error\ndata: " + json + "\n\n",
            Encoding.UTF8.GetString(wire.ErrorEvent(problem).Span));
    }
}
