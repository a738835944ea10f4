using System.Text;
using AiHub.Chat.Tokens;
using Microsoft.Extensions.AI;

namespace AiHub.Tests;

public sealed class TokenCounterTests
{
    static readonly TokenCounter Counter = new();

    [Theory]
    [InlineData("gpt-4o", "o200k_base")]
    [InlineData("gpt-4o-mini-2024-07-18", "o200k_base")]
    [InlineData("chatgpt-4o-latest", "o200k_base")]
    [InlineData("GPT-4.1-nano", "o200k_base")]
    [InlineData("gpt-5", "o200k_base")]
    [InlineData("gpt-5-mini", "o200k_base")]
    [InlineData("o1", "o200k_base")]
    [InlineData("o1-preview", "o200k_base")]
    [InlineData("o3-mini", "o200k_base")]
    [InlineData("o4-mini", "o200k_base")]
    [InlineData("openai/gpt-4o", "o200k_base")]
    [InlineData("gpt-4", "cl100k_base")]
    [InlineData("gpt-4-turbo", "cl100k_base")]
    [InlineData("gpt-4-0613", "cl100k_base")]
    [InlineData("gpt-3.5-turbo", "cl100k_base")]
    [InlineData("claude-sonnet-4-0", "cl100k_base")]
    [InlineData("gemini-2.5-flash", "cl100k_base")]
    [InlineData("llama3.1:8b", "cl100k_base")]
    [InlineData("o10-experimental", "cl100k_base")]
    [InlineData("ollama/qwen2.5", "cl100k_base")]
    [InlineData("", "cl100k_base")]
    public void Each_family_maps_to_its_encoding(string model, string encoding) =>
        Assert.Equal(encoding, TokenCounter.Encoding(model));

    [Theory]
    [InlineData("gpt-4o", "hello world", 2)]
    [InlineData("gpt-4", "hello world", 2)]
    [InlineData("gpt-4o", "tiktoken is great!", 6)]
    [InlineData("gpt-4", "tiktoken is great!", 6)]
    [InlineData("claude-sonnet-4-0", "hello world", 2)]
    [InlineData("gpt-4o", "", 0)]
    [InlineData("gpt-4", "", 0)]
    public void Known_strings_have_their_known_counts(string model, string text, int tokens) =>
        Assert.Equal(tokens, Counter.Count(model, text));

    [Fact]
    public void The_two_encodings_are_really_different_tokenizers()
    {
        const string text = "Die Würde des Menschen ist unantastbar. 人人生而自由，在尊严和权利上一律平等。";

        Assert.True(Counter.Count("gpt-4o", text) < Counter.Count("gpt-4", text), "o200k should need fewer tokens than cl100k for non-English text");
    }

    /// <summary>OpenAI's cookbook example ("How to count tokens with tiktoken"): the API reports 129 prompt tokens on gpt-4 and 124 on gpt-4o.</summary>
    [Theory]
    [InlineData("gpt-4-0613", 129)]
    [InlineData("gpt-4o", 124)]
    public void A_conversation_counts_as_the_api_bills_it(string model, int tokens)
    {
        ChatMessage[] messages =
        [
            new(ChatRole.System, "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."),
            new(ChatRole.System, "New synergies will help drive top-line growth.") { AuthorName = "example_user" },
            new(ChatRole.System, "Things working well together will increase revenue.") { AuthorName = "example_assistant" },
            new(ChatRole.System, "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.") { AuthorName = "example_user" },
            new(ChatRole.System, "Let's talk later when we're less busy about how to do better.") { AuthorName = "example_assistant" },
            new(ChatRole.User, "This late pivot means we don't have time to boil the ocean for the client deliverable."),
        ];

        Assert.Equal(tokens, Counter.Count(model, messages));
    }

    [Fact]
    public void No_messages_still_count_the_reply_priming_and_each_message_its_wrapping()
    {
        var empty = Counter.Count("gpt-4o", []);
        var one = Counter.Count("gpt-4o", [new ChatMessage(ChatRole.User, "hello world")]);

        Assert.Equal(TokenCounter.ReplyPriming, empty);
        Assert.Equal(TokenCounter.ReplyPriming + TokenCounter.PerMessage + 1 + 2, one);   // "user" is one token
    }

    [Fact]
    public void Tool_calls_and_results_count_as_the_text_the_model_reads()
    {
        var call = new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "web_search", new Dictionary<string, object?> { ["query"] = "penguins" })]);
        var result = new ChatMessage(ChatRole.Tool, [new FunctionResultContent("c1", "[{\"title\":\"Penguins\"}]")]);
        var bare = new ChatMessage(ChatRole.Tool, []);

        var callTokens = Counter.Count("gpt-4o", [call]) - Counter.Count("gpt-4o", [new ChatMessage(ChatRole.Assistant, [])]);
        var resultTokens = Counter.Count("gpt-4o", [result]) - Counter.Count("gpt-4o", [bare]);

        Assert.Equal(Counter.Count("gpt-4o", "web_search") + Counter.Count("gpt-4o", "{\"query\":\"penguins\"}"), callTokens);
        Assert.Equal(Counter.Count("gpt-4o", "[{\"title\":\"Penguins\"}]"), resultTokens);
    }

    [Fact]
    public async Task Counting_is_safe_from_many_threads_and_a_megabyte_is_counted()
    {
        var text = new StringBuilder();
        while (text.Length < 1_000_000)
            text.Append("The quick brown fox jumps over the lazy dog. ");
        var megabyte = text.ToString();
        var single = Counter.Count("gpt-4o", "The quick brown fox jumps over the lazy dog. ");

        var counts = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => Counter.Count(i % 2 == 0 ? "gpt-4o" : "gpt-4", megabyte), TestContext.Current.CancellationToken)));

        var repeats = megabyte.Length / "The quick brown fox jumps over the lazy dog. ".Length;
        Assert.Equal(counts[0], counts[2]);
        Assert.Equal(counts[1], counts[3]);
        Assert.InRange(counts[0], repeats * (single - 1), repeats * (single + 1));
    }
}
