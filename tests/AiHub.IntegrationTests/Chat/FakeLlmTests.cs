using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using AiHub.Fixtures;
using Anthropic;
using Anthropic.Exceptions;
using Microsoft.Extensions.AI;
using OpenAI;

namespace AiHub.IntegrationTests.Chat;

/// <summary>The fake LLM is only worth its name if the real OpenAI and Anthropic SDKs, through IChatClient, accept it.</summary>
public sealed class FakeLlmTests
{
    const string Key = "sk-test-key";

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<FakeLlmProvider> Providers => [FakeLlmProvider.OpenAi, FakeLlmProvider.Gemini, FakeLlmProvider.Anthropic];

    public static TheoryData<FakeLlmProvider, FakeTruncation> Truncations => new()
    {
        { FakeLlmProvider.OpenAi, FakeTruncation.EndBody },
        { FakeLlmProvider.OpenAi, FakeTruncation.Abort },
        { FakeLlmProvider.Gemini, FakeTruncation.EndBody },
        { FakeLlmProvider.Anthropic, FakeTruncation.EndBody },
        { FakeLlmProvider.Anthropic, FakeTruncation.Abort },
    };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_reply_carries_the_echo_its_finish_reason_and_word_counted_usage(FakeLlmProvider provider)
    {
        await using var fake = await StartAsync();
        using var client = Client(fake, provider);

        var response = await client.GetResponseAsync(
            [new ChatMessage(ChatRole.System, "Be brief."), new ChatMessage(ChatRole.User, "hello there")], cancellationToken: Ct);

        Assert.Equal("You said: hello there", response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.Equal(4, response.Usage?.InputTokenCount);
        Assert.Equal(4, response.Usage?.OutputTokenCount);
        Assert.Equal(8, response.Usage?.TotalTokenCount);
        var request = Assert.Single(fake.Requests);
        Assert.Equal(provider, request.Provider);
        Assert.Equal(ModelOf(provider), request.Model);
        Assert.False(request.Stream);
        Assert.Equal(FakeLlmOutcome.Completed, await request.Outcome.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        if (provider == FakeLlmProvider.Anthropic)
        {
            // The Anthropic C# SDK sends its ApiKey as a bearer token rather than x-api-key.
            Assert.Equal("Bearer " + Key, request.Headers["Authorization"]);
            Assert.True(request.Headers.ContainsKey("anthropic-version"));
        }
        else
            Assert.Equal("Bearer " + Key, request.Headers["Authorization"]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_stream_sends_a_chunk_per_word_then_the_finish_reason_and_usage(FakeLlmProvider provider)
    {
        await using var fake = await StartAsync();
        using var client = Client(fake, provider);

        var updates = await CollectAsync(client, "stream these words please", Ct);

        Assert.Equal("You said: stream these words please", string.Concat(updates.Select(u => u.Text)));
        Assert.Equal(["You", " said:", " stream", " these", " words", " please"], updates.Where(u => u.Text.Length > 0).Select(u => u.Text));
        // The OpenAI adapter repeats the finish reason on the usage update that follows it.
        Assert.Contains(updates, u => u.FinishReason is not null);
        Assert.All(updates.Where(u => u.FinishReason is not null), u => Assert.Equal(ChatFinishReason.Stop, u.FinishReason));
        var usage = Usage(updates);
        Assert.Equal(4, usage.InputTokenCount);
        Assert.Equal(6, usage.OutputTokenCount);
        var request = Assert.Single(fake.Requests);
        Assert.True(request.Stream);
        Assert.Equal(FakeLlmOutcome.Completed, await request.Outcome.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.Equal(0, fake.ActiveStreams);
    }

    [Theory]
    [InlineData(FakeLlmProvider.OpenAi, false)]
    [InlineData(FakeLlmProvider.OpenAi, true)]
    [InlineData(FakeLlmProvider.Gemini, true)]
    [InlineData(FakeLlmProvider.Anthropic, false)]
    [InlineData(FakeLlmProvider.Anthropic, true)]
    public async Task A_scripted_tool_call_is_invoked_and_its_result_answered(FakeLlmProvider provider, bool stream)
    {
        await using var fake = await StartAsync();
        fake.Enqueue(FakeScript.ToolCall("get_weather", """{"city":"Paris","unit":"celsius"}"""));
        using var client = new ChatClientBuilder(Client(fake, provider)).UseFunctionInvocation().Build();
        string? calledWith = null;
        var options = new ChatOptions
        {
            Tools = [AIFunctionFactory.Create((string city, string unit) => { calledWith = city + "/" + unit; return $"Sunny in {city}"; }, "get_weather")],
        };

        var text = stream
            ? string.Concat((await CollectAsync(client, "weather?", Ct, options)).Select(u => u.Text))
            : (await client.GetResponseAsync("weather?", options, Ct)).Text;

        Assert.Equal("Paris/celsius", calledWith);
        // FunctionInvokingChatClient sends a string result JSON-serialized, quotes included.
        Assert.Equal("Tool returned: \"Sunny in Paris\"", text);
        var requests = fake.Requests;
        Assert.Equal(2, requests.Count);
        Assert.Contains("get_weather", requests[0].Body!.Value.GetProperty("tools").GetRawText(), StringComparison.Ordinal);
        Assert.Contains("Sunny in Paris", requests[1].Body!.Value.GetProperty("messages").GetRawText(), StringComparison.Ordinal);
        Assert.Equal(0, fake.PendingScripts);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_rate_limit_answers_429_with_retry_after_in_the_provider_error_shape(FakeLlmProvider provider)
    {
        await using var fake = await StartAsync();
        fake.Enqueue(FakeScript.Status(429, TimeSpan.FromSeconds(3)));
        var observed = new ResponseObserver();
        using var client = Client(fake, provider, observed);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        if (provider == FakeLlmProvider.Anthropic)
            Assert.IsType<AnthropicRateLimitException>(error);
        else
            Assert.Equal(429, Assert.IsType<ClientResultException>(error).Status);
        var response = Assert.Single(observed.Responses);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.Status);
        Assert.Equal("3", response.RetryAfter);
        using var body = JsonDocument.Parse(response.Body);
        switch (provider)
        {
            case FakeLlmProvider.Anthropic:
                Assert.Equal("error", body.RootElement.GetProperty("type").GetString());
                Assert.Equal("rate_limit_error", body.RootElement.GetProperty("error").GetProperty("type").GetString());
                break;
            case FakeLlmProvider.Gemini:
                Assert.Equal("RESOURCE_EXHAUSTED", body.RootElement[0].GetProperty("error").GetProperty("status").GetString());
                break;
            default:
                Assert.Equal("rate_limit_exceeded", body.RootElement.GetProperty("error").GetProperty("code").GetString());
                break;
        }
        // Retries are off, so the single scripted failure is all the fake saw, and the next request succeeds.
        Assert.Single(fake.Requests);
        Assert.Equal("You said: again", (await client.GetResponseAsync("again", cancellationToken: Ct)).Text);
    }

    [Theory]
    [MemberData(nameof(Truncations))]
    public async Task A_truncated_stream_never_reports_a_finish_reason(FakeLlmProvider provider, FakeTruncation how)
    {
        await using var fake = await StartAsync();
        fake.Enqueue(FakeScript.TruncateAfter(2, how));
        using var client = Client(fake, provider);
        var updates = new List<ChatResponseUpdate>();

        Exception? error = null;
        try
        {
            await foreach (var update in client.GetStreamingResponseAsync("one two three four", cancellationToken: Ct))
                updates.Add(update);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            error = e;
        }

        Assert.Equal("You said:", string.Concat(updates.Select(u => u.Text)));
        Assert.DoesNotContain(updates, u => u.FinishReason is not null);
        // A clean end of body is no error to either SDK; a reset surfaces as the socket's IOException, unwrapped.
        if (how == FakeTruncation.Abort)
            Assert.IsAssignableFrom<IOException>(error);
        else
            Assert.Null(error);
        var usage = updates.SelectMany(u => u.Contents).OfType<UsageContent>().ToList();
        if (provider == FakeLlmProvider.Anthropic && how == FakeTruncation.EndBody)
        {
            // The Anthropic adapter reports message_start's usage at the end of any stream, complete or not.
            Assert.Equal(1, Assert.Single(usage).Details.OutputTokenCount);
        }
        else
            Assert.Empty(usage);
        Assert.Equal(how == FakeTruncation.Abort ? FakeLlmOutcome.Aborted : FakeLlmOutcome.Truncated,
            await Assert.Single(fake.Requests).Outcome.WaitAsync(TimeSpan.FromSeconds(5), Ct));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Cancelling_a_stalled_stream_disconnects_and_the_fake_sees_it(FakeLlmProvider provider)
    {
        await using var fake = await StartAsync();
        fake.Enqueue(FakeScript.StallAfter(2));
        using var client = Client(fake, provider);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var texts = new List<string>();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync("one two three", cancellationToken: cancel.Token))
            {
                if (update.Text.Length > 0)
                    texts.Add(update.Text);
                if (texts.Count == 2)
                {
                    Assert.Equal(1, fake.ActiveStreams);
                    await cancel.CancelAsync();
                }
            }
        });

        Assert.Equal(["You", " said:"], texts);
        Assert.Equal(FakeLlmOutcome.ClientDisconnected, await Assert.Single(fake.Requests).Outcome.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        Assert.Equal(0, fake.ActiveStreams);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_slow_first_token_holds_back_all_content(FakeLlmProvider provider)
    {
        await using var fake = await StartAsync();
        fake.Enqueue(FakeScript.SlowFirstToken(TimeSpan.FromMilliseconds(600), "late but whole"));
        using var client = Client(fake, provider);
        var clock = Stopwatch.StartNew();
        TimeSpan? firstText = null;
        var text = "";

        await foreach (var update in client.GetStreamingResponseAsync("hi", cancellationToken: Ct))
        {
            if (update.Text.Length > 0)
                firstText ??= clock.Elapsed;
            text += update.Text;
        }

        Assert.Equal("late but whole", text);
        Assert.True(firstText >= TimeSpan.FromMilliseconds(550), $"first text after {firstText}");
    }

    [Fact]
    public async Task Scripts_are_taken_in_order_and_only_by_their_model()
    {
        await using var fake = await StartAsync();
        fake.Enqueue(FakeScript.Reply("for the other model"), model: "gpt-4.1");
        fake.Enqueue(FakeScript.Reply("first"));
        fake.Enqueue(FakeScript.Reply("second", chunks: 3));
        using var mini = Client(fake, FakeLlmProvider.OpenAi);
        using var other = Client(fake, FakeLlmProvider.OpenAi, model: "gpt-4.1");

        Assert.Equal("first", (await mini.GetResponseAsync("a", cancellationToken: Ct)).Text);
        var second = await CollectAsync(mini, "b", Ct);
        Assert.Equal(["second", " 2", " 3"], second.Where(u => u.Text.Length > 0).Select(u => u.Text));
        Assert.Equal("You said: c", (await mini.GetResponseAsync("c", cancellationToken: Ct)).Text);
        Assert.Equal("for the other model", (await other.GetResponseAsync("d", cancellationToken: Ct)).Text);
        Assert.Equal(4, (await fake.WaitForRequestsAsync(4)).Count);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Directives_in_the_last_user_message_script_the_reply_from_outside(FakeLlmProvider provider)
    {
        await using var fake = await StartAsync();
        using var client = Client(fake, provider);

        var chunked = await CollectAsync(client, "count [[fake:chunks=5;delay=10]]", Ct);
        Assert.Equal(["You", " said:", " count", " 4", " 5"], chunked.Where(u => u.Text.Length > 0).Select(u => u.Text));

        var truncated = await CollectAsync(client, "a b c d [[fake:truncate-after=3]]", Ct);
        Assert.Equal("You said: a", string.Concat(truncated.Select(u => u.Text)));
        Assert.DoesNotContain(truncated, u => u.FinishReason is not null);

        await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("x [[fake:status=503]]", cancellationToken: Ct));
        Assert.Equal(FakeLlmOutcome.Failed, await fake.Requests[^1].Outcome);

        using var tools = new ChatClientBuilder(client).UseFunctionInvocation().Build();
        var options = new ChatOptions { Tools = [AIFunctionFactory.Create((string query) => $"found {query}", "web_search")] };
        var answer = await tools.GetResponseAsync("""look it up [[fake:tool=web_search;args={"query":"x"}]]""", options, Ct);
        Assert.Equal("Tool returned: \"found x\"", answer.Text);
    }

    [Theory]
    [InlineData("[[fake:bogus=1]]")]
    [InlineData("[[fake:chunks=0]]")]
    [InlineData("[[fake:tool=t;args=[1]]]")]
    public async Task A_malformed_directive_is_a_400_that_names_it(string directive)
    {
        await using var fake = await StartAsync();
        using var client = Client(fake, FakeLlmProvider.OpenAi);

        var error = await Assert.ThrowsAsync<ClientResultException>(() => client.GetResponseAsync("hi " + directive, cancellationToken: Ct));

        Assert.Equal(400, error.Status);
        Assert.Contains("fake directive", error.Message, StringComparison.Ordinal);
        Assert.Equal(FakeLlmOutcome.Failed, await Assert.Single(fake.Requests).Outcome);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_wrong_key_is_refused_with_401(FakeLlmProvider provider)
    {
        await using var fake = await StartAsync();
        fake.ApiKey = "the-right-key";
        using var client = Client(fake, provider);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => client.GetResponseAsync("hi", cancellationToken: Ct));

        if (provider == FakeLlmProvider.Anthropic)
            Assert.IsType<AnthropicUnauthorizedException>(error);
        else
            Assert.Equal(401, Assert.IsType<ClientResultException>(error).Status);
        Assert.Equal(FakeLlmOutcome.Failed, await Assert.Single(fake.Requests).Outcome);
    }

    [Fact]
    public async Task The_models_list_reads_with_the_OpenAI_SDK()
    {
        await using var fake = await StartAsync();
        var client = new OpenAIClient(new ApiKeyCredential(Key), new OpenAIClientOptions { Endpoint = fake.OpenAiEndpoint });

        var models = await client.GetOpenAIModelClient().GetModelsAsync(Ct);

        Assert.Equal(fake.Models, models.Value.Select(m => m.Id));
    }

    static Task<FakeLlm> StartAsync() => FakeLlm.StartAsync();

    static string ModelOf(FakeLlmProvider provider) => provider switch
    {
        FakeLlmProvider.Anthropic => "claude-sonnet-4-5",
        FakeLlmProvider.Gemini => "gemini-2.5-flash",
        _ => "gpt-4o-mini",
    };

    static IChatClient Client(FakeLlm fake, FakeLlmProvider provider, ResponseObserver? observer = null, string? model = null)
    {
        model ??= ModelOf(provider);
        if (provider == FakeLlmProvider.Anthropic)
        {
            var anthropic = new AnthropicClient { ApiKey = Key, BaseUrl = fake.AnthropicBaseUrl, MaxRetries = 0 };
            if (observer is not null)
                anthropic = new AnthropicClient { ApiKey = Key, BaseUrl = fake.AnthropicBaseUrl, MaxRetries = 0, HttpClient = new HttpClient(observer) };
            return anthropic.AsIChatClient(model);
        }
        var options = new OpenAIClientOptions
        {
            Endpoint = provider == FakeLlmProvider.Gemini ? fake.GeminiEndpoint : fake.OpenAiEndpoint,
            RetryPolicy = new ClientRetryPolicy(0),
        };
        if (observer is not null)
            options.Transport = new HttpClientPipelineTransport(new HttpClient(observer));
        return new OpenAIClient(new ApiKeyCredential(Key), options).GetChatClient(model).AsIChatClient();
    }

    static async Task<List<ChatResponseUpdate>> CollectAsync(IChatClient client, string message, CancellationToken ct, ChatOptions? options = null)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(message, options, ct))
            updates.Add(update);
        return updates;
    }

    static UsageDetails Usage(List<ChatResponseUpdate> updates)
    {
        var usage = new UsageDetails();
        foreach (var content in updates.SelectMany(u => u.Contents).OfType<UsageContent>())
            usage.Add(content.Details);
        return usage;
    }

    /// <summary>Sees each response as the SDK's HTTP client got it, whatever the SDK's exception exposes.</summary>
    sealed class ResponseObserver() : DelegatingHandler(new HttpClientHandler())
    {
        public List<(HttpStatusCode Status, string? RetryAfter, string Body)> Responses { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken);
                Responses.Add((response.StatusCode, response.Headers.RetryAfter?.ToString(),
                    await response.Content.ReadAsStringAsync(cancellationToken)));
            }
            else
                Responses.Add((response.StatusCode, null, ""));
            return response;
        }
    }
}
