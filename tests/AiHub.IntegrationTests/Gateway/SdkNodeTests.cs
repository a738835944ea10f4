using System.Text.Json;
using AiHub.Credits.Usage;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Gateway.GatewayTenants;

namespace AiHub.IntegrationTests.Gateway;

/// <summary>
/// The official npm clients, <c>openai</c> and <c>@anthropic-ai/sdk</c>, pointed at AiHub's /v1 with an org key: every
/// case they cover works as against the real APIs, and each call is billed once to its key.
/// </summary>
public abstract class SdkNodeTests(SdkFixture fixture)
{
    const string OpenAiScript = "openai-sdk.mjs";
    const string AnthropicScript = "anthropic-sdk.mjs";
    readonly IdentityHost _host = fixture.Host;

    public static TheoryData<string> Models => [SdkFixture.Gpt, SdkFixture.Claude];

    string OpenAiBase => new Uri(fixture.Root, "v1").AbsoluteUri;

    string AnthropicBase => fixture.Root.AbsoluteUri.TrimEnd('/');

    Task<(NodeResult Run, JsonElement Seen)> OpenAiAsync(string @case, GatewayTenant tenant, string model, IReadOnlyDictionary<string, string>? extra = null) =>
        RunAsync(OpenAiScript, @case, OpenAiBase, tenant.Secret, model, extra);

    Task<(NodeResult Run, JsonElement Seen)> AnthropicAsync(string @case, GatewayTenant tenant, string model, IReadOnlyDictionary<string, string>? extra = null) =>
        RunAsync(AnthropicScript, @case, AnthropicBase, tenant.Secret, model, extra);

    static void Succeeded((NodeResult Run, JsonElement Seen) result) => Assert.True(result.Run.ExitCode == 0, result.Run.ToString());

    /// <summary>Every call the key made is one succeeded usage record, and the pool lost exactly what they cost.</summary>
    async Task<List<UsageRecord>> BilledOnceAsync(GatewayTenant tenant, int calls, UsageStatus status = UsageStatus.Succeeded)
    {
        var (lost, recorded, records) = await _host.SettledAsync(tenant);
        Assert.Equal(calls, records.Count);
        Assert.All(records, r => Assert.Equal(status, r.Status));
        Assert.All(records, r => Assert.True(r.CostMicros > 0, $"a {r.Model} call of {r.InputTokens}+{r.OutputTokens} tokens cost nothing"));
        Assert.Equal(recorded, lost);
        Assert.Equal(records.Count, records.Select(r => r.IdempotencyKey).Distinct().Count());
        return records;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_OpenAI_SDK_completes_and_the_call_is_billed_once_to_its_key(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await OpenAiAsync("complete", tenant, model);

        Succeeded(result);
        var seen = result.Seen;
        Assert.Equal(("chat.completion", "assistant", "You said: Hello gateway", "stop"),
            (seen.GetProperty("object").GetString(), seen.GetProperty("role").GetString(), seen.GetProperty("content").GetString(), seen.GetProperty("finish").GetString()));
        Assert.Equal((4, 4, 8), (seen.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), seen.GetProperty("usage").GetProperty("completion_tokens").GetInt32(),
            seen.GetProperty("usage").GetProperty("total_tokens").GetInt32()));
        var record = Assert.Single(await BilledOnceAsync(tenant, 1));
        Assert.Equal((4L, 4L, model), (record.InputTokens, record.OutputTokens, record.Model));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_OpenAI_SDK_streams_deltas_that_make_the_answer_with_usage_in_the_last_chunk(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await OpenAiAsync("stream", tenant, model);

        Succeeded(result);
        var seen = result.Seen;
        Assert.Equal("You said: Stream these words back", seen.GetProperty("text").GetString());
        Assert.Equal("stop", seen.GetProperty("finish").GetString());
        Assert.Equal(["chat.completion.chunk"], seen.GetProperty("objects").EnumerateArray().Select(o => o.GetString()));
        // OpenAI's usage chunk has no choices and comes last.
        Assert.Equal(0, seen.GetProperty("lastChoices").GetInt32());
        Assert.Equal((4, 6), (seen.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), seen.GetProperty("usage").GetProperty("completion_tokens").GetInt32()));
        var record = Assert.Single(await BilledOnceAsync(tenant, 1));
        Assert.Equal((4L, 6L), (record.InputTokens, record.OutputTokens));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_OpenAI_SDK_runs_a_tool_round_trip_and_the_model_answers_with_the_result(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var whole = await OpenAiAsync("tools", tenant, model);
        var streamed = await OpenAiAsync("tools-stream", tenant, model);

        Succeeded(whole);
        Assert.Equal(("tool_calls", "get_weather", "Paris"),
            (whole.Seen.GetProperty("firstFinish").GetString(), whole.Seen.GetProperty("tool").GetString(), whole.Seen.GetProperty("args").GetProperty("city").GetString()));
        Assert.StartsWith("Tool returned:", whole.Seen.GetProperty("answer").GetString(), StringComparison.Ordinal);
        Assert.Contains("Sunny in Paris", whole.Seen.GetProperty("answer").GetString(), StringComparison.Ordinal);
        Succeeded(streamed);
        Assert.Equal(("tool_calls", "get_weather", "Oslo"),
            (streamed.Seen.GetProperty("firstFinish").GetString(), streamed.Seen.GetProperty("tool").GetString(), streamed.Seen.GetProperty("args").GetProperty("city").GetString()));
        Assert.Contains("Snow in Oslo", streamed.Seen.GetProperty("answer").GetString(), StringComparison.Ordinal);
        await BilledOnceAsync(tenant, 4);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_OpenAI_SDK_gets_json_schema_output_and_the_schema_reaches_the_provider(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await OpenAiAsync("json-schema", tenant, model);

        Succeeded(result);
        Assert.Equal(("Paris", 2102650), (result.Seen.GetProperty("parsed").GetProperty("city").GetString(), result.Seen.GetProperty("parsed").GetProperty("population").GetInt32()));
        var upstream = fixture.Fake.Requests.Last(r => r.Body?.GetRawText().Contains("2102650", StringComparison.Ordinal) == true).Body!.Value;
        if (model == SdkFixture.Gpt)
        {
            var format = upstream.GetProperty("response_format");
            Assert.Equal(("json_schema", "city"), (format.GetProperty("type").GetString(), format.GetProperty("json_schema").GetProperty("name").GetString()));
        }
        await BilledOnceAsync(tenant, 1);
    }

    [Fact]
    public async Task The_OpenAI_SDK_gets_embeddings_as_floats_and_as_base64_that_decode_to_the_model_s_dimensions()
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await OpenAiAsync("embeddings", tenant, SdkFixture.Gpt, new Dictionary<string, string> { ["AIHUB_EMBEDDING_MODEL"] = TestEmbeddings.Model });

        Succeeded(result);
        var seen = result.Seen;
        Assert.Equal("list", seen.GetProperty("object").GetString());
        Assert.Equal([0, 1], seen.GetProperty("defaultIndexes").EnumerateArray().Select(i => i.GetInt32()));
        // Universal Sentence Encoder lite: 512 dimensions, in every encoding.
        Assert.Equal([512, 512], seen.GetProperty("defaultLengths").EnumerateArray().Select(i => i.GetInt32()));
        Assert.True(seen.GetProperty("defaultAreNumbers").GetBoolean());
        Assert.Equal(512, seen.GetProperty("floatLength").GetInt32());
        Assert.True(seen.GetProperty("base64IsString").GetBoolean());
        Assert.Equal(512, seen.GetProperty("base64Length").GetInt32());
        Assert.True(seen.GetProperty("sameVector").GetDouble() > 0.9999, seen.ToString());
        Assert.True(seen.GetProperty("defaultMatchesFloat").GetDouble() > 0.9999, seen.ToString());
        Assert.True(seen.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 0);
    }

    [Fact]
    public async Task The_OpenAI_and_Anthropic_SDKs_list_the_models_the_key_may_use()
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var openAi = await OpenAiAsync("models", tenant, SdkFixture.Gpt);
        var anthropic = await AnthropicAsync("models", tenant, SdkFixture.Claude);

        Succeeded(openAi);
        var listed = openAi.Seen.GetProperty("models").EnumerateArray().ToList();
        Assert.Contains(SdkFixture.Gpt, listed.Select(m => m.GetProperty("id").GetString()));
        Assert.Contains(SdkFixture.Claude, listed.Select(m => m.GetProperty("id").GetString()));
        Assert.All(listed, m => Assert.Equal("model", m.GetProperty("object").GetString()));
        Assert.Equal(listed[0].GetProperty("id").GetString(), openAi.Seen.GetProperty("retrieved").GetString());
        Succeeded(anthropic);
        var anthropicListed = anthropic.Seen.GetProperty("models").EnumerateArray().ToList();
        Assert.Contains(SdkFixture.Claude, anthropicListed.Select(m => m.GetProperty("id").GetString()));
        Assert.All(anthropicListed, m => Assert.Equal("model", m.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task The_SDKs_raise_RateLimitError_when_the_key_is_over_its_limit_and_the_refusal_costs_nothing()
    {
        var openAiTenant = await GatewayTenants.NewAsync(_host, rateLimitPerMinute: 1);
        var anthropicTenant = await GatewayTenants.NewAsync(_host, rateLimitPerMinute: 1);

        var openAi = await OpenAiAsync("rate-limit", openAiTenant, SdkFixture.Gpt);
        var anthropic = await AnthropicAsync("rate-limit", anthropicTenant, SdkFixture.Claude);

        foreach (var result in new[] { openAi, anthropic })
        {
            Succeeded(result);
            Assert.Equal(["ok"], result.Seen.GetProperty("seen").EnumerateArray().Select(s => s.GetString()));
            var error = result.Seen.GetProperty("error");
            Assert.Equal(("RateLimitError", 429), (error.GetProperty("class").GetString(), error.GetProperty("status").GetInt32()));
            Assert.True(int.Parse(error.GetProperty("retryAfter").GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= 1, error.ToString());
        }
        Assert.Equal("rate_limit_error", anthropic.Seen.GetProperty("error").GetProperty("type").GetString());
        await BilledOnceAsync(openAiTenant, 1);
        await BilledOnceAsync(anthropicTenant, 1);
    }

    [Fact]
    public async Task The_SDKs_raise_AuthenticationError_for_a_key_that_does_not_exist()
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var stranger = tenant with { Secret = "ahk_" + Guid.NewGuid().ToString("N") };
        var before = fixture.Fake.Requests.Count;

        var openAi = await OpenAiAsync("bad-key", stranger, SdkFixture.Gpt);
        var anthropic = await AnthropicAsync("bad-key", stranger, SdkFixture.Claude);

        foreach (var result in new[] { openAi, anthropic })
        {
            Succeeded(result);
            Assert.Equal(("AuthenticationError", 401), (result.Seen.GetProperty("error").GetProperty("class").GetString(), result.Seen.GetProperty("error").GetProperty("status").GetInt32()));
        }
        Assert.Equal("authentication_error", anthropic.Seen.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(before, fixture.Fake.Requests.Count);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task A_stream_the_provider_cuts_is_an_error_in_the_OpenAI_SDK_and_only_what_was_delivered_is_charged(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await OpenAiAsync("truncated", tenant, model);

        Succeeded(result);
        Assert.True(result.Seen.GetProperty("error").GetProperty("isApiError").GetBoolean(), result.Seen.ToString());
        var delivered = result.Seen.GetProperty("text").GetString()!;
        Assert.StartsWith("You said:", delivered, StringComparison.Ordinal);
        Assert.DoesNotContain("eight", delivered, StringComparison.Ordinal);
        var record = Assert.Single(await BilledOnceAsync(tenant, 1, UsageStatus.Incomplete));
        Assert.True(record.OutputTokens is > 0 and <= 4, $"charged {record.OutputTokens} output tokens for '{delivered}'");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task A_stream_the_provider_cuts_is_an_error_in_the_Anthropic_SDK_and_only_what_was_delivered_is_charged(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await AnthropicAsync("truncated", tenant, model);

        Succeeded(result);
        Assert.True(result.Seen.GetProperty("error").GetProperty("isApiError").GetBoolean(), result.Seen.ToString());
        Assert.DoesNotContain("message_stop", result.Seen.GetProperty("events").EnumerateArray().Select(e => e.GetString()));
        var delivered = result.Seen.GetProperty("text").GetString()!;
        Assert.StartsWith("You said:", delivered, StringComparison.Ordinal);
        var record = Assert.Single(await BilledOnceAsync(tenant, 1, UsageStatus.Incomplete));
        Assert.True(record.OutputTokens is > 0 and <= 4, $"charged {record.OutputTokens} output tokens for '{delivered}'");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task A_whole_answer_the_provider_cuts_is_an_error_in_both_SDKs_and_costs_nothing(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var openAi = await OpenAiAsync("truncated-json", tenant, model);
        var anthropic = await AnthropicAsync("truncated-json", tenant, model);

        foreach (var result in new[] { openAi, anthropic })
        {
            Succeeded(result);
            Assert.True(result.Seen.GetProperty("error").GetProperty("status").GetInt32() >= 500, result.Seen.ToString());
        }
        var (lost, recorded, _) = await _host.SettledAsync(tenant);
        Assert.Equal((0L, 0L), (lost, recorded));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_Anthropic_SDK_creates_a_message_and_the_call_is_billed_once_to_its_key(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await AnthropicAsync("complete", tenant, model);

        Succeeded(result);
        var seen = result.Seen;
        Assert.Equal(("message", "You said: Hello gateway", "end_turn"), (seen.GetProperty("type").GetString(), seen.GetProperty("text").GetString(), seen.GetProperty("stop").GetString()));
        Assert.Equal((4, 4), (seen.GetProperty("usage").GetProperty("input_tokens").GetInt32(), seen.GetProperty("usage").GetProperty("output_tokens").GetInt32()));
        var record = Assert.Single(await BilledOnceAsync(tenant, 1));
        Assert.Equal((4L, 4L, model), (record.InputTokens, record.OutputTokens, record.Model));
    }

    [Fact]
    public async Task The_Anthropic_SDK_sending_the_key_as_x_api_key_creates_and_streams_messages()
    {
        var tenant = await GatewayTenants.NewAsync(_host);
        var xApiKey = new Dictionary<string, string> { ["AIHUB_AUTH"] = "x-api-key" };

        var whole = await AnthropicAsync("complete", tenant, SdkFixture.Claude, xApiKey);
        var streamed = await AnthropicAsync("stream", tenant, SdkFixture.Claude, xApiKey);
        var listed = await AnthropicAsync("models", tenant, SdkFixture.Claude, xApiKey);

        Succeeded(whole);
        Assert.Equal("You said: Hello gateway", whole.Seen.GetProperty("text").GetString());
        Succeeded(streamed);
        Assert.Equal("You said: Stream these words back", streamed.Seen.GetProperty("text").GetString());
        Succeeded(listed);
        await BilledOnceAsync(tenant, 2);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_Anthropic_SDK_streams_every_event_of_a_message_and_its_text_makes_the_answer(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var result = await AnthropicAsync("stream", tenant, model);

        Succeeded(result);
        var seen = result.Seen;
        var events = seen.GetProperty("events").EnumerateArray().Select(e => e.GetString()).ToList();
        foreach (var expected in new[] { "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop" })
            Assert.Contains(expected, events);
        Assert.Equal(("message_start", "message_stop"), (seen.GetProperty("first").GetString(), seen.GetProperty("last").GetString()));
        Assert.Equal("You said: Stream these words back", seen.GetProperty("deltas").GetString());
        Assert.Equal("You said: Stream these words back", seen.GetProperty("text").GetString());
        Assert.Equal("end_turn", seen.GetProperty("stop").GetString());
        Assert.Equal(6, seen.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        var record = Assert.Single(await BilledOnceAsync(tenant, 1));
        Assert.Equal(6L, record.OutputTokens);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task The_Anthropic_SDK_runs_a_tool_use_and_tool_result_round_trip(string model)
    {
        var tenant = await GatewayTenants.NewAsync(_host);

        var whole = await AnthropicAsync("tools", tenant, model);
        var streamed = await AnthropicAsync("tools-stream", tenant, model);

        Succeeded(whole);
        Assert.Equal(("tool_use", "get_weather", "Paris"),
            (whole.Seen.GetProperty("firstStop").GetString(), whole.Seen.GetProperty("tool").GetString(), whole.Seen.GetProperty("input").GetProperty("city").GetString()));
        Assert.StartsWith("Tool returned:", whole.Seen.GetProperty("answer").GetString(), StringComparison.Ordinal);
        Assert.Contains("Sunny in Paris", whole.Seen.GetProperty("answer").GetString(), StringComparison.Ordinal);
        Succeeded(streamed);
        Assert.Equal(("tool_use", "get_weather", "Oslo"),
            (streamed.Seen.GetProperty("firstStop").GetString(), streamed.Seen.GetProperty("tool").GetString(), streamed.Seen.GetProperty("input").GetProperty("city").GetString()));
        Assert.Contains("Snow in Oslo", streamed.Seen.GetProperty("answer").GetString(), StringComparison.Ordinal);
        await BilledOnceAsync(tenant, 4);
    }
}

public sealed class SdkNodeTestsOnSqlite(SqliteSdkFixture fixture) : SdkNodeTests(fixture), IClassFixture<SqliteSdkFixture>;
