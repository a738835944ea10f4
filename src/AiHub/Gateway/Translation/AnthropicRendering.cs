using System.Buffers;
using System.Text.Json;
using AiHub.Gateway.Anthropic;
using Microsoft.Extensions.AI;

namespace AiHub.Gateway.Translation;

/// <summary>
/// Answers written as Anthropic's Messages: a <c>message</c>, or <c>message_start</c>, content blocks and their deltas,
/// then (in <see cref="Closing"/>) <c>message_delta</c> and <c>message_stop</c>.
/// </summary>
internal sealed class AnthropicRendering(string id, string model) : IRendering
{
    bool _started;
    int _blocks;
    bool _textOpen;
    string? _stopReason;

    public ReadOnlyMemory<byte> Whole(ChatResponse response)
    {
        var output = new ArrayBufferWriter<byte>(512);
        using var json = new Utf8JsonWriter(output, Rendered.Writer);
        json.WriteStartObject();
        Head(json);
        json.WriteStartArray("content"u8);
        foreach (var content in response.Messages.SelectMany(m => m.Contents))
            switch (content)
            {
                case TextContent { Text.Length: > 0 } text:
                    json.WriteStartObject();
                    json.WriteString("type"u8, "text"u8);
                    json.WriteString("text"u8, text.Text);
                    json.WriteEndObject();
                    break;
                case FunctionCallContent call:
                    json.WriteStartObject();
                    json.WriteString("type"u8, "tool_use"u8);
                    json.WriteString("id"u8, call.CallId);
                    json.WriteString("name"u8, call.Name);
                    json.WritePropertyName("input"u8);
                    json.WriteRawValue(Rendered.Arguments(call));
                    json.WriteEndObject();
                    break;
            }
        json.WriteEndArray();
        var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Any();
        json.WriteString("stop_reason"u8, response.FinishReason is { } reason ? FinishReason(reason) : calls ? "tool_use" : "end_turn");
        json.WriteNull("stop_sequence"u8);
        json.WriteStartObject("usage"u8);
        json.WriteNumber("input_tokens"u8, response.Usage?.InputTokenCount ?? 0);
        json.WriteNumber("output_tokens"u8, response.Usage?.OutputTokenCount ?? 0);
        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
        return output.WrittenMemory;
    }

    public void Update(ChatResponseUpdate update, IBufferWriter<byte> output)
    {
        foreach (var content in update.Contents)
            switch (content)
            {
                case TextContent { Text.Length: > 0 } text:
                    Start(output);
                    if (!_textOpen)
                    {
                        _textOpen = true;
                        BlockStart(output, json =>
                        {
                            json.WriteString("type"u8, "text"u8);
                            json.WriteString("text"u8, ""u8);
                        });
                    }
                    Delta(output, "text_delta", "text", text.Text);
                    break;
                case FunctionCallContent call:
                    Start(output);
                    CloseText(output);
                    BlockStart(output, json =>
                    {
                        json.WriteString("type"u8, "tool_use"u8);
                        json.WriteString("id"u8, call.CallId);
                        json.WriteString("name"u8, call.Name);
                        json.WriteStartObject("input"u8);
                        json.WriteEndObject();
                    });
                    Delta(output, "input_json_delta", "partial_json", Rendered.Arguments(call));
                    BlockStop(output);
                    break;
            }
        if (update.FinishReason is { } reason && _stopReason is null)
        {
            Start(output);
            CloseText(output);
            _stopReason = FinishReason(reason);
        }
    }

    /// <summary>Anthropic's names; OpenAI's <c>stop</c> cannot say whether a stop sequence ended the answer, so it is <c>end_turn</c>.</summary>
    public string FinishReason(ChatFinishReason reason) => reason.Value switch
    {
        "stop" => "end_turn",
        "length" => "max_tokens",
        "tool_calls" => "tool_use",
        "content_filter" => "refusal",
        "end_turn" or "max_tokens" or "tool_use" or "stop_sequence" or "pause_turn" or "refusal" => reason.Value,
        _ => "end_turn",
    };

    public ReadOnlyMemory<byte> Closing(long inputTokens, long outputTokens) => AnthropicEvents.Closing(_stopReason ?? "end_turn", null, inputTokens, outputTokens);

    /// <summary><c>message_start</c>, before the first block. The input is not counted yet (OpenAI reports usage last): <c>message_delta</c> carries it.</summary>
    void Start(IBufferWriter<byte> output)
    {
        if (_started)
            return;
        _started = true;
        AnthropicEvents.Write(output, "message_start"u8, json =>
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "message_start"u8);
            json.WriteStartObject("message"u8);
            Head(json);
            json.WriteStartArray("content"u8);
            json.WriteEndArray();
            json.WriteNull("stop_reason"u8);
            json.WriteNull("stop_sequence"u8);
            json.WriteStartObject("usage"u8);
            json.WriteNumber("input_tokens"u8, 0);
            json.WriteNumber("output_tokens"u8, 0);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        });
    }

    void BlockStart(IBufferWriter<byte> output, Action<Utf8JsonWriter> block) =>
        AnthropicEvents.Write(output, "content_block_start"u8, json =>
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "content_block_start"u8);
            json.WriteNumber("index"u8, _blocks);
            json.WriteStartObject("content_block"u8);
            block(json);
            json.WriteEndObject();
            json.WriteEndObject();
        });

    void Delta(IBufferWriter<byte> output, string type, string field, string value)
    {
        AnthropicEvents.Write(output, "content_block_delta"u8, json =>
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "content_block_delta"u8);
            json.WriteNumber("index"u8, _blocks);
            json.WriteStartObject("delta"u8);
            json.WriteString("type"u8, type);
            json.WriteString(field, value);
            json.WriteEndObject();
            json.WriteEndObject();
        });
    }

    void BlockStop(IBufferWriter<byte> output)
    {
        AnthropicEvents.Write(output, "content_block_stop"u8, json =>
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "content_block_stop"u8);
            json.WriteNumber("index"u8, _blocks);
            json.WriteEndObject();
        });
        _blocks++;
    }

    void CloseText(IBufferWriter<byte> output)
    {
        if (!_textOpen)
            return;
        _textOpen = false;
        BlockStop(output);
    }

    void Head(Utf8JsonWriter json)
    {
        json.WriteString("id"u8, id);
        json.WriteString("type"u8, "message"u8);
        json.WriteString("role"u8, "assistant"u8);
        json.WriteString("model"u8, model);
    }
}
