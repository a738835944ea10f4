using System.Buffers;
using System.Text;
using AiHub.Gateway.Translation;
using Microsoft.Extensions.AI;

namespace AiHub.Tests.Gateway;

/// <summary>Answers in Microsoft.Extensions.AI terms, written byte for byte in the shapes OpenAI's and Anthropic's APIs document.</summary>
public sealed class TranslationRenderingTests
{
    static ChatResponseUpdate Text(string text) => new(ChatRole.Assistant, text);

    static ChatResponseUpdate Call(string id, string name, string argumentsJson) =>
        new(ChatRole.Assistant, [new FunctionCallContent(id, name, System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, object?>>(argumentsJson))]);

    static ChatResponseUpdate Finish(ChatFinishReason reason, long? input = null, long? output = null) =>
        new(ChatRole.Assistant, input is null ? [] : [new UsageContent(new UsageDetails { InputTokenCount = input, OutputTokenCount = output })]) { FinishReason = reason };

    static string Render(IRendering rendering, params ChatResponseUpdate[] updates)
    {
        var output = new ArrayBufferWriter<byte>();
        foreach (var update in updates)
            rendering.Update(update, output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    const string Chunk = """data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[{"index":0,"delta":""";

    [Fact]
    public void OpenAI_chunks_carry_the_role_first_then_content_then_the_finish_reason()
    {
        var rendering = new OpenAIRendering("chatcmpl-1", 1700000000, "claude-x", includeUsage: false);

        var sse = Render(rendering, new ChatResponseUpdate(ChatRole.Assistant, ""), Text("Hello"), Text(" wörld <3"), Finish(ChatFinishReason.Stop, 5, 2));

        Assert.Equal(
            Chunk + """{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}""" + "\n\n" +
            Chunk + """{"content":"Hello"},"logprobs":null,"finish_reason":null}]}""" + "\n\n" +
            Chunk + """{"content":" wörld <3"},"logprobs":null,"finish_reason":null}]}""" + "\n\n" +
            Chunk + """{},"logprobs":null,"finish_reason":"stop"}]}""" + "\n\n", sse);
        Assert.Equal("data: [DONE]\n\n", Encoding.UTF8.GetString(rendering.Closing(5, 2).Span));
    }

    [Fact]
    public void OpenAI_chunks_with_include_usage_carry_null_usage_and_end_with_the_charged_usage()
    {
        var rendering = new OpenAIRendering("chatcmpl-1", 1700000000, "claude-x", includeUsage: true);

        var sse = Render(rendering, Text("Hi"), Finish(ChatFinishReason.Length));

        Assert.Equal(
            Chunk + """{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}""" + "\n\n" +
            Chunk + """{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}""" + "\n\n" +
            Chunk + """{},"logprobs":null,"finish_reason":"length"}],"usage":null}""" + "\n\n", sse);
        Assert.Equal(
            """data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}""" + "\n\n" +
            "data: [DONE]\n\n", Encoding.UTF8.GetString(rendering.Closing(7, 3).Span));
    }

    [Fact]
    public void OpenAI_tool_calls_stream_as_indexed_deltas_with_id_name_and_arguments()
    {
        var rendering = new OpenAIRendering("chatcmpl-1", 1700000000, "claude-x", includeUsage: false);

        var sse = Render(rendering, Call("toolu_1", "get_weather", """{"city":"Paris"}"""), Call("toolu_2", "get_time", "{}"), Finish(ChatFinishReason.ToolCalls));

        Assert.Equal(
            Chunk + """{"role":"assistant","content":null},"logprobs":null,"finish_reason":null}]}""" + "\n\n" +
            Chunk + """{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}""" + "\n\n" +
            Chunk + """{"tool_calls":[{"index":1,"id":"toolu_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}]}""" + "\n\n" +
            Chunk + """{},"logprobs":null,"finish_reason":"tool_calls"}]}""" + "\n\n", sse);
    }

    [Theory]
    [InlineData("end_turn", "stop")]
    [InlineData("max_tokens", "length")]
    [InlineData("tool_use", "tool_calls")]
    [InlineData("stop_sequence", "stop")]
    [InlineData("stop", "stop")]
    [InlineData("length", "length")]
    [InlineData("tool_calls", "tool_calls")]
    public void OpenAI_finish_reasons_are_OpenAIs_words(string reported, string expected) =>
        Assert.Equal(expected, new OpenAIRendering("c", 0, "m", false).FinishReason(new ChatFinishReason(reported)));

    [Fact]
    public void An_OpenAI_completion_has_the_message_tool_calls_finish_reason_and_usage()
    {
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant,
            [new TextContent("Checking."), new FunctionCallContent("toolu_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]))
        {
            FinishReason = new ChatFinishReason("tool_use"),
            Usage = new UsageDetails { InputTokenCount = 12, OutputTokenCount = 8 },
        };

        var json = Encoding.UTF8.GetString(new OpenAIRendering("chatcmpl-1", 1700000000, "claude-x", false).Whole(response).Span);

        Assert.Equal("""
            {"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"claude-x","choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","refusal":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}
            """, json);
    }

    [Fact]
    public void An_OpenAI_completion_with_only_tool_calls_has_null_content()
    {
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "f", new Dictionary<string, object?>())]));

        var json = Encoding.UTF8.GetString(new OpenAIRendering("chatcmpl-1", 1, "m", false).Whole(response).Span);

        Assert.Contains("""{"role":"assistant","content":null,"refusal":null,"tool_calls":[""", json, StringComparison.Ordinal);
        Assert.Contains("\"finish_reason\":\"tool_calls\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Anthropic_events_open_a_message_stream_text_in_a_block_and_close_with_usage()
    {
        var rendering = new AnthropicRendering("msg_1", "gpt-x");

        var sse = Render(rendering, new ChatResponseUpdate(ChatRole.Assistant, ""), Text("Hello"), Text(" there"), Finish(ChatFinishReason.Stop, 9, 2));

        Assert.Equal(
            "event: message_start\n" +
            """data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"gpt-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}""" + "\n\n" +
            "event: content_block_start\n" +
            """data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""" + "\n\n" +
            "event: content_block_delta\n" +
            """data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}""" + "\n\n" +
            "event: content_block_delta\n" +
            """data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}""" + "\n\n" +
            "event: content_block_stop\n" +
            """data: {"type":"content_block_stop","index":0}""" + "\n\n", sse);
        Assert.Equal(
            "event: message_delta\n" +
            """data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":9,"output_tokens":2}}""" + "\n\n" +
            "event: message_stop\n" +
            """data: {"type":"message_stop"}""" + "\n\n", Encoding.UTF8.GetString(rendering.Closing(9, 2).Span));
    }

    [Fact]
    public void Anthropic_tool_calls_are_tool_use_blocks_with_their_input_as_json_deltas()
    {
        var rendering = new AnthropicRendering("msg_1", "gpt-x");

        var sse = Render(rendering, Text("Let me check."), Call("call_1", "get_weather", """{"city":"Paris"}"""), Finish(ChatFinishReason.ToolCalls));

        Assert.Equal(
            "event: message_start\n" +
            """data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"gpt-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}""" + "\n\n" +
            "event: content_block_start\n" +
            """data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""" + "\n\n" +
            "event: content_block_delta\n" +
            """data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check."}}""" + "\n\n" +
            "event: content_block_stop\n" +
            """data: {"type":"content_block_stop","index":0}""" + "\n\n" +
            "event: content_block_start\n" +
            """data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_1","name":"get_weather","input":{}}}""" + "\n\n" +
            "event: content_block_delta\n" +
            """data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\"}"}}""" + "\n\n" +
            "event: content_block_stop\n" +
            """data: {"type":"content_block_stop","index":1}""" + "\n\n", sse);
        Assert.StartsWith("event: message_delta\n" + """data: {"type":"message_delta","delta":{"stop_reason":"tool_use",""",
            Encoding.UTF8.GetString(rendering.Closing(1, 1).Span), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("stop", "end_turn")]
    [InlineData("length", "max_tokens")]
    [InlineData("tool_calls", "tool_use")]
    [InlineData("content_filter", "refusal")]
    public void Anthropic_stop_reasons_are_Anthropics_words(string reported, string expected) =>
        Assert.Equal(expected, new AnthropicRendering("m", "m").FinishReason(new ChatFinishReason(reported)));

    [Fact]
    public void An_Anthropic_message_has_text_and_tool_use_blocks_the_stop_reason_and_usage()
    {
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant,
            [new TextContent("Checking."), new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]))
        {
            FinishReason = ChatFinishReason.ToolCalls,
            Usage = new UsageDetails { InputTokenCount = 12, OutputTokenCount = 8 },
        };

        var json = Encoding.UTF8.GetString(new AnthropicRendering("msg_1", "gpt-x").Whole(response).Span);

        Assert.Equal("""
            {"id":"msg_1","type":"message","role":"assistant","model":"gpt-x","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":8}}
            """, json);
    }
}
