using System.Buffers;
using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Chat.Providers;
using AiHub.Gateway.Completions;

namespace AiHub.Gateway.Anthropic;

/// <summary>
/// A Messages request to a provider that speaks Anthropic's format itself: the client's body goes up with the model and
/// output cap replaced, and the provider's events come back byte for byte, reading only what billing needs.
/// </summary>
internal sealed class AnthropicPassthroughCall(HttpClient http, ProviderSource source, JsonObject body, string model, string displayName, int maxOutputTokens,
    string? version, string? beta) : IUpstreamCall
{
    readonly StringBuilder _delivered = new();
    HttpResponseMessage? _response;
    PipeReader? _reader;
    string? _stopSequence;
    bool _stopped;

    public bool Finished => _stopped || FinishReason is not null;

    public string? FinishReason { get; private set; }

    public string DeliveredText => _delivered.ToString();

    public long? InputTokens { get; private set; }

    public long? OutputTokens { get; private set; }

    public async Task<UpstreamAnswer> CompleteAsync(CancellationToken ct)
    {
        _response = await SendAsync(stream: false, ct);
        var bytes = await _response.Content.ReadAsByteArrayAsync(ct);
        try
        {
            using var answer = JsonDocument.Parse(bytes);
            var root = answer.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("type"u8, out var type) || !type.ValueEquals("message"u8))
                throw new UpstreamFailedException($"{displayName} answered with something that is not a message.");
            if (root.TryGetProperty("content"u8, out var content) && content.ValueKind == JsonValueKind.Array)
                foreach (var block in content.EnumerateArray())
                {
                    if (block.TryGetProperty("text"u8, out var text) && text.ValueKind == JsonValueKind.String)
                        _delivered.Append(text.GetString());
                    else if (block.TryGetProperty("input"u8, out var input))
                        _delivered.Append(input.GetRawText());
                }
            if (root.TryGetProperty("stop_reason"u8, out var stop) && stop.ValueKind == JsonValueKind.String)
                FinishReason = stop.GetString();
            if (root.TryGetProperty("usage"u8, out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                InputTokens = Tokens(usage, "input_tokens"u8);
                OutputTokens = Tokens(usage, "output_tokens"u8);
            }
        }
        catch (JsonException)
        {
            // A cut body is a failure before anything reached the client: the next model of the chain may answer.
            throw new UpstreamFailedException($"{displayName}'s answer is not valid JSON: it was cut or is not a message.");
        }
        return new UpstreamAnswer(bytes, DeliveredText, InputTokens, OutputTokens, FinishReason);
    }

    /// <summary>
    /// The provider's events as they come, except <c>message_delta</c> and <c>message_stop</c>, which <see cref="Closing"/>
    /// writes with the usage charged. Events before the first content are held, so a provider that fails before it
    /// answers has sent the client nothing and the next model of the chain can answer instead.
    /// </summary>
    public async IAsyncEnumerable<ReadOnlyMemory<byte>> StreamAsync([EnumeratorCancellation] CancellationToken ct)
    {
        _response = await SendAsync(stream: true, ct);
        _reader = PipeReader.Create(await _response.Content.ReadAsStreamAsync(ct));
        var output = new ArrayBufferWriter<byte>(1024);
        var started = false;
        var ended = false;
        while (!ended)
        {
            ReadResult read;
            try
            {
                read = await _reader.ReadAsync(ct);
            }
            catch (Exception) when (started)
            {
                // Once the client has content, a cut is not thrown: the call ends unfinished and the client gets an error event.
                break;
            }
            var buffer = read.Buffer;
            while (!ended && NextEvent(ref buffer, out var sse))
            {
                switch (Inspect(sse))
                {
                    case Step.Forward:
                        Append(output, sse);
                        break;
                    case Step.Content:
                        Append(output, sse);
                        started = true;
                        break;
                    case Step.Hold:
                        started = true;
                        break;
                    case Step.Stop:
                        ended = true;
                        break;
                    case Step.Failed when !started:
                        throw new UpstreamFailedException($"{displayName} sent an error instead of an answer.");
                    case Step.Failed:
                        ended = true;
                        break;
                }
            }
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (started && output.WrittenCount > 0)
            {
                yield return output.WrittenSpan.ToArray();
                output.ResetWrittenCount();
            }
            if (read.IsCompleted && !ended)
            {
                if (!started)
                    throw new UpstreamFailedException($"{displayName} ended its stream without an answer.");
                break;
            }
        }
    }

    public ReadOnlyMemory<byte> Closing(long inputTokens, long outputTokens) => AnthropicEvents.Closing(FinishReason, _stopSequence, inputTokens, outputTokens);

    public async ValueTask DisposeAsync()
    {
        if (_reader is not null)
            await _reader.CompleteAsync();
        _response?.Dispose();
    }

    async Task<HttpResponseMessage> SendAsync(bool stream, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, source.BaseUrl.AbsoluteUri.TrimEnd('/') + "/v1/messages")
        {
            Content = new ByteArrayContent(Body(stream)) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
        };
        if (source.ApiKey is { } key)
            request.Headers.TryAddWithoutValidation("x-api-key", key);
        request.Headers.TryAddWithoutValidation("anthropic-version", version ?? AnthropicEvents.DefaultVersion);
        if (beta is not null)
            request.Headers.TryAddWithoutValidation("anthropic-beta", beta);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (response.IsSuccessStatusCode)
            return response;
        var status = response.StatusCode;
        response.Dispose();
        throw new HttpRequestException($"The provider answered {(int)status} ({status}).", null, status);
    }

    /// <summary>The client's body with the model, the output cap and the streaming flag replaced; everything else as sent.</summary>
    byte[] Body(bool stream)
    {
        var output = new ArrayBufferWriter<byte>(2048);
        using (var json = new Utf8JsonWriter(output, Translation.Rendered.Writer))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, model);
            json.WriteNumber("max_tokens"u8, maxOutputTokens);
            if (stream)
                json.WriteBoolean("stream"u8, true);
            foreach (var (name, value) in body)
            {
                if (name is "model" or "max_tokens" or "stream")
                    continue;
                json.WritePropertyName(name);
                if (value is null)
                    json.WriteNullValue();
                else
                    value.WriteTo(json);
            }
            json.WriteEndObject();
        }
        return output.WrittenSpan.ToArray();
    }

    enum Step
    {
        Forward,
        Content,
        Hold,
        Stop,
        Failed,
    }

    /// <summary>Reads one event for what billing needs, and says what to do with it.</summary>
    Step Inspect(ReadOnlySequence<byte> sse)
    {
        var fields = AnthropicSse.Read(sse);
        switch (fields.Type)
        {
            case "message_start":
                InputTokens = fields.InputTokens ?? InputTokens;
                return Step.Forward;
            case "content_block_delta":
                _delivered.Append(fields.Text);
                return Step.Content;
            case "content_block_start" when fields.Text is { Length: > 0 } text:
                _delivered.Append(text);
                return Step.Content;
            case "message_delta":
                FinishReason = fields.StopReason ?? FinishReason;
                _stopSequence = fields.StopSequence ?? _stopSequence;
                InputTokens = fields.InputTokens ?? InputTokens;
                OutputTokens = fields.OutputTokens ?? OutputTokens;
                return Step.Hold;
            case "message_stop":
                _stopped = true;
                return Step.Stop;
            case "error":
                return Step.Failed;
            default:
                return Step.Forward;
        }
    }

    /// <summary>The next whole event (up to its blank line) off the front of <paramref name="buffer"/>; false until one has fully arrived.</summary>
    static bool NextEvent(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> sse)
    {
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> _, "\n\n"u8, advancePastDelimiter: true))
        {
            sse = default;
            return false;
        }
        sse = buffer.Slice(0, reader.Position);
        buffer = buffer.Slice(reader.Position);
        return true;
    }

    static void Append(ArrayBufferWriter<byte> output, ReadOnlySequence<byte> sse)
    {
        foreach (var segment in sse)
            output.Write(segment.Span);
    }

    static long? Tokens(JsonElement usage, ReadOnlySpan<byte> name) =>
        usage.TryGetProperty(name, out var n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt64(out var v) ? v : null;
}
