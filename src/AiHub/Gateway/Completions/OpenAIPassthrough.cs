using System.Buffers;
using System.IO.Pipelines;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json;

namespace AiHub.Gateway.Completions;

/// <summary>
/// One attempt at a provider that speaks Chat Completions itself (OpenAI, Gemini's and other OpenAI-compatible
/// servers): the client's body goes as sent (model and output cap replaced), and the answer comes back byte for byte;
/// only what the gateway must know (text delivered, finish reason, usage) is read on the way.
/// </summary>
internal sealed class OpenAIPassthrough(HttpClient http, Uri endpoint, string? apiKey, byte[] body, bool includeUsage, string displayName, bool tenantSupplied)
    : IUpstreamCall
{
    static readonly MediaTypeHeaderValue Json = new("application/json");

    /// <summary>An answer larger than this is not a chat answer; reading stops there.</summary>
    const int MaxAnswerBytes = 32 * 1024 * 1024;

    readonly StringBuilder _delivered = new();
    HttpResponseMessage? _response;
    PipeReader? _reader;
    ArrayBufferWriter<byte>? _out;
    byte[]? _id;
    byte[]? _model;
    long _created;
    bool _sawFinish;
    bool _sawError;

    public bool Finished { get; private set; }

    public string? FinishReason { get; private set; }

    public string DeliveredText => _delivered.ToString();

    public long? InputTokens { get; private set; }

    public long? OutputTokens { get; private set; }

    public async Task<UpstreamAnswer> CompleteAsync(CancellationToken ct)
    {
        var response = await SendAsync(ct);
        var content = response.Content;
        if (content.Headers.ContentLength > MaxAnswerBytes)
            throw new UpstreamFailedException($"{displayName} sent an answer too large to pass on.");
        var bytes = await content.ReadAsByteArrayAsync(ct);
        string text;
        try
        {
            text = ReadAnswer(bytes);
        }
        catch (JsonException)
        {
            throw new UpstreamFailedException($"{displayName}'s answer is not valid JSON: it was cut or is not a chat completion.");
        }
        return new UpstreamAnswer(bytes, text, InputTokens, OutputTokens, FinishReason);
    }

    /// <summary>Reads usage, finish reason and text of a whole answer; throws when it is not a chat completion.</summary>
    string ReadAnswer(byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
            throw new UpstreamFailedException($"{displayName} answered with something that is not a chat completion.");
        var text = new StringBuilder();
        foreach (var choice in choices.EnumerateArray())
        {
            if (choice.TryGetProperty("finish_reason", out var finish) && finish.ValueKind == JsonValueKind.String)
                FinishReason = finish.GetString();
            if (!choice.TryGetProperty("message", out var message) || message.ValueKind != JsonValueKind.Object)
                continue;
            if (message.TryGetProperty("content", out var said) && said.ValueKind == JsonValueKind.String)
                text.Append(said.GetString());
            if (message.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
                foreach (var call in calls.EnumerateArray())
                    if (call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                    {
                        if (function.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String)
                            text.Append(name.GetString()).Append(' ');
                        if (function.TryGetProperty("arguments", out var arguments) && arguments.ValueKind == JsonValueKind.String)
                            text.Append(arguments.GetString());
                    }
        }
        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            InputTokens = Tokens(usage, "prompt_tokens");
            OutputTokens = Tokens(usage, "completion_tokens");
        }
        Finished = FinishReason is not null;
        return text.ToString();
    }

    static long? Tokens(JsonElement usage, string name) =>
        usage.TryGetProperty(name, out var n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt64(out var v) ? v : null;

    /// <remarks>
    /// Each item is the events of one read from the provider, in a buffer this call reuses: the caller writes it before
    /// asking for the next. Events before the first one that says something (the role chunk) are held back with it, so
    /// a provider that goes quiet after its headers can still be replaced by the next model.
    /// </remarks>
    public async IAsyncEnumerable<ReadOnlyMemory<byte>> StreamAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var response = await SendAsync(ct);
        _reader = PipeReader.Create(await response.Content.ReadAsStreamAsync(ct), new StreamPipeReaderOptions(bufferSize: 16 * 1024));
        _out = new ArrayBufferWriter<byte>(4096);
        var spoke = false;
        while (true)
        {
            var (read, failure) = await ReadAsync(_reader, ct);
            if (failure is not null)
            {
                // Nothing reached the client yet: the failure is the attempt's, and the next model answers.
                if (!spoke)
                    ExceptionDispatchInfo.Throw(failure);
                yield break;
            }
            var buffer = read.Buffer;
            var said = Lines(ref buffer, read.IsCompleted);
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (_sawError && !spoke)
                throw new UpstreamFailedException($"{displayName} sent an error instead of an answer.");
            if (_sawError)
                yield break;
            spoke |= said;
            if (spoke && _out.WrittenCount > 0)
            {
                yield return _out.WrittenMemory;
                _out.ResetWrittenCount();
            }
            if (read.IsCompleted)
                break;
        }
        if (!spoke && !_sawFinish)
            throw new UpstreamFailedException($"{displayName} ended its stream without an answer.");
        if (_out.WrittenCount > 0)
        {
            yield return _out.WrittenMemory;
            _out.ResetWrittenCount();
        }
        Finished = _sawFinish && !_sawError;
    }

    static async ValueTask<(ReadResult Read, Exception? Failure)> ReadAsync(PipeReader reader, CancellationToken ct)
    {
        try
        {
            return (await reader.ReadAsync(ct), null);
        }
        catch (Exception e)
        {
            return (default, e);
        }
    }

    /// <summary>Handles the whole lines of <paramref name="buffer"/>, leaving the rest in it; whether any said something.</summary>
    bool Lines(ref ReadOnlySequence<byte> buffer, bool final)
    {
        var said = false;
        var reader = new SequenceReader<byte>(buffer);
        while (!_sawError)
        {
            ReadOnlySpan<byte> line;
            if (reader.TryReadTo(out ReadOnlySequence<byte> lineSequence, (byte)'\n'))
                line = lineSequence.IsSingleSegment ? lineSequence.FirstSpan : lineSequence.ToArray();
            else if (final && !reader.End)
            {
                var rest = reader.UnreadSequence;
                line = rest.IsSingleSegment ? rest.FirstSpan : rest.ToArray();
                reader.AdvanceToEnd();
            }
            else
                break;
            if (line.Length > 0 && line[^1] == (byte)'\r')
                line = line[..^1];
            said |= Line(line);
        }
        buffer = buffer.Slice(reader.Position);
        return said;
    }

    /// <summary>One line of the provider's stream; only <c>data:</c> lines carry anything, and only chunks go on to the client.</summary>
    bool Line(ReadOnlySpan<byte> line)
    {
        if (!line.StartsWith("data:"u8))
            return false;
        var data = line[5..].TrimStart((byte)' ');
        if (data.SequenceEqual("[DONE]"u8))
            return false;
        var chunk = Inspect(data);
        if (chunk == Chunk.Error)
        {
            _sawError = true;
            return false;
        }
        // The usage chunk is the gateway's to write, with the counts it charged, once the call is paid.
        if (chunk == Chunk.UsageOnly)
            return false;
        var output = _out!;
        output.Write("data: "u8);
        output.Write(data);
        output.Write("\n\n"u8);
        return chunk == Chunk.Said;
    }

    enum Chunk
    {
        Quiet,
        Said,
        UsageOnly,
        Error,
    }

    /// <summary>Reads what the gateway needs of one chunk without building it: text and tool arguments, finish reason, usage.</summary>
    Chunk Inspect(ReadOnlySpan<byte> data)
    {
        try
        {
            var reader = new Utf8JsonReader(data);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                return Chunk.Error;
            var said = false;
            var choices = -1;
            var usage = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    choices = reader.TokenType == JsonTokenType.StartArray ? Choices(ref reader, ref said) : Skip(ref reader);
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    usage = reader.TokenType == JsonTokenType.StartObject && Usage(ref reader);
                }
                else if (reader.ValueTextEquals("error"u8))
                    return Chunk.Error;
                else if (_id is null && reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    _id = reader.TokenType == JsonTokenType.String ? reader.ValueSpan.ToArray() : null;
                }
                else if (_model is null && reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    _model = reader.TokenType == JsonTokenType.String ? reader.ValueSpan.ToArray() : null;
                }
                else if (_created == 0 && reader.ValueTextEquals("created"u8))
                {
                    reader.Read();
                    _created = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var created) ? created : 0;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            if (usage && choices <= 0)
                return Chunk.UsageOnly;
            return said ? Chunk.Said : Chunk.Quiet;
        }
        catch (JsonException)
        {
            return Chunk.Error;
        }
    }

    static int Skip(ref Utf8JsonReader reader)
    {
        reader.Skip();
        return -1;
    }

    int Choices(ref Utf8JsonReader reader, ref bool said)
    {
        var count = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            count++;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("finish_reason"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        FinishReason = reader.GetString();
                        _sawFinish = true;
                        said = true;
                    }
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                        Delta(ref reader, ref said);
                    else
                        reader.Skip();
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
        return count;
    }

    void Delta(ref Utf8JsonReader reader, ref bool said)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("refusal"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0)
                {
                    Deliver(ref reader);
                    said = true;
                }
            }
            else if (reader.ValueTextEquals("tool_calls"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    said = true;
                    ToolCalls(ref reader);
                }
                else
                    reader.Skip();
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    void ToolCalls(ref Utf8JsonReader reader)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("function"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var name = reader.ValueTextEquals("name"u8);
                        var arguments = !name && reader.ValueTextEquals("arguments"u8);
                        reader.Read();
                        if ((name || arguments) && reader.TokenType == JsonTokenType.String)
                        {
                            Deliver(ref reader);
                            if (name)
                                _delivered.Append(' ');
                        }
                        else
                            reader.Skip();
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }
    }

    /// <summary>Appends a string token's text without a string per chunk: a chunk's delta is a word or a few.</summary>
    void Deliver(ref Utf8JsonReader reader)
    {
        var length = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (length > 256)
        {
            _delivered.Append(reader.GetString());
            return;
        }
        Span<char> text = stackalloc char[256];
        _delivered.Append(text[..reader.CopyString(text)]);
    }

    bool Usage(ref Utf8JsonReader reader)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var input = reader.ValueTextEquals("prompt_tokens"u8);
            var output = !input && reader.ValueTextEquals("completion_tokens"u8);
            reader.Read();
            if ((input || output) && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var n))
            {
                if (input)
                    InputTokens = n;
                else
                    OutputTokens = n;
            }
            else
                reader.Skip();
        }
        return true;
    }

    /// <summary>The usage chunk (when the client asked for it) with the counts charged, then <c>[DONE]</c>.</summary>
    public ReadOnlyMemory<byte> Closing(long inputTokens, long outputTokens)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        if (includeUsage)
        {
            buffer.Write("data: "u8);
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                if (_id is not null)
                    json.WriteString("id"u8, Encoding.UTF8.GetString(_id));
                json.WriteString("object"u8, "chat.completion.chunk"u8);
                json.WriteNumber("created"u8, _created);
                if (_model is not null)
                    json.WriteString("model"u8, Encoding.UTF8.GetString(_model));
                json.WriteStartArray("choices"u8);
                json.WriteEndArray();
                json.WriteStartObject("usage"u8);
                json.WriteNumber("prompt_tokens"u8, inputTokens);
                json.WriteNumber("completion_tokens"u8, outputTokens);
                json.WriteNumber("total_tokens"u8, inputTokens + outputTokens);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            buffer.Write("\n\n"u8);
        }
        buffer.Write("data: [DONE]\n\n"u8);
        return buffer.WrittenMemory;
    }

    async Task<HttpResponseMessage> SendAsync(CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = Json;
        if (apiKey is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        _response = response;
        if (!response.IsSuccessStatusCode)
            throw new UpstreamFailedException(tenantSupplied ? "The provider refused the request." : $"{displayName} answered {(int)response.StatusCode} ({response.StatusCode}).");
        return response;
    }

    public async ValueTask DisposeAsync()
    {
        if (_reader is not null)
            await _reader.CompleteAsync();
        _response?.Dispose();
    }
}

/// <summary>A provider that did not answer as it should; the message says why without anything an org's server said.</summary>
internal sealed class UpstreamFailedException(string message) : Exception(message);
