using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Credits.Leases;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Chat;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Gateway;

/// <summary>
/// Anthropic's Messages format at <c>/v1/messages</c>, passed through to a Claude model and translated to an OpenAI-compatible
/// one, and OpenAI's Chat Completions translated to a Claude model; plain HTTP, as a client without an SDK speaks it.
/// </summary>
public abstract class MessagesGatewayTests(ChatFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    readonly IdentityHost _host = fixture.Host;
    readonly FakeLlm _fake = fixture.Fake;

    const long Credit = 1_000_000;
    static readonly string[] ChatOnly = ["chat:use"];

    sealed record Caller(HttpClient Client, Guid OrgId, Guid KeyId, string Secret);

    async Task<Caller> CallerAsync()
    {
        var client = _host.App.CreateClient();
        var owner = await _host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Gateway " + Guid.NewGuid().ToString("N")[..6]);
        await _host.FundPoolAsync(orgId, 1000 * Credit);
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "gateway", permissions = ChatOnly }, HttpStatusCode.Created);
        return new Caller(client, orgId, key.GetProperty("key").GetProperty("id").GetGuid(), key.GetProperty("secret").GetString()!);
    }

    static HttpRequestMessage Post(Caller caller, string path, string json, string? version = "2023-06-01")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", caller.Secret);
        if (version is not null)
            request.Headers.Add("anthropic-version", version);
        return request;
    }

    static async Task<HttpResponseMessage> PostAsync(Caller caller, string path, string json) =>
        await caller.Client.SendAsync(Post(caller, path, json), HttpCompletionOption.ResponseHeadersRead, Ct);

    /// <summary>Named events, as the Anthropic SDKs read them.</summary>
    static async Task<List<Sse>> EventsAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = new List<Sse>();
        await foreach (var e in ChatStreamTests.EventsAsync(response))
            events.Add(e);
        return events;
    }

    /// <summary>OpenAI's <c>data:</c> lines, the last being <c>[DONE]</c> on a clean end.</summary>
    static async Task<List<string>> DataLinesAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync(Ct);
        return body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => Assert.Single(e.Split('\n'), l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..]).ToList();
    }

    async Task<UsageRecord> UsageAsync(Caller caller)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().AsNoTracking().IgnoreQueryFilters()
            .SingleAsync(u => u.OrganizationId == caller.OrgId, Ct);
    }

    /// <summary>Calls settle in memory against a credit lease; closing the node's leases posts them, as a quiet key's would be within seconds.</summary>
    async Task AllSettledAsync(Caller caller)
    {
        await _host.App.Services.GetRequiredService<CreditLeases>().CloseAllAsync(Ct);
        await ChatStreamTests.AssertAllSettledAsync(_host, caller.OrgId);
    }

    FakeLlmRequest Upstream(string marker) => _fake.Requests.Last(r => r.Body?.GetRawText().Contains(marker, StringComparison.Ordinal) == true);

    static string Ask(string model, string text, bool stream, int maxTokens = 200, string extra = "") =>
        $$"""{"model":"{{model}}","max_tokens":{{maxTokens}},"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{text}}"}]{{extra}}}""";

    [Fact]
    public async Task A_message_to_a_Claude_model_is_passed_through_and_charged_with_the_key()
    {
        var caller = await CallerAsync();
        var marker = Guid.NewGuid().ToString("N");

        using var response = await PostAsync(caller, "/v1/messages", Ask(ChatFixture.Claude, "hello " + marker, stream: false, maxTokens: 100));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("message", (string)message["type"]!);
        Assert.Equal("You said: hello " + marker, (string)message["content"]![0]!["text"]!);
        Assert.Equal("end_turn", (string)message["stop_reason"]!);
        var upstream = Upstream(marker);
        Assert.Equal((FakeLlmProvider.Anthropic, ChatFixture.Claude, 100), (upstream.Provider, upstream.Model, upstream.MaxTokens));
        Assert.Equal("2023-06-01", upstream.Headers["anthropic-version"]);
        var usage = await UsageAsync(caller);
        Assert.Equal((caller.KeyId, UsageStatus.Succeeded), (usage.ApiKeyId, usage.Status));
        Assert.Equal(((long)message["usage"]!["input_tokens"]!, (long)message["usage"]!["output_tokens"]!), (usage.InputTokens, usage.OutputTokens));
        Assert.True(usage.CostMicros > 0);
        await AllSettledAsync(caller);
    }

    [Fact]
    public async Task A_stream_from_a_Claude_model_arrives_event_by_event_and_ends_with_the_charged_usage()
    {
        var caller = await CallerAsync();
        var marker = Guid.NewGuid().ToString("N");
        _fake.Enqueue(FakeScript.Reply("Paris is the capital of France " + marker, chunks: 5), ChatFixture.Claude);

        using var response = await PostAsync(caller, "/v1/messages", Ask(ChatFixture.Claude, "capital? " + marker, stream: true));
        var events = await EventsAsync(response);

        Assert.Equal("message_start", events[0].Event);
        Assert.Equal(["message_delta", "message_stop"], events.TakeLast(2).Select(e => e.Event));
        var text = string.Concat(events.Where(e => e.Event == "content_block_delta").Select(e => e.Data.GetProperty("delta").GetProperty("text").GetString()));
        Assert.Equal("Paris is the capital of France " + marker, text);
        var delta = events[^2].Data;
        Assert.Equal("end_turn", delta.GetProperty("delta").GetProperty("stop_reason").GetString());
        var usage = await UsageAsync(caller);
        Assert.Equal(UsageStatus.Succeeded, usage.Status);
        Assert.Equal(usage.OutputTokens, delta.GetProperty("usage").GetProperty("output_tokens").GetInt64());
        Assert.Equal(Upstream(marker).Tokens!.Value.Output, usage.OutputTokens);
        await AllSettledAsync(caller);
    }

    [Fact]
    public async Task A_cut_stream_from_a_Claude_model_ends_in_an_error_event_and_is_charged_what_arrived()
    {
        var caller = await CallerAsync();
        var marker = Guid.NewGuid().ToString("N");
        _fake.Enqueue(FakeScript.TruncateAfter(2, FakeTruncation.EndBody, "one two three four five six " + marker), ChatFixture.Claude);

        using var response = await PostAsync(caller, "/v1/messages", Ask(ChatFixture.Claude, "count " + marker, stream: true));
        var events = await EventsAsync(response);

        Assert.Equal("error", events[^1].Event);
        Assert.Equal("api_error", events[^1].Data.GetProperty("error").GetProperty("type").GetString());
        Assert.DoesNotContain(events, e => e.Event is "message_stop" or "message_delta");
        var usage = await UsageAsync(caller);
        Assert.Equal((UsageStatus.Incomplete, 2L), (usage.Status, usage.OutputTokens));
        await AllSettledAsync(caller);
    }

    [Fact]
    public async Task A_message_to_an_OpenAI_compatible_model_is_translated_whole_and_streamed()
    {
        var caller = await CallerAsync();
        var marker = Guid.NewGuid().ToString("N");

        using var whole = await PostAsync(caller, "/v1/messages", Ask(ChatFixture.Main, "hi " + marker, stream: false,
            extra: ""","system":"Be brief.","metadata":{"user_id":"end-user-7"},"output_format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}"""));

        Assert.Equal(HttpStatusCode.OK, whole.StatusCode);
        var message = JsonNode.Parse(await whole.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal(("message", "assistant", "end_turn"), ((string)message["type"]!, (string)message["role"]!, (string)message["stop_reason"]!));
        Assert.Equal("You said: hi " + marker, (string)message["content"]![0]!["text"]!);
        var upstream = Upstream(marker);
        Assert.Equal(FakeLlmProvider.OpenAi, upstream.Provider);
        // The structured output reaches the OpenAI provider as its response_format.
        Assert.Equal("json_schema", upstream.Body!.Value.GetProperty("response_format").GetProperty("type").GetString());
        Assert.Equal("system", upstream.Body!.Value.GetProperty("messages")[0].GetProperty("role").GetString());
        Assert.Equal("end-user-7", upstream.Body!.Value.GetProperty("user").GetString());

        var streamed = Guid.NewGuid().ToString("N");
        using var response = await PostAsync(caller, "/v1/messages", Ask(ChatFixture.Main, "again " + streamed, stream: true));
        var events = await EventsAsync(response);

        Assert.Equal(["message_start", "content_block_start"], events.Take(2).Select(e => e.Event));
        Assert.Equal(["content_block_stop", "message_delta", "message_stop"], events.TakeLast(3).Select(e => e.Event));
        var text = string.Concat(events.Where(e => e.Event == "content_block_delta").Select(e => e.Data.GetProperty("delta").GetProperty("text").GetString()));
        Assert.Equal("You said: again " + streamed, text);
        Assert.Equal("end_turn", events[^2].Data.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.True(events[^2].Data.GetProperty("usage").GetProperty("input_tokens").GetInt64() > 0);
    }

    [Fact]
    public async Task A_tool_round_trip_through_messages_to_an_OpenAI_compatible_model_leaves_the_tool_to_the_client()
    {
        var caller = await CallerAsync();
        var marker = Guid.NewGuid().ToString("N");
        const string tools = ""","tools":[{"name":"get_weather","description":"The weather in a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]""";
        _fake.Enqueue(FakeScript.ToolCall("get_weather", """{"city":"Paris"}"""), ChatFixture.Main);

        using var first = await PostAsync(caller, "/v1/messages", Ask(ChatFixture.Main, "weather? " + marker, stream: true, extra: tools));
        var events = await EventsAsync(first);

        var start = events.Single(e => e.Event == "content_block_start" && e.Data.GetProperty("content_block").GetProperty("type").GetString() == "tool_use").Data;
        var toolUse = start.GetProperty("content_block");
        Assert.Equal("get_weather", toolUse.GetProperty("name").GetString());
        var input = string.Concat(events.Where(e => e.Event == "content_block_delta").Select(e => e.Data.GetProperty("delta").GetProperty("partial_json").GetString()));
        Assert.Equal("Paris", JsonDocument.Parse(input).RootElement.GetProperty("city").GetString());
        Assert.Equal("tool_use", events[^2].Data.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal("message_stop", events[^1].Event);
        // Only the client runs the tool: the provider was asked once.
        Assert.Single(_fake.Requests, r => r.Body?.GetRawText().Contains(marker, StringComparison.Ordinal) == true);

        var id = toolUse.GetProperty("id").GetString();
        var second = $$$"""
            {"model":"{{{ChatFixture.Main}}}","max_tokens":200,"messages":[
              {"role":"user","content":"weather? {{{marker}}}"},
              {"role":"assistant","content":[{"type":"tool_use","id":"{{{id}}}","name":"get_weather","input":{"city":"Paris"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"{{{id}}}","content":"Sunny in Paris"}]}]{{{tools}}}}
            """;
        using var answer = await PostAsync(caller, "/v1/messages", second);

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var message = JsonNode.Parse(await answer.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("Tool returned: Sunny in Paris", (string)message["content"]![0]!["text"]!);
        var upstream = _fake.Requests[^1].Body!.Value.GetProperty("messages");
        Assert.Equal("tool", upstream[2].GetProperty("role").GetString());
        Assert.Equal(id, upstream[2].GetProperty("tool_call_id").GetString());
    }

    [Fact]
    public async Task Chat_completions_to_a_Claude_model_are_translated_with_usage_and_a_clean_end()
    {
        var caller = await CallerAsync();
        var marker = Guid.NewGuid().ToString("N");
        _fake.Enqueue(FakeScript.Reply("Bonjour from Claude " + marker, chunks: 4), ChatFixture.Claude);

        using var response = await PostAsync(caller, "/v1/chat/completions",
            $$"""{"model":"{{ChatFixture.Claude}}","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"greet {{marker}}"}]}""");
        var data = await DataLinesAsync(response);

        Assert.Equal("[DONE]", data[^1]);
        var chunks = data.SkipLast(1).Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var text = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0)
            .Select(c => c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : ""));
        Assert.Equal("Bonjour from Claude " + marker, text);
        Assert.Contains(chunks, c => c.GetProperty("choices").GetArrayLength() > 0 && c.GetProperty("choices")[0].GetProperty("finish_reason").GetString() == "stop");
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        var record = await UsageAsync(caller);
        Assert.Equal((record.InputTokens, record.OutputTokens), (usage.GetProperty("prompt_tokens").GetInt64(), usage.GetProperty("completion_tokens").GetInt64()));
        Assert.Equal(UsageStatus.Succeeded, record.Status);
        Assert.Equal(FakeLlmProvider.Anthropic, Upstream(marker).Provider);
    }

    [Fact]
    public async Task A_cut_stream_from_a_Claude_model_through_chat_completions_ends_in_an_error_not_done()
    {
        var caller = await CallerAsync();
        var marker = Guid.NewGuid().ToString("N");
        _fake.Enqueue(FakeScript.TruncateAfter(2, FakeTruncation.Abort, "one two three four five " + marker), ChatFixture.Claude);

        using var response = await PostAsync(caller, "/v1/chat/completions",
            $$"""{"model":"{{ChatFixture.Claude}}","stream":true,"messages":[{"role":"user","content":"count {{marker}}"}]}""");
        var data = await DataLinesAsync(response);

        Assert.DoesNotContain("[DONE]", data);
        Assert.True(JsonDocument.Parse(data[^1]).RootElement.TryGetProperty("error", out _), data[^1]);
        Assert.Equal(UsageStatus.Incomplete, (await UsageAsync(caller)).Status);
        await AllSettledAsync(caller);
    }

    [Fact]
    public async Task A_bad_request_is_refused_in_Anthropics_shape_and_nothing_is_held()
    {
        var caller = await CallerAsync();

        using var response = await PostAsync(caller, "/v1/messages", $$"""{"model":"{{ChatFixture.Claude}}","max_tokens":10,"messages":[]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("error", (string)error["type"]!);
        Assert.Equal("invalid_request_error", (string)error["error"]!["type"]!);
        Assert.Contains("messages: At least one message is required.", (string)error["error"]!["message"]!, StringComparison.Ordinal);
        await using var scope = _host.App.Services.CreateAsyncScope();
        Assert.False(await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<AiHub.Credits.LedgerHold>().IgnoreQueryFilters()
            .AnyAsync(h => h.OrganizationId == caller.OrgId, Ct));
    }
}

public sealed class MessagesGatewayOnSqlite(SqliteChatFixture fixture) : MessagesGatewayTests(fixture), IClassFixture<SqliteChatFixture>;

public sealed class MessagesGatewayOnPostgres(PostgresChatFixture fixture) : MessagesGatewayTests(fixture), IClassFixture<PostgresChatFixture>;
