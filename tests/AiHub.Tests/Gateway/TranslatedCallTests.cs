using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using AiHub.Chat.Engine;
using AiHub.Chat.Providers;
using AiHub.Gateway;
using AiHub.Gateway.Anthropic;
using AiHub.Gateway.Translation;
using Microsoft.Extensions.AI;

namespace AiHub.Tests.Gateway;

public sealed class TranslatedCallTests
{
    /// <summary>A provider's chat client that answers from a script and remembers what it was asked.</summary>
    sealed class ScriptedClient(Func<int, IEnumerable<ChatResponseUpdate>> script, Exception? failAfter = null, int failAt = -1) : IChatClient
    {
        public List<(List<ChatMessage> Messages, ChatOptions? Options)> Calls { get; } = [];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Calls.Add((messages.ToList(), options));
            return Task.FromResult(script(Calls.Count).ToChatResponse());
        }

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
            [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            Calls.Add((messages.ToList(), options));
            var i = 0;
            foreach (var update in script(Calls.Count))
            {
                if (i++ == failAt)
                    throw failAfter!;
                await Task.Yield();
                yield return update;
            }
            if (i == failAt)
                throw failAfter!;
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose() { }
    }

    static readonly string ToolRequest = """
        {"model":"gpt-x","max_tokens":50,"stream":true,
         "messages":[{"role":"user","content":"Weather in Paris?"}],
         "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
         "output_format":{"type":"json_schema","schema":{"type":"object"}}}
        """;

    static ModelTarget Target(IChatClient client) => new("openai", ProviderKinds.OpenAI, "gpt-x", "GPT X", 128_000, ModelCapabilities.Tools, null, client);

    static IEnumerable<ChatResponseUpdate> ToolCallScript(int call) => call == 1
        ?
        [
            new ChatResponseUpdate(ChatRole.Assistant, [new FunctionCallContent("call_1", "get_weather", new Dictionary<string, object?> { ["city"] = "Paris" })]),
            new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = 10, OutputTokenCount = 4 })]) { FinishReason = ChatFinishReason.ToolCalls },
        ]
        : [new ChatResponseUpdate(ChatRole.Assistant, "the tool was run by the gateway") { FinishReason = ChatFinishReason.Stop }];

    static async Task<string> DrainAsync(IUpstreamCall call)
    {
        var text = new StringBuilder();
        await foreach (var piece in call.StreamAsync(CancellationToken.None))
            text.Append(Encoding.UTF8.GetString(piece.Span));
        return text.ToString();
    }

    [Fact]
    public async Task Tool_calls_come_back_to_the_caller_and_are_not_invoked_by_the_providers_pipeline()
    {
        var inner = new ScriptedClient(ToolCallScript);
        // The same pipeline a provider's client has: function invocation outermost.
        var client = new ChatClientBuilder(inner).UseFunctionInvocation().Build();
        var request = AnthropicRequests.Parse(JsonNode.Parse(ToolRequest)!.AsObject());
        await using var call = TranslatedCalls.ToAnthropic(request, Target(client), 40);

        var sse = await DrainAsync(call);

        Assert.Single(inner.Calls);
        Assert.Contains("\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"get_weather\",\"input\":{}}", sse, StringComparison.Ordinal);
        Assert.Contains("\"partial_json\":\"{\\\"city\\\":\\\"Paris\\\"}\"", sse, StringComparison.Ordinal);
        Assert.DoesNotContain("gateway", sse, StringComparison.Ordinal);
        Assert.True(call.Finished);
        Assert.Equal("tool_use", call.FinishReason);
        Assert.Equal((10L, 4L), (call.InputTokens, call.OutputTokens));
        Assert.Equal("get_weather {\"city\":\"Paris\"}", call.DeliveredText);
    }

    [Fact]
    public async Task The_providers_options_carry_the_model_the_cap_the_tools_as_declarations_and_the_response_format()
    {
        var inner = new ScriptedClient(ToolCallScript);
        var request = AnthropicRequests.Parse(JsonNode.Parse(ToolRequest)!.AsObject());
        await using var call = TranslatedCalls.ToAnthropic(request, Target(inner), 40);

        await DrainAsync(call);

        var options = inner.Calls[0].Options!;
        Assert.Equal(("gpt-x", 40), (options.ModelId, options.MaxOutputTokens));
        Assert.IsNotAssignableFrom<AIFunction>(Assert.Single(options.Tools!));
        Assert.IsType<ChatResponseFormatJson>(options.ResponseFormat);
        // The request's own options are left as they were for the next model of the chain.
        Assert.Null(request.Options.MaxOutputTokens);
    }

    [Fact]
    public async Task A_whole_answer_is_rendered_with_its_usage()
    {
        var inner = new ScriptedClient(_ => [new ChatResponseUpdate(ChatRole.Assistant, "Sunny.") { FinishReason = ChatFinishReason.Stop },
            new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = 3, OutputTokenCount = 1 })])]);
        var request = AnthropicRequests.Parse(JsonNode.Parse("""{"model":"gpt-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""")!.AsObject());
        await using var call = TranslatedCalls.ToAnthropic(request, Target(inner), 5);

        var answer = await call.CompleteAsync(CancellationToken.None);

        var json = JsonNode.Parse(answer.Body.Span)!;
        Assert.Equal("Sunny.", (string)json["content"]![0]!["text"]!);
        Assert.Equal("end_turn", (string)json["stop_reason"]!);
        Assert.Equal((3L, 1L, "Sunny.", "end_turn"), (answer.InputTokens!.Value, answer.OutputTokens!.Value, answer.Text, answer.FinishReason));
    }

    [Fact]
    public async Task A_stream_cut_after_content_ends_unfinished_without_throwing()
    {
        var inner = new ScriptedClient(_ => [new ChatResponseUpdate(ChatRole.Assistant, "Hel"), new ChatResponseUpdate(ChatRole.Assistant, "lo")],
            new IOException("Connection reset by peer"), failAt: 2);
        var request = AnthropicRequests.Parse(JsonNode.Parse("""{"model":"gpt-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""")!.AsObject());
        await using var call = TranslatedCalls.ToAnthropic(request, Target(inner), 5);

        var sse = await DrainAsync(call);

        Assert.False(call.Finished);
        Assert.Equal("Hello", call.DeliveredText);
        Assert.DoesNotContain("message_stop", sse, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_that_ends_cleanly_without_a_finish_reason_is_not_finished()
    {
        var inner = new ScriptedClient(_ => [new ChatResponseUpdate(ChatRole.Assistant, "Hel")]);
        var request = AnthropicRequests.Parse(JsonNode.Parse("""{"model":"gpt-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""")!.AsObject());
        await using var call = TranslatedCalls.ToAnthropic(request, Target(inner), 5);

        await DrainAsync(call);

        Assert.False(call.Finished);
    }

    [Fact]
    public async Task A_failure_before_the_first_update_is_thrown_so_the_next_model_can_answer()
    {
        var inner = new ScriptedClient(_ => [new ChatResponseUpdate(ChatRole.Assistant, "never")], new HttpRequestException("refused"), failAt: 0);
        var request = AnthropicRequests.Parse(JsonNode.Parse("""{"model":"gpt-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}""")!.AsObject());
        await using var call = TranslatedCalls.ToAnthropic(request, Target(inner), 5);

        await Assert.ThrowsAsync<HttpRequestException>(() => DrainAsync(call));
    }

    [Fact]
    public async Task An_OpenAI_client_of_an_Anthropic_model_gets_chunks_and_a_usage_chunk_when_asked()
    {
        var inner = new ScriptedClient(_ => [new ChatResponseUpdate(ChatRole.Assistant, "Hi"),
            new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(new UsageDetails { InputTokenCount = 3, OutputTokenCount = 1 })]) { FinishReason = new ChatFinishReason("end_turn") }]);
        var request = new GatewayChatRequest
        {
            Format = WireFormat.OpenAI, Model = "claude-x", Stream = true, IncludeUsage = true, Body = [],
            Messages = [new ChatMessage(ChatRole.User, "hi")], Options = new ChatOptions(),
        };
        await using var call = TranslatedCalls.ToOpenAI(request, Target(inner) with { Kind = ProviderKinds.Anthropic, Model = "claude-x" }, 9);

        var sse = await DrainAsync(call);

        Assert.Contains("\"delta\":{\"content\":\"Hi\"}", sse, StringComparison.Ordinal);
        Assert.Contains("\"finish_reason\":\"stop\"", sse, StringComparison.Ordinal);
        Assert.True(call.Finished);
        Assert.Equal("stop", call.FinishReason);
        var closing = Encoding.UTF8.GetString(call.Closing(3, 1).Span);
        Assert.Contains("\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}", closing, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", closing, StringComparison.Ordinal);
    }
}
