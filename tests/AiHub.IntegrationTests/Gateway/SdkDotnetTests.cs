using System.ClientModel;
using System.ClientModel.Primitives;
using System.ComponentModel;
using System.Text.Json;
using AiHub.Credits.Usage;
using AiHub.IntegrationTests.Support;
using Anthropic;
using Anthropic.Exceptions;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;
using static AiHub.IntegrationTests.Gateway.GatewayTenants;
using MeaiChatMessage = Microsoft.Extensions.AI.ChatMessage;
using MeaiChatRole = Microsoft.Extensions.AI.ChatRole;
using MeaiFinishReason = Microsoft.Extensions.AI.ChatFinishReason;

namespace AiHub.IntegrationTests.Gateway;

/// <summary>
/// The .NET <c>OpenAI</c> and <c>Anthropic</c> packages pointed at AiHub's /v1 with an org key, as a .NET team moving off
/// another gateway would: the same cases as the npm clients, and each call billed once to its key.
/// </summary>
public abstract class SdkDotnetTests(SdkFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    readonly IdentityHost _host = fixture.Host;

    public static TheoryData<string> Models => [SdkFixture.Gpt, SdkFixture.Claude];

    OpenAIClient OpenAi(string key) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(fixture.Root, "v1"),
        RetryPolicy = new ClientRetryPolicy(0),
        NetworkTimeout = TimeSpan.FromSeconds(30),
    });

    IChatClient Anthropic(string key, string model) =>
        new AnthropicClient { ApiKey = key, BaseUrl = fixture.Root.AbsoluteUri.TrimEnd('/'), MaxRetries = 0 }.AsIChatClient(model);

    async Task BilledOnceAsync(GatewayTenant tenant, int calls, UsageStatus status = UsageStatus.Succeeded)
    {
        var (lost, recorded, records) = await _host.SettledAsync(tenant);
        Assert.Equal(calls, records.Count);
        Assert.All(records, r => Assert.Equal(status, r.Status));
        Assert.All(records, r => Assert.True(r.CostMicros > 0));
        Assert.Equal(recorded, lost);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_OpenAI_package_completes_and_streams_with_usage(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var chat = OpenAi(tenant.Secret).GetChatClient(model);

        ChatCompletion whole = await chat.CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("Hello gateway")],
            new ChatCompletionOptions { MaxOutputTokenCount = 50 }, Ct);
        var text = "";
        ChatTokenUsage? usage = null;
        OpenAI.Chat.ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Stream these words back")], cancellationToken: Ct))
        {
            text += string.Concat(update.ContentUpdate.Select(p => p.Text));
            usage = update.Usage ?? usage;
            finish = update.FinishReason ?? finish;
        }

        Assert.Equal(("You said: Hello gateway", OpenAI.Chat.ChatFinishReason.Stop), (whole.Content[0].Text, whole.FinishReason));
        Assert.Equal((4, 4), (whole.Usage.InputTokenCount, whole.Usage.OutputTokenCount));
        Assert.Equal(("You said: Stream these words back", OpenAI.Chat.ChatFinishReason.Stop), (text, finish));
        Assert.NotNull(usage);
        Assert.Equal(6, usage.OutputTokenCount);
        await BilledOnceAsync(tenant, 2);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_OpenAI_package_runs_a_tool_round_trip_and_gets_json_schema_output(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var chat = OpenAi(tenant.Secret).GetChatClient(model);
        var weather = ChatTool.CreateFunctionTool("get_weather", "The weather in a city now.",
            BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));
        var options = new ChatCompletionOptions { Tools = { weather } };
        List<OpenAI.Chat.ChatMessage> messages = [new UserChatMessage("""What is the weather in Paris? [[fake:tool=get_weather;args={"city":"Paris"}]]""")];

        ChatCompletion first = await chat.CompleteChatAsync(messages, options, Ct);
        var call = Assert.Single(first.ToolCalls);
        messages.Add(new AssistantChatMessage(first));
        messages.Add(new ToolChatMessage(call.Id, $"Sunny in {JsonDocument.Parse(call.FunctionArguments).RootElement.GetProperty("city").GetString()}"));
        ChatCompletion second = await chat.CompleteChatAsync(messages, options, Ct);
        ChatCompletion structured = await chat.CompleteChatAsync([new UserChatMessage("""The city as JSON. [[fake:text={"city":"Paris","population":2102650}]]""")],
            new ChatCompletionOptions
            {
                ResponseFormat = OpenAI.Chat.ChatResponseFormat.CreateJsonSchemaFormat("city",
                    BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"},"population":{"type":"integer"}},"required":["city","population"],"additionalProperties":false}"""),
                    jsonSchemaIsStrict: true),
            }, Ct);

        Assert.Equal((OpenAI.Chat.ChatFinishReason.ToolCalls, "get_weather"), (first.FinishReason, call.FunctionName));
        Assert.Contains("Sunny in Paris", second.Content[0].Text, StringComparison.Ordinal);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, second.FinishReason);
        Assert.Equal("Paris", JsonDocument.Parse(structured.Content[0].Text).RootElement.GetProperty("city").GetString());
        await BilledOnceAsync(tenant, 3);
    }

    [Fact]
    public async Task The_OpenAI_package_gets_embeddings_and_lists_models()
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var client = OpenAi(tenant.Secret);

        var embeddings = (await client.GetEmbeddingClient(TestEmbeddings.Model).GenerateEmbeddingsAsync(["The cat sat on the mat.", "Revenue grew."], cancellationToken: Ct)).Value;
        var models = (await client.GetOpenAIModelClient().GetModelsAsync(Ct)).Value;

        Assert.Equal([0, 1], embeddings.Select(e => e.Index));
        Assert.All(embeddings, e => Assert.Equal(512, e.ToFloats().Length));
        Assert.Contains(SdkFixture.Gpt, models.Select(m => m.Id));
        Assert.Contains(SdkFixture.Claude, models.Select(m => m.Id));
    }

    [Fact]
    public async Task The_OpenAI_package_sees_429_for_a_key_over_its_limit_and_401_for_a_bad_key()
    {
        var tenant = await GatewayTenants.NewAsync(_host, rateLimitPerMinute: 1);
        var chat = OpenAi(tenant.Secret).GetChatClient(SdkFixture.Gpt);

        await chat.CompleteChatAsync([new UserChatMessage("First")], cancellationToken: Ct);
        var limited = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("Second")], cancellationToken: Ct));
        var stranger = await Assert.ThrowsAsync<ClientResultException>(() =>
            OpenAi("ahk_" + Guid.NewGuid().ToString("N")).GetChatClient(SdkFixture.Gpt).CompleteChatAsync([new UserChatMessage("Hi")], cancellationToken: Ct));

        Assert.Equal(429, limited.Status);
        Assert.True(limited.GetRawResponse()?.Headers.TryGetValue("Retry-After", out _), "no Retry-After on the 429");
        Assert.Equal(401, stranger.Status);
        await BilledOnceAsync(tenant, 1);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task A_cut_stream_never_finishes_cleanly_in_the_OpenAI_package(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var chat = OpenAi(tenant.Secret).GetChatClient(model);
        var text = "";
        OpenAI.Chat.ChatFinishReason? finish = null;

        var error = await Record.ExceptionAsync(async () =>
        {
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("one two three four five six seven eight [[fake:truncate-after=3]]")], cancellationToken: Ct))
            {
                text += string.Concat(update.ContentUpdate.Select(p => p.Text));
                finish = update.FinishReason ?? finish;
            }
        });

        // The SDK may raise the error event or stop at it; either way no finish reason says the answer is whole.
        Assert.True(error is not null || finish is null, $"the cut stream finished cleanly with '{text}' ({finish})");
        Assert.Null(finish);
        Assert.StartsWith("You said:", text, StringComparison.Ordinal);
        await BilledOnceAsync(tenant, 1, UsageStatus.Incomplete);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_Anthropic_package_completes_streams_and_runs_tools(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var chat = Anthropic(tenant.Secret, model);
        var tools = chat.AsBuilder().UseFunctionInvocation().Build();

        var whole = await chat.GetResponseAsync([new MeaiChatMessage(MeaiChatRole.System, "Be brief."), new MeaiChatMessage(MeaiChatRole.User, "Hello gateway")],
            new ChatOptions { MaxOutputTokens = 50 }, Ct);
        var updates = await chat.GetStreamingResponseAsync("Stream these words back", new ChatOptions { MaxOutputTokens = 100 }, Ct).ToListAsync(Ct);
        var streamed = updates.ToChatResponse();
        var answered = await tools.GetResponseAsync("""What is the weather in Paris? [[fake:tool=get_weather;args={"city":"Paris"}]]""",
            new ChatOptions { MaxOutputTokens = 200, Tools = [AIFunctionFactory.Create(Weather, name: "get_weather")] }, Ct);

        Assert.Equal(("You said: Hello gateway", MeaiFinishReason.Stop), (whole.Text, whole.FinishReason));
        Assert.Equal((4L, 4L), (whole.Usage?.InputTokenCount, whole.Usage?.OutputTokenCount));
        Assert.Equal(("You said: Stream these words back", MeaiFinishReason.Stop), (streamed.Text, streamed.FinishReason));
        Assert.True(answered.Text.Contains("Sunny in Paris", StringComparison.Ordinal), answered.Text);
        await BilledOnceAsync(tenant, 4);
    }

    [Description("The weather in a city now.")]
    static string Weather(string city) => $"Sunny in {city}";

    [Fact]
    public async Task The_Anthropic_package_raises_its_rate_limit_and_unauthorized_exceptions()
    {
        var tenant = await GatewayTenants.NewAsync(_host, rateLimitPerMinute: 1);
        var chat = Anthropic(tenant.Secret, SdkFixture.Claude);

        await chat.GetResponseAsync("First", new ChatOptions { MaxOutputTokens = 20 }, Ct);
        await Assert.ThrowsAsync<AnthropicRateLimitException>(() => chat.GetResponseAsync("Second", new ChatOptions { MaxOutputTokens = 20 }, Ct));
        await Assert.ThrowsAsync<AnthropicUnauthorizedException>(() =>
            Anthropic("ahk_" + Guid.NewGuid().ToString("N"), SdkFixture.Claude).GetResponseAsync("Hi", new ChatOptions { MaxOutputTokens = 20 }, Ct));
        await BilledOnceAsync(tenant, 1);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task A_cut_stream_is_an_error_or_an_unfinished_answer_in_the_Anthropic_package(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var chat = Anthropic(tenant.Secret, model);
        var updates = new List<ChatResponseUpdate>();

        var error = await Record.ExceptionAsync(async () =>
        {
            await foreach (var update in chat.GetStreamingResponseAsync("one two three four five six seven eight [[fake:truncate-after=3]]",
                new ChatOptions { MaxOutputTokens = 100 }, Ct))
                updates.Add(update);
        });

        var partial = updates.ToChatResponse();
        Assert.True(error is not null || partial.FinishReason is null, $"the cut stream finished cleanly with '{partial.Text}' ({partial.FinishReason})");
        Assert.Null(partial.FinishReason);
        Assert.StartsWith("You said:", partial.Text, StringComparison.Ordinal);
        await BilledOnceAsync(tenant, 1, UsageStatus.Incomplete);
    }
}

public sealed class SdkDotnetTestsOnSqlite(SqliteSdkFixture fixture) : SdkDotnetTests(fixture), IClassFixture<SqliteSdkFixture>;

public sealed class SdkDotnetTestsOnPostgres(PostgresSdkFixture fixture) : SdkDotnetTests(fixture), IClassFixture<PostgresSdkFixture>;
