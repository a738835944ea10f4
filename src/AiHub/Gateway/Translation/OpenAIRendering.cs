using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.AI;

namespace AiHub.Gateway.Translation;

/// <summary>Answers written as OpenAI's Chat Completions: <c>chat.completion</c>, or <c>chat.completion.chunk</c> events ending in <c>[DONE]</c>.</summary>
internal sealed class OpenAIRendering(string id, long created, string model, bool includeUsage) : IRendering
{
    bool _started;
    bool _finished;
    int _toolCalls;

    public ReadOnlyMemory<byte> Whole(ChatResponse response)
    {
        var output = new ArrayBufferWriter<byte>(512);
        using var json = new Utf8JsonWriter(output, Rendered.Writer);
        json.WriteStartObject();
        json.WriteString("id"u8, id);
        json.WriteString("object"u8, "chat.completion"u8);
        json.WriteNumber("created"u8, created);
        json.WriteString("model"u8, model);
        json.WriteStartArray("choices"u8);
        json.WriteStartObject();
        json.WriteNumber("index"u8, 0);
        json.WriteStartObject("message"u8);
        json.WriteString("role"u8, "assistant"u8);
        var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
        var text = response.Text;
        if (text.Length > 0 || calls.Count == 0)
            json.WriteString("content"u8, text);
        else
            json.WriteNull("content"u8);
        json.WriteNull("refusal"u8);
        if (calls.Count > 0)
        {
            json.WriteStartArray("tool_calls"u8);
            foreach (var call in calls)
                WriteToolCall(json, call, index: null);
            json.WriteEndArray();
        }
        json.WriteEndObject();
        json.WriteNull("logprobs"u8);
        json.WriteString("finish_reason"u8, response.FinishReason is { } reason ? FinishReason(reason) : calls.Count > 0 ? "tool_calls" : "stop");
        json.WriteEndObject();
        json.WriteEndArray();
        if (response.Usage is { } usage)
            WriteUsage(json, usage.InputTokenCount ?? 0, usage.OutputTokenCount ?? 0);
        json.WriteEndObject();
        json.Flush();
        return output.WrittenMemory;
    }

    /// <summary>One tool call as OpenAI writes it; a streamed chunk also says which of the answer's calls it is.</summary>
    static void WriteToolCall(Utf8JsonWriter json, FunctionCallContent call, int? index)
    {
        json.WriteStartObject();
        if (index is { } i)
            json.WriteNumber("index"u8, i);
        json.WriteString("id"u8, call.CallId);
        json.WriteString("type"u8, "function"u8);
        json.WriteStartObject("function"u8);
        json.WriteString("name"u8, call.Name);
        json.WriteString("arguments"u8, Rendered.Arguments(call));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    public void Update(ChatResponseUpdate update, IBufferWriter<byte> output)
    {
        foreach (var content in update.Contents)
            switch (content)
            {
                case TextContent { Text.Length: > 0 } text:
                    Start(output, text: true);
                    Chunk(output, json => json.WriteString("content"u8, text.Text), null);
                    break;
                case FunctionCallContent call:
                    Start(output, text: false);
                    var index = _toolCalls++;
                    Chunk(output, json =>
                    {
                        json.WriteStartArray("tool_calls"u8);
                        WriteToolCall(json, call, index);
                        json.WriteEndArray();
                    }, null);
                    break;
            }
        // The chat clients repeat the finish reason on the usage update: the client hears it once.
        if (update.FinishReason is { } reason && !_finished)
        {
            _finished = true;
            Start(output, text: true);
            Chunk(output, null, FinishReason(reason));
        }
    }

    /// <summary>OpenAI's names; a client of a provider that speaks another format gets its reasons in OpenAI's words.</summary>
    public string FinishReason(ChatFinishReason reason) => reason.Value switch
    {
        "end_turn" or "stop_sequence" or "pause_turn" => "stop",
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        var value => value,
    };

    public ReadOnlyMemory<byte> Closing(long inputTokens, long outputTokens)
    {
        var output = new ArrayBufferWriter<byte>(256);
        if (includeUsage)
        {
            output.Write("data: "u8);
            using (var json = new Utf8JsonWriter(output, Rendered.Writer))
            {
                json.WriteStartObject();
                Head(json, "chat.completion.chunk"u8);
                json.WriteStartArray("choices"u8);
                json.WriteEndArray();
                WriteUsage(json, inputTokens, outputTokens);
                json.WriteEndObject();
            }
            output.Write("\n\n"u8);
        }
        output.Write("data: [DONE]\n\n"u8);
        return output.WrittenMemory;
    }

    /// <summary>OpenAI's first chunk carries the role, and empty content when text follows.</summary>
    void Start(IBufferWriter<byte> output, bool text)
    {
        if (_started)
            return;
        _started = true;
        Chunk(output, json =>
        {
            json.WriteString("role"u8, "assistant"u8);
            if (text)
                json.WriteString("content"u8, ""u8);
            else
                json.WriteNull("content"u8);
        }, null);
    }

    void Chunk(IBufferWriter<byte> output, Action<Utf8JsonWriter>? delta, string? finishReason)
    {
        output.Write("data: "u8);
        using (var json = new Utf8JsonWriter(output, Rendered.Writer))
        {
            json.WriteStartObject();
            Head(json, "chat.completion.chunk"u8);
            json.WriteStartArray("choices"u8);
            json.WriteStartObject();
            json.WriteNumber("index"u8, 0);
            json.WriteStartObject("delta"u8);
            delta?.Invoke(json);
            json.WriteEndObject();
            json.WriteNull("logprobs"u8);
            json.WriteString("finish_reason"u8, finishReason);
            json.WriteEndObject();
            json.WriteEndArray();
            // OpenAI sends "usage": null on every chunk once usage was asked for, and the numbers on the last.
            if (includeUsage)
                json.WriteNull("usage"u8);
            json.WriteEndObject();
        }
        output.Write("\n\n"u8);
    }

    void Head(Utf8JsonWriter json, ReadOnlySpan<byte> type)
    {
        json.WriteString("id"u8, id);
        json.WriteString("object"u8, type);
        json.WriteNumber("created"u8, created);
        json.WriteString("model"u8, model);
    }

    static void WriteUsage(Utf8JsonWriter json, long input, long output)
    {
        json.WriteStartObject("usage"u8);
        json.WriteNumber("prompt_tokens"u8, input);
        json.WriteNumber("completion_tokens"u8, output);
        json.WriteNumber("total_tokens"u8, input + output);
        json.WriteEndObject();
    }
}

/// <summary>What both renderings write the same way.</summary>
internal static class Rendered
{
    /// <summary>Text as the providers send it: JSON escapes only what JSON requires, not HTML's characters or non-ASCII letters.</summary>
    public static readonly JsonWriterOptions Writer = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A tool call's arguments as the JSON text both formats carry.</summary>
    public static string Arguments(FunctionCallContent call) =>
        call.Arguments is null ? "{}" : JsonSerializer.Serialize(call.Arguments, Compact.GetTypeInfo(typeof(IDictionary<string, object?>)));

    /// <summary>Microsoft.Extensions.AI's options, which know its types, without the indentation they write for people.</summary>
    static readonly JsonSerializerOptions Compact = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
