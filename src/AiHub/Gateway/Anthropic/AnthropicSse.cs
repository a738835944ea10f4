using System.Buffers;
using System.Text.Json;

namespace AiHub.Gateway.Anthropic;

/// <summary>What one Anthropic event says that billing and the stream's end depend on.</summary>
internal struct AnthropicSseFields
{
    public string? Type;

    /// <summary>A text delta's text, or a tool input delta's JSON piece.</summary>
    public string? Text;

    public string? StopReason;

    public string? StopSequence;

    public long? InputTokens;

    public long? OutputTokens;
}

/// <summary>Reads an Anthropic server-sent event's <c>data:</c> JSON token by token, keeping only the fields billing needs.</summary>
internal static class AnthropicSse
{
    // Property names that matter, by the depth they sit at; everything else is skipped unread.
    const byte Other = 0, Message = 1, Usage = 2, Delta = 3, Type = 4, InputTokens = 5, OutputTokens = 6, Text = 7, PartialJson = 8,
        StopReason = 9, StopSequence = 10, ContentBlock = 11;

    public static AnthropicSseFields Read(ReadOnlySequence<byte> sse)
    {
        var fields = new AnthropicSseFields();
        if (Data(sse) is not { IsEmpty: false } data)
            return fields;
        var reader = new Utf8JsonReader(data, new JsonReaderOptions { MaxDepth = 256 });
        Span<byte> path = stackalloc byte[4];
        try
        {
            while (reader.Read())
            {
                var depth = reader.CurrentDepth;
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName when depth < path.Length:
                        path[depth] = Name(ref reader);
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray when depth + 1 < path.Length:
                        path[depth + 1] = Other;
                        if (reader.TokenType == JsonTokenType.StartArray || depth >= 3)
                            reader.Skip();
                        break;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        reader.Skip();
                        break;
                    case JsonTokenType.String or JsonTokenType.Number when depth is >= 1 and < 4:
                        Take(ref reader, ref fields, path, depth);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // A garbled event is forwarded as it came; billing falls back to counting what was delivered.
        }
        return fields;
    }

    static void Take(ref Utf8JsonReader reader, ref AnthropicSseFields fields, scoped ReadOnlySpan<byte> path, int depth)
    {
        var name = path[depth];
        var parent = depth >= 2 ? path[depth - 1] : Other;
        var number = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var n) ? n : (long?)null;
        switch (depth)
        {
            case 1 when name == Type:
                fields.Type = reader.GetString();
                break;
            case 2 when parent == Delta:
                switch (name)
                {
                    case Text or PartialJson:
                        fields.Text = reader.GetString();
                        break;
                    case StopReason:
                        fields.StopReason = reader.GetString();
                        break;
                    case StopSequence:
                        fields.StopSequence = reader.GetString();
                        break;
                }
                break;
            case 2 when parent == ContentBlock && name == Text:
                fields.Text = reader.GetString();
                break;
            case 2 when parent == Usage && name == InputTokens:
                fields.InputTokens = number;
                break;
            case 2 when parent == Usage && name == OutputTokens:
                fields.OutputTokens = number;
                break;
            case 3 when path[1] == Message && parent == Usage && name == InputTokens:
                fields.InputTokens = number;
                break;
            case 3 when path[1] == Message && parent == Usage && name == OutputTokens:
                fields.OutputTokens = number;
                break;
        }
    }

    static byte Name(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("type"u8) ? Type
        : reader.ValueTextEquals("text"u8) ? Text
        : reader.ValueTextEquals("partial_json"u8) ? PartialJson
        : reader.ValueTextEquals("delta"u8) ? Delta
        : reader.ValueTextEquals("usage"u8) ? Usage
        : reader.ValueTextEquals("message"u8) ? Message
        : reader.ValueTextEquals("input_tokens"u8) ? InputTokens
        : reader.ValueTextEquals("output_tokens"u8) ? OutputTokens
        : reader.ValueTextEquals("stop_reason"u8) ? StopReason
        : reader.ValueTextEquals("stop_sequence"u8) ? StopSequence
        : reader.ValueTextEquals("content_block"u8) ? ContentBlock
        : Other;

    /// <summary>The event's <c>data:</c> line without its prefix, or empty when it has none.</summary>
    static ReadOnlySequence<byte> Data(ReadOnlySequence<byte> sse)
    {
        var reader = new SequenceReader<byte>(sse);
        while (!reader.End)
        {
            if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
            {
                line = reader.UnreadSequence;
                reader.AdvanceToEnd();
            }
            if (line.Length >= 5 && StartsWithData(line))
            {
                var value = line.Slice(5);
                if (value.FirstSpan is [(byte)' ', ..])
                    value = value.Slice(1);
                if (!value.IsEmpty && value.Slice(value.Length - 1).FirstSpan[0] == (byte)'\r')
                    value = value.Slice(0, value.Length - 1);
                return value;
            }
        }
        return default;
    }

    static bool StartsWithData(ReadOnlySequence<byte> line)
    {
        Span<byte> head = stackalloc byte[5];
        line.Slice(0, 5).CopyTo(head);
        return head.SequenceEqual("data:"u8);
    }
}
