using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AiHub.Credits;
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
/// <c>POST /v1/chat/completions</c> with an org API key against the wire-exact fake provider: answers as the provider
/// sent them, one hold and one usage record per call, fallback before the first byte, cut and dropped streams charged for
/// what was delivered, and every refusal in OpenAI's error shape with nothing charged.
/// </summary>
public abstract class GatewayChatTests(ChatFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    const long Credit = 1_000_000;
    const string Completions = "/v1/chat/completions";
    static readonly string[] ChatOnly = ["chat:use"];

    readonly IdentityHost _host = fixture.Host;
    readonly FakeLlm _fake = fixture.Fake;
    readonly ChatFixture _fixture = fixture;

    internal sealed record KeyedOrg(HttpClient Client, Guid OrgId, Guid KeyId, string Key, Guid PoolId);

    /// <summary>An org with 1,000 credits in its pool, a plan of many questions a day, and a chat key of its Owner.</summary>
    internal static async Task<KeyedOrg> KeyedOrgAsync(IdentityHost host, object? keyOptions = null)
    {
        var client = host.App.CreateClient();
        var admin = await host.SuperAdminAsync(client);
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Gateway " + Guid.NewGuid().ToString("N")[..6]);
        var poolId = await host.FundPoolAsync(orgId, 1000 * Credit);
        await QuotaTests.OnPlanAsync(client, admin, orgId, "GATEWAY", 10_000);
        var body = keyOptions ?? new { name = "gateway", permissions = ChatOnly };
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", body, HttpStatusCode.Created);
        return new KeyedOrg(client, orgId, key.GetProperty("key").GetProperty("id").GetGuid(), key.GetProperty("secret").GetString()!, poolId);
    }

    static HttpRequestMessage Post(string key, object body) => Post(key, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));

    static HttpRequestMessage Post(string? key, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Completions) { Content = content };
        if (key is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    static object Ask(string model, string text, bool stream = false, bool includeUsage = false, int? maxTokens = null) => stream
        ? new { model, messages = new[] { new { role = "user", content = text } }, stream, stream_options = new { include_usage = includeUsage }, max_tokens = maxTokens }
        : new { model, messages = new[] { new { role = "user", content = text } }, stream, stream_options = (object?)null, max_tokens = maxTokens };

    /// <summary>The data of each event of an SSE body, in order, as an OpenAI SDK reads them.</summary>
    static async Task<List<string>> DataAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync(Ct);
        return [.. body.Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).Select(l => l["data: ".Length..])];
    }

    static string Deltas(IEnumerable<string> data) => string.Concat(data.Where(d => d.StartsWith('{')).Select(d => JsonDocument.Parse(d).RootElement)
        .Where(c => c.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
        .Select(c => c.GetProperty("choices")[0].GetProperty("delta"))
        .Select(d => d.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String ? content.GetString() : ""));

    async Task<List<UsageRecord>> UsageAsync(Guid orgId)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AsNoTracking()
            .Where(u => u.OrganizationId == orgId).ToListAsync(Ct);
    }

    async Task<List<LedgerHold>> HoldsAsync(Guid orgId)
    {
        // Calls settle in memory against a credit lease; closing the node's leases posts them, as a quiet key's would be within seconds.
        await _host.App.Services.GetRequiredService<CreditLeases>().CloseAllAsync(Ct);
        await using var scope = _host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().IgnoreQueryFilters().AsNoTracking()
            .Where(h => h.OrganizationId == orgId).ToListAsync(Ct);
    }

    async Task<long> PriceAsync(string model, long input, long output)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        var price = await scope.ServiceProvider.GetRequiredService<PriceCatalog>().ResolveAsync("mock", model, Ct);
        return PriceCatalog.Cost(input, output, price!.InputMicrosPerMillion, price.OutputMicrosPerMillion);
    }

    /// <summary>The call's one hold is posted at the cost of its one usage record, which carries the key; the ledger balances.</summary>
    async Task<UsageRecord> ChargedOnceAsync(KeyedOrg org, UsageStatus status)
    {
        var record = Assert.Single(await UsageAsync(org.OrgId));
        var hold = Assert.Single(await HoldsAsync(org.OrgId));
        Assert.Equal(status, record.Status);
        Assert.Equal(org.KeyId, record.ApiKeyId);
        Assert.Equal(hold.Id, record.ReservationId);
        Assert.Equal(HoldState.Posted, hold.State);
        Assert.Equal(record.CostMicros, hold.ActualCost);
        Assert.Equal(1000 * Credit - record.CostMicros, await _host.BalanceMicrosAsync(org.PoolId));
        Assert.Empty(await _host.VerifyLedgerAsync());
        return record;
    }

    /// <summary>A refusal: nothing held, nothing recorded, the pool untouched.</summary>
    async Task NothingChargedAsync(KeyedOrg org)
    {
        Assert.Empty(await HoldsAsync(org.OrgId));
        Assert.Empty(await UsageAsync(org.OrgId));
        Assert.Equal(1000 * Credit, await _host.BalanceMicrosAsync(org.PoolId));
    }

    static async Task<JsonElement> OpenAIErrorAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == response.StatusCode, $"{(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _) && error.TryGetProperty("code", out _), text);
        return error;
    }

    [Fact]
    public async Task A_JSON_answer_is_the_providers_and_is_charged_once_at_its_reported_usage_under_the_key()
    {
        var org = await KeyedOrgAsync(_host);
        _fake.Enqueue(FakeScript.Reply("Paris is the capital of France."), ChatFixture.Main);
        using var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "What is the capital of France?")), Ct);

        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var answer = JsonDocument.Parse(text).RootElement;
        Assert.Equal("chat.completion", answer.GetProperty("object").GetString());
        Assert.Equal("Paris is the capital of France.", answer.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        var usage = answer.GetProperty("usage");
        var record = await ChargedOnceAsync(org, UsageStatus.Succeeded);
        Assert.Equal((usage.GetProperty("prompt_tokens").GetInt64(), usage.GetProperty("completion_tokens").GetInt64()), (record.InputTokens, record.OutputTokens));
        Assert.Equal(await PriceAsync(ChatFixture.Main, record.InputTokens, record.OutputTokens), record.CostMicros);
        Assert.True(record.CostMicros > 0);
        // The output cap the hold covers goes to the provider, in the field an OpenAI-compatible server reads.
        var sent = _fake.Requests.Last(r => r.Model == ChatFixture.Main);
        Assert.Equal(("max_tokens", 4096), (sent.MaxTokensField, sent.MaxTokens));
    }

    [Fact]
    public async Task A_stream_passes_the_chunks_through_and_ends_with_the_charged_usage_and_DONE()
    {
        var org = await KeyedOrgAsync(_host);
        _fake.Enqueue(FakeScript.Reply("Rome is the capital of Italy.", chunks: 6), ChatFixture.Main);
        using var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "Capital of Italy?", stream: true, includeUsage: true)),
            HttpCompletionOption.ResponseHeadersRead, Ct);
        var data = await DataAsync(response);

        Assert.Equal("Rome is the capital of Italy.", Deltas(data));
        Assert.Equal("[DONE]", data[^1]);
        var last = JsonDocument.Parse(data[^2]).RootElement;
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(1, data.Count(d => d.Contains("\"usage\":{", StringComparison.Ordinal)));
        var record = await ChargedOnceAsync(org, UsageStatus.Succeeded);
        var usage = last.GetProperty("usage");
        Assert.Equal((record.InputTokens, record.OutputTokens), (usage.GetProperty("prompt_tokens").GetInt64(), usage.GetProperty("completion_tokens").GetInt64()));
        Assert.Equal(await PriceAsync(ChatFixture.Main, record.InputTokens, record.OutputTokens), record.CostMicros);
        Assert.Contains(data, d => d.Contains("\"finish_reason\":\"stop\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stream_without_include_usage_has_no_usage_chunk_but_is_still_charged_at_the_providers_count()
    {
        var org = await KeyedOrgAsync(_host);
        _fake.Enqueue(FakeScript.Reply("Madrid is the capital of Spain.", chunks: 4), ChatFixture.Main);
        using var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "Capital of Spain?", stream: true)),
            HttpCompletionOption.ResponseHeadersRead, Ct);
        var data = await DataAsync(response);

        Assert.Equal("[DONE]", data[^1]);
        Assert.DoesNotContain(data, d => d.Contains("\"usage\":{", StringComparison.Ordinal));
        var sent = _fake.Requests.Last(r => r.Model == ChatFixture.Main);
        Assert.True(sent.Body!.Value.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        var record = await ChargedOnceAsync(org, UsageStatus.Succeeded);
        Assert.Equal(sent.Tokens!.Value.Output, record.OutputTokens);
    }

    [Fact]
    public async Task A_model_that_fails_before_its_first_byte_falls_back_to_the_next_of_its_chain()
    {
        var org = await KeyedOrgAsync(_host);
        // Retries are two attempts: both fail, so the chain moves on.
        _fake.Enqueue(FakeScript.Status(500), ChatFixture.Chained);
        _fake.Enqueue(FakeScript.Status(500), ChatFixture.Chained);
        using var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Chained, "Who answers?", stream: true, includeUsage: true)),
            HttpCompletionOption.ResponseHeadersRead, Ct);
        var data = await DataAsync(response);

        Assert.Equal("[DONE]", data[^1]);
        Assert.Contains("Who answers?", Deltas(data), StringComparison.Ordinal);
        var record = await ChargedOnceAsync(org, UsageStatus.Succeeded);
        Assert.NotEqual(ChatFixture.Chained, record.Model);
        Assert.True(record.Model is ChatFixture.Claude or ChatFixture.Gemini, record.Model);
    }

    [Fact]
    public async Task When_no_model_of_the_chain_answers_the_client_gets_502_with_the_reason_and_nothing_is_charged()
    {
        var org = await KeyedOrgAsync(_host);
        _fake.Enqueue(FakeScript.Status(500), ChatFixture.Main);
        _fake.Enqueue(FakeScript.Status(500), ChatFixture.Main);
        using var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "Anyone?", stream: true)), Ct);

        var error = await OpenAIErrorAsync(response, HttpStatusCode.BadGateway);
        Assert.Equal("api_error", error.GetProperty("type").GetString());
        Assert.Contains("500", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        // The call's credit lease took nothing: it closes at no charge, whether voided or posted at zero.
        var hold = Assert.Single(await HoldsAsync(org.OrgId));
        Assert.NotEqual(HoldState.Pending, hold.State);
        Assert.Equal(0, hold.ActualCost ?? 0);
        Assert.Equal(0, Assert.Single(await UsageAsync(org.OrgId)).CostMicros);
        Assert.Equal(1000 * Credit, await _host.BalanceMicrosAsync(org.PoolId));
    }

    [Fact]
    public async Task A_stream_cut_by_the_provider_ends_with_an_error_event_not_DONE_and_is_charged_only_what_was_delivered()
    {
        var org = await KeyedOrgAsync(_host);
        _fake.Enqueue(FakeScript.TruncateAfter(3, FakeTruncation.EndBody) with { Text = "one two three four five six seven eight" }, ChatFixture.Main);
        using var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "Count", stream: true, includeUsage: true)),
            HttpCompletionOption.ResponseHeadersRead, Ct);
        var data = await DataAsync(response);

        Assert.DoesNotContain("[DONE]", data);
        var error = JsonDocument.Parse(data[^1]).RootElement.GetProperty("error");
        Assert.Contains("cut short", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        var delivered = Deltas(data);
        Assert.Equal("one two three", delivered.Trim());
        var record = await ChargedOnceAsync(org, UsageStatus.Incomplete);
        var counter = _host.App.Services.GetRequiredService<AiHub.Chat.Tokens.TokenCounter>();
        Assert.Equal(counter.Count(ChatFixture.Main, delivered), record.OutputTokens);
        Assert.Equal(await PriceAsync(ChatFixture.Main, record.InputTokens, record.OutputTokens), record.CostMicros);
    }

    [Fact]
    public async Task A_client_that_drops_the_stream_cancels_the_provider_call_and_pays_only_for_what_it_received()
    {
        // Timeouts of minutes on this host: only the client's leaving can stop the stalled provider.
        var host = await _fixture.ClockedHostAsync();
        var org = await KeyedOrgAsync(host);
        var before = _fake.Requests.Count;
        _fake.Enqueue(FakeScript.StallAfter(2) with { Text = "alpha beta gamma delta" }, ChatFixture.Main);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "Stall", stream: true)), HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        var received = new StringBuilder();
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            received.AppendLine(line);
            if (received.ToString().Contains("beta", StringComparison.Ordinal))
                break;
        }
        await cancel.CancelAsync();
        response.Dispose();

        var upstream = (await _fake.WaitForRequestsAsync(before + 1)).Last(r => r.Model == ChatFixture.Main);
        Assert.Equal(FakeLlmOutcome.ClientDisconnected, await upstream.Outcome.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        var record = await WaitForUsageAsync(host, org.OrgId);
        Assert.Equal(UsageStatus.Cancelled, record.Status);
        Assert.Equal(org.KeyId, record.ApiKeyId);
        Assert.Equal(2, record.OutputTokens);
        Assert.Equal(await PriceAsync(ChatFixture.Main, record.InputTokens, 2), record.CostMicros);
        await host.App.Services.GetRequiredService<CreditLeases>().CloseAllAsync(Ct);
        Assert.Equal(1000 * Credit - record.CostMicros, await host.BalanceMicrosAsync(org.PoolId));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    static async Task<UsageRecord> WaitForUsageAsync(IdentityHost host, Guid orgId)
    {
        for (var i = 0; i < 100; i++)
        {
            await using var scope = host.App.Services.CreateAsyncScope();
            var records = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AsNoTracking()
                .Where(u => u.OrganizationId == orgId).ToListAsync(Ct);
            if (records.SingleOrDefault() is { } record)
                return record;
            await Task.Delay(100, Ct);
        }
        throw new TimeoutException("No usage was recorded.");
    }

    public static TheoryData<string, string, HttpStatusCode, string?> BadBodies => new()
    {
        { "malformed JSON", "{\"model\": \"gpt-4o-mini\", \"messages\": [", HttpStatusCode.BadRequest, null },
        { "not an object", "[1, 2]", HttpStatusCode.BadRequest, null },
        { "temperature as a string", """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", HttpStatusCode.BadRequest, "temperature" },
        { "temperature out of range", """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"temperature":3}""", HttpStatusCode.BadRequest, "temperature" },
        { "n above 1", """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"n":2}""", HttpStatusCode.BadRequest, "n" },
        { "empty messages", """{"model":"gpt-4o-mini","messages":[]}""", HttpStatusCode.BadRequest, "messages" },
        { "no model", """{"messages":[{"role":"user","content":"hi"}]}""", HttpStatusCode.BadRequest, "model" },
        { "model as a number", """{"model":4,"messages":[{"role":"user","content":"hi"}]}""", HttpStatusCode.BadRequest, "model" },
        { "unknown role", """{"model":"gpt-4o-mini","messages":[{"role":"robot","content":"hi"}]}""", HttpStatusCode.BadRequest, "messages[0].role" },
        { "max_tokens of zero", """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", HttpStatusCode.BadRequest, "max_tokens" },
        { "five stop sequences", """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}""", HttpStatusCode.BadRequest, "stop" },
        { "stream as a string", """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", HttpStatusCode.BadRequest, "stream" },
        { "tool message without its call", """{"model":"gpt-4o-mini","messages":[{"role":"tool","content":"42"}]}""", HttpStatusCode.BadRequest, "messages[0].tool_call_id" },
        { "unknown response format", """{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"xml"}}""", HttpStatusCode.BadRequest, "response_format.type" },
        { "unknown model", """{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}""", HttpStatusCode.NotFound, null },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task A_bad_request_gets_its_status_in_OpenAIs_error_shape_and_charges_nothing(string what, string body, HttpStatusCode status, string? param)
    {
        var org = await KeyedOrgAsync(_host);
        var before = _fake.Requests.Count;
        using var response = await org.Client.SendAsync(Post(org.Key, new StringContent(body, Encoding.UTF8, "application/json")), Ct);

        var error = await OpenAIErrorAsync(response, status);
        Assert.True(status != HttpStatusCode.BadRequest || error.GetProperty("type").GetString() == "invalid_request_error", what);
        if (param is not null)
            Assert.Equal(param, error.GetProperty("param").GetString());
        if (what == "n above 1")
            Assert.Contains("n>1 is not supported", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, _fake.Requests.Count);
        await NothingChargedAsync(org);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_refused_with_413_and_charges_nothing()
    {
        var org = await KeyedOrgAsync(_host);
        var huge = JsonSerializer.Serialize(new { model = ChatFixture.Main, messages = new[] { new { role = "user", content = new string('x', 10 * 1024 * 1024) } } });
        using var request = Post(org.Key, new StringContent(huge, Encoding.UTF8, "application/json"));
        // As a careful client does: the refusal comes before the body is sent.
        request.Headers.ExpectContinue = true;
        using var response = await org.Client.SendAsync(request, Ct);

        var error = await OpenAIErrorAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal("request_too_large", error.GetProperty("code").GetString());
        await NothingChargedAsync(org);
    }

    [Fact]
    public async Task A_missing_unknown_or_revoked_key_gets_401_in_OpenAIs_shape()
    {
        var org = await KeyedOrgAsync(_host);
        var ask = Ask(ChatFixture.Main, "hi");
        using var none = await org.Client.SendAsync(Post(null, JsonContent.Create(ask)), Ct);
        using var unknown = await org.Client.SendAsync(Post("ahk_abcdefgh_" + new string('A', 43), JsonContent.Create(ask)), Ct);

        Assert.Equal("authentication_error", (await OpenAIErrorAsync(none, HttpStatusCode.Unauthorized)).GetProperty("type").GetString());
        var error = await OpenAIErrorAsync(unknown, HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
        Assert.Contains("unknown", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        await NothingChargedAsync(org);
    }

    [Fact]
    public async Task An_unknown_path_under_v1_is_a_404_in_OpenAIs_shape()
    {
        var org = await KeyedOrgAsync(_host);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/no-such-thing") { Content = JsonContent.Create(new { }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", org.Key);
        using var response = await org.Client.SendAsync(request, Ct);

        await OpenAIErrorAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_key_over_its_monthly_budget_gets_429_insufficient_quota_with_Retry_After_and_charges_nothing()
    {
        var org = await KeyedOrgAsync(_host, new { name = "budgeted", permissions = ChatOnly, monthlyBudgetCredits = 1 });
        var before = _fake.Requests.Count;
        // 100,000 output tokens of the model cost more than the key's one credit a month.
        using var response = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "hi", maxTokens: 100_000)), Ct);

        var error = await OpenAIErrorAsync(response, HttpStatusCode.TooManyRequests);
        Assert.Equal(("insufficient_quota", "insufficient_quota"), (error.GetProperty("type").GetString(), error.GetProperty("code").GetString()));
        var wait = response.Headers.RetryAfter?.Delta;
        Assert.NotNull(wait);
        Assert.True(wait > TimeSpan.Zero && wait <= TimeSpan.FromDays(31), $"Retry-After {wait}");
        Assert.Equal(before, _fake.Requests.Count);
        await NothingChargedAsync(org);
    }

    [Fact]
    public async Task A_key_over_its_rate_limit_gets_429_in_OpenAIs_shape_with_Retry_After()
    {
        var org = await KeyedOrgAsync(_host, new { name = "limited", permissions = ChatOnly, rateLimitPerMinute = 1 });
        using var first = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "one")), Ct);
        using var second = await org.Client.SendAsync(Post(org.Key, Ask(ChatFixture.Main, "two")), Ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var error = await OpenAIErrorAsync(second, HttpStatusCode.TooManyRequests);
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.NotNull(second.Headers.RetryAfter);
        await ChargedOnceAsync(org, UsageStatus.Succeeded);
    }
}

public sealed class GatewayChatOnSqlite(SqliteChatFixture fixture) : GatewayChatTests(fixture), IClassFixture<SqliteChatFixture>;

public sealed class GatewayChatOnPostgres(PostgresChatFixture fixture) : GatewayChatTests(fixture), IClassFixture<PostgresChatFixture>;
