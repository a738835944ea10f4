using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AiHub.Chat.Conversations;
using AiHub.Chat.Tokens;
using AiHub.Credits;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Chat;

/// <summary>An AiHub on Kestrel whose providers are the wire-exact fake: OpenAI-compatible, Anthropic and Gemini.</summary>
public abstract class ChatFixture(string provider) : IAsyncLifetime
{
    public FakeLlm Fake { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public const string Main = "gpt-4o-mini";
    public const string Chained = "gpt-4.1";
    public const string Claude = "claude-sonnet-4-20250514";
    public const string Gemini = "gemini-2.5-flash";

    public FakeSearch Search { get; private set; } = null!;

    /// <summary>The clock of <see cref="ClockedHostAsync"/>: it moves only when a test moves it.</summary>
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    readonly SemaphoreSlim _clockedStart = new(1, 1);
    IdentityHost? _clocked;

    /// <summary>
    /// A second host over the same fakes whose clock is <see cref="Clock"/>, with timeouts of minutes: a test moves the
    /// clock past them instead of waiting.
    /// </summary>
    public async Task<IdentityHost> ClockedHostAsync()
    {
        await _clockedStart.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            return _clocked ??= await StartHostAsync(new Dictionary<string, string?>
            {
                ["Chat:Timeouts:FirstToken"] = "00:05:00",
                ["Chat:Timeouts:Idle"] = "00:05:00",
            }, services => services.AddSingleton<TimeProvider>(Clock));
        }
        finally
        {
            _clockedStart.Release();
        }
    }

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        Search = await FakeSearch.StartAsync();
        Host = await StartHostAsync(new Dictionary<string, string?>());
    }

    /// <summary>An AiHub on Kestrel over these fakes, with a database of its own and <paramref name="extra"/> settings on top.</summary>
    public async Task<IdentityHost> StartHostAsync(IReadOnlyDictionary<string, string?> extra, Action<IServiceCollection>? services = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Providers:0:Name"] = "mock",
            ["Providers:0:Kind"] = "OpenAICompatible",
            ["Providers:0:BaseUrl"] = Fake.OpenAiEndpoint.AbsoluteUri,
            ["Providers:0:ApiKey"] = "test-key",
            ["Providers:0:Models:0"] = Main,
            ["Providers:0:Models:1"] = Chained,
            ["Providers:1:Name"] = "claude",
            ["Providers:1:Kind"] = "Anthropic",
            ["Providers:1:BaseUrl"] = Fake.AnthropicBaseUrl,
            ["Providers:1:ApiKey"] = "test-key",
            ["Providers:1:Models:0"] = Claude,
            ["Providers:2:Name"] = "gemini",
            ["Providers:2:Kind"] = "Gemini",
            ["Providers:2:BaseUrl"] = Fake.GeminiEndpoint.AbsoluteUri,
            ["Providers:2:ApiKey"] = "test-key",
            ["Providers:2:Models:0"] = Gemini,
            ["Chat:Fallbacks:" + Chained] = $"{Claude},{Gemini}",
            ["Chat:CheapModel"] = "gemini/" + Gemini,
            ["Chat:Timeouts:FirstToken"] = "00:00:02",
            ["Chat:Timeouts:Idle"] = "00:00:01",
            ["Chat:Retry:MaxAttempts"] = "2",
            ["Chat:Retry:BaseDelay"] = "00:00:00.050",
            // Tests script failures on purpose; the breaker has tests of its own.
            ["Chat:CircuitBreaker:MinimumThroughput"] = "1000",
            ["Chat:WebSocket:PingInterval"] = "00:00:01",
            ["WebSearch:Provider"] = "SearXNG",
            ["WebSearch:BaseUrl"] = Search.SearxngUrl,
        };
        foreach (var (key, value) in extra)
            settings[key] = value;
        var host = await IdentityHost.StartAsync(provider, settings, services);
        host.App.UseKestrel(0);
        host.App.StartServer();
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        if (_clocked is not null)
            await _clocked.DisposeAsync();
        _clockedStart.Dispose();
        await Host.DisposeAsync();
        await Search.DisposeAsync();
        await Fake.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteChatFixture() : ChatFixture("Sqlite");

public sealed class PostgresChatFixture() : ChatFixture("Postgres");

/// <summary>One server-sent event as a client reads it.</summary>
public sealed record Sse(string Event, JsonElement Data);

/// <summary>
/// The chat engine end to end through the real SDKs: streamed answers, retries, fallbacks, cut and stalled streams,
/// cancels; after each, the hold is settled or released and the ledger balances.
/// </summary>
public abstract class ChatStreamTests(ChatFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    readonly IdentityHost _host = fixture.Host;
    readonly FakeLlm _fake = fixture.Fake;
    readonly ChatFixture _fixture = fixture;

    internal sealed record Space(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId, Guid ConversationId)
    {
        public string Messages => $"/api/orgs/{OrgId}/workspaces/{WorkspaceId}/conversations/{ConversationId}/messages";
    }

    internal static async Task<Space> SpaceAsync(IdentityHost host)
    {
        // The host runs on Kestrel over plain HTTP, so the client takes its address as it is.
        var client = host.App.CreateClient();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var workspaceId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Chat" });
        var conversation = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces/{workspaceId}/conversations", new { }, HttpStatusCode.Created);
        return new Space(client, owner, orgId, workspaceId, conversation.GetProperty("id").GetGuid());
    }

    static HttpRequestMessage Post(Space space, string path, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", space.Owner.AccessToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return request;
    }

    internal static async IAsyncEnumerable<Sse> EventsAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Ct));
        string? name = null;
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(Ct) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
                name = line["event: ".Length..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
                data.Append(line["data: ".Length..]);
            else if (line.Length == 0 && name is not null)
            {
                yield return new Sse(name, JsonDocument.Parse(data.ToString()).RootElement.Clone());
                (name, data) = (null, new StringBuilder());
            }
        }
    }

    static async Task<List<Sse>> ChatAsync(Space space, object body)
    {
        using var response = await space.Client.SendAsync(Post(space, space.Messages, body), HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new List<Sse>();
        await foreach (var e in EventsAsync(response))
            events.Add(e);
        return events;
    }

    static JsonElement Done(List<Sse> events)
    {
        Assert.Equal("done", events[^1].Event);
        return events[^1].Data;
    }

    static string Text(List<Sse> events) => string.Concat(events.Where(e => e.Event == "delta").Select(e => e.Data.GetProperty("text").GetString()));

    async Task<StoredMessage> AnswerAsync(Space space, List<Sse> events)
    {
        var answerId = events.First(e => e.Event == "message").Data.GetProperty("answerId").GetGuid();
        await using var scope = _host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<StoredMessage>().AsNoTracking().SingleAsync(m => m.Id == answerId, Ct);
    }

    async Task<UsageRecord> UsageOfAsync(Guid orgId, string model)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().AsNoTracking()
            .SingleAsync(u => u.OrganizationId == orgId && u.Model == model, Ct);
    }

    /// <summary>Every hold of the org is closed, none is left open, and every account's balance is the sum of its entries.</summary>
    internal static async Task AssertAllSettledAsync(IdentityHost host, Guid orgId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var holds = await db.Set<LedgerHold>().AsNoTracking().Where(h => h.OrganizationId == orgId).ToListAsync(Ct);
        Assert.NotEmpty(holds);
        Assert.All(holds, h => Assert.NotEqual(HoldState.Pending, h.State));
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    async Task<long> PriceAsync(string model, long input, long output)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        var price = await scope.ServiceProvider.GetRequiredService<PriceCatalog>().ResolveAsync("mock", model, Ct);
        return PriceCatalog.Cost(input, output, price!.InputMicrosPerMillion, price.OutputMicrosPerMillion);
    }

    [Fact]
    public async Task An_answer_streams_in_order_is_stored_titled_and_charged_what_the_provider_reported()
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.Reply("Paris is the capital of France.", chunks: 6), ChatFixture.Main);
        var events = await ChatAsync(space, new { content = "What is the capital of France?", model = ChatFixture.Main });

        Assert.Equal("message", events[0].Event);
        var deltas = events.Where(e => e.Event == "delta").ToList();
        Assert.True(deltas.Count >= 3, "the answer arrives in several deltas");
        Assert.Equal("Paris is the capital of France.", Text(events).Trim());
        var order = events.Select(e => e.Event).Distinct().ToList();
        Assert.True(order.IndexOf("delta") < order.IndexOf("usage") && order.IndexOf("usage") < order.IndexOf("done"), string.Join(",", order));
        var done = Done(events);
        Assert.Equal("complete", done.GetProperty("status").GetString());
        Assert.Equal("stop", done.GetProperty("finishReason").GetString());
        Assert.Equal(2, done.GetProperty("remaining").GetProperty("remaining").GetInt64());

        var usage = events.Single(e => e.Event == "usage").Data;
        Assert.True(usage.GetProperty("reported").GetBoolean());
        var answer = await AnswerAsync(space, events);
        Assert.Equal(MessageStatus.Complete, answer.Status);
        Assert.Equal("Paris is the capital of France.", answer.Content.Trim());
        Assert.Equal(usage.GetProperty("inputTokens").GetInt64(), answer.InputTokens);
        var record = await UsageOfAsync(space.OrgId, ChatFixture.Main);
        Assert.Equal(await PriceAsync(ChatFixture.Main, record.InputTokens, record.OutputTokens), record.CostMicros);
        Assert.Equal(record.CostMicros, done.GetProperty("costMicros").GetInt64());
        Assert.Contains(events, e => e.Event == "title");
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task The_credit_history_has_one_line_per_call_with_its_model_and_the_conversation_named_for_its_owner_only()
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.Reply("Rome is the capital of Italy.", chunks: 3), ChatFixture.Main);
        await ChatAsync(space, new { content = "What is the capital of Italy?", model = ChatFixture.Main });
        var owner = UserIdOf(space.Owner);

        var history = await SendAsync(space.Client, space.Owner, HttpMethod.Get, "/api/credits/history");
        var items = history.GetProperty("items").EnumerateArray().ToList();
        Assert.DoesNotContain(items, i => i.GetProperty("amountMicros").GetInt64() == 0);
        var calls = items.Where(i => i.GetProperty("kind").GetString() == "usage").ToList();
        int posted;
        await using (var scope = _host.App.Services.CreateAsyncScope())
            posted = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().AsNoTracking()
                .CountAsync(h => h.OrganizationId == space.OrgId && h.State == HoldState.Posted && h.ActualCost > 0, Ct);
        Assert.Equal(posted, calls.Count);
        Assert.All(calls, c => Assert.Equal(JsonValueKind.Object, c.GetProperty("call").ValueKind));

        var answer = Assert.Single(calls, c => c.GetProperty("call").GetProperty("what").GetString() == "Chat").GetProperty("call");
        Assert.Equal(ChatFixture.Main, answer.GetProperty("model").GetString());
        Assert.Equal($"/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}/chat/{space.ConversationId}", answer.GetProperty("url").GetString());
        var conversation = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}/conversations/{space.ConversationId}");
        Assert.Equal(conversation.GetProperty("title").GetString(), answer.GetProperty("title").GetString());
        var title = Assert.Single(calls, c => c.GetProperty("call").GetProperty("what").GetString() == "Chat title").GetProperty("call");
        Assert.Equal(ChatFixture.Gemini, title.GetProperty("model").GetString());

        // Someone else reading the same account (an org's pool is read by its managers) sees the model but not the conversation.
        await using (var scope = _host.App.Services.CreateAsyncScope())
        {
            var page = await scope.ServiceProvider.GetRequiredService<CreditAccounts>().HistoryAsync(owner, Guid.NewGuid(), null, 50, Ct);
            var call = Assert.Single(page.Items, i => i.Call?.What == "Chat").Call!;
            Assert.Equal(ChatFixture.Main, call.Model);
            Assert.Null(call.Title);
            Assert.Null(call.Url);
        }
    }

    [Fact]
    public async Task A_429_is_retried_after_the_time_its_Retry_After_asks()
    {
        var space = await SpaceAsync(_host);
        var before = _fake.Requests.Count(r => r.Model == ChatFixture.Main);
        _fake.Enqueue(FakeScript.Status(429, TimeSpan.FromSeconds(1)), ChatFixture.Main);
        var watch = Stopwatch.StartNew();
        var events = await ChatAsync(space, new { content = "Hello", model = ChatFixture.Main });

        Assert.Equal("complete", Done(events).GetProperty("status").GetString());
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"answered after {watch.Elapsed}");
        Assert.Equal(before + 2, _fake.Requests.Count(r => r.Model == ChatFixture.Main));
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task A_model_that_fails_before_its_first_token_falls_back_and_the_model_that_answered_is_charged()
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.Status(500), ChatFixture.Chained);
        _fake.Enqueue(FakeScript.Status(500), ChatFixture.Chained);
        var events = await ChatAsync(space, new { content = "Who answers?", model = ChatFixture.Chained });

        var done = Done(events);
        Assert.Equal("complete", done.GetProperty("status").GetString());
        Assert.Equal(ChatFixture.Claude, done.GetProperty("model").GetString());
        Assert.Equal("claude", done.GetProperty("provider").GetString());
        Assert.DoesNotContain(events, e => e.Event == "error");
        var record = await UsageOfAsync(space.OrgId, ChatFixture.Claude);
        Assert.Equal("claude", record.Provider);
        Assert.True(record.CostMicros > 0);
        Assert.Equal(record.CostMicros, done.GetProperty("costMicros").GetInt64());
        Assert.Equal(ChatFixture.Claude, (await AnswerAsync(space, events)).Model);
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Theory]
    [InlineData(FakeTruncation.EndBody)]
    [InlineData(FakeTruncation.Abort)]
    public async Task A_cut_stream_ends_incomplete_with_an_error_and_is_charged_only_what_was_delivered(FakeTruncation how)
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.TruncateAfter(4, how, "one two three four five six seven eight"), ChatFixture.Main);
        var events = await ChatAsync(space, new { content = "Count", model = ChatFixture.Main });

        var error = events.Single(e => e.Event == "error").Data;
        Assert.Equal("urn:aihub:problem:stream-incomplete", error.GetProperty("type").GetString());
        var done = Done(events);
        Assert.Equal("incomplete", done.GetProperty("status").GetString());
        var delivered = Text(events);
        Assert.NotEmpty(delivered);
        var answer = await AnswerAsync(space, events);
        Assert.Equal(MessageStatus.Incomplete, answer.Status);
        Assert.Equal(delivered, answer.Content);
        var tokens = _host.App.Services.GetRequiredService<TokenCounter>();
        var usage = events.Single(e => e.Event == "usage").Data;
        Assert.Equal(tokens.Count(ChatFixture.Main, delivered), usage.GetProperty("outputTokens").GetInt64());
        var record = await UsageOfAsync(space.OrgId, ChatFixture.Main);
        Assert.Equal(UsageStatus.Incomplete, record.Status);
        Assert.Equal(await PriceAsync(ChatFixture.Main, record.InputTokens, tokens.Count(ChatFixture.Main, delivered)), record.CostMicros);
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task A_stream_cut_before_its_first_token_falls_back_instead()
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.TruncateAfter(0), ChatFixture.Chained);
        var events = await ChatAsync(space, new { content = "Anyone?", model = ChatFixture.Chained });
        var done = Done(events);
        Assert.Equal("complete", done.GetProperty("status").GetString());
        Assert.Equal(ChatFixture.Claude, done.GetProperty("model").GetString());
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task A_stall_mid_answer_ends_it_incomplete_after_the_idle_timeout()
    {
        var host = await _fixture.ClockedHostAsync();
        var space = await SpaceAsync(host);
        _fake.Enqueue(FakeScript.StallAfter(3, "alpha beta gamma delta epsilon"), ChatFixture.Main);
        var watch = Stopwatch.StartNew();

        using var response = await space.Client.SendAsync(Post(space, space.Messages, new { content = "Stall", model = ChatFixture.Main }), HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new List<Sse>();
        await foreach (var e in EventsAsync(response))
        {
            events.Add(e);
            // The third piece is the last before the model goes quiet: five minutes pass on the host's clock, not on the wall's.
            if (e.Event == "delta" && events.Count(x => x.Event == "delta") == 3)
                _fixture.Clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        }

        Assert.Equal("incomplete", Done(events).GetProperty("status").GetString());
        Assert.Contains("sent nothing for 300 s", events.Single(e => e.Event == "error").Data.GetProperty("detail").GetString());
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60));
        await AssertAllSettledAsync(host, space.OrgId);
    }

    [Fact]
    public async Task A_slow_first_token_falls_back_after_the_first_token_timeout()
    {
        var host = await _fixture.ClockedHostAsync();
        var space = await SpaceAsync(host);
        var asked = _fake.Requests.Count(r => r.Model == ChatFixture.Chained);
        _fake.Enqueue(FakeScript.SlowFirstToken(TimeSpan.FromHours(1)), ChatFixture.Chained);

        var chat = ChatAsync(space, new { content = "Slow", model = ChatFixture.Chained });
        while (_fake.Requests.Count(r => r.Model == ChatFixture.Chained) == asked)
            await Task.Delay(20, Ct);
        // The model was asked and waits an hour before its first token: the host's clock passes the five-minute timeout.
        _fixture.Clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        var events = await chat.WaitAsync(TimeSpan.FromSeconds(60), Ct);

        var done = Done(events);
        Assert.Equal("complete", done.GetProperty("status").GetString());
        Assert.Equal(ChatFixture.Claude, done.GetProperty("model").GetString());
        await AssertAllSettledAsync(host, space.OrgId);
    }

    [Fact]
    public async Task Cancel_stops_the_provider_call_keeps_the_partial_answer_and_charges_what_was_delivered()
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.Reply(string.Join(' ', Enumerable.Range(1, 40).Select(i => $"word{i}")), chunks: 40, delayPerChunk: TimeSpan.FromMilliseconds(100)), ChatFixture.Main);
        using var response = await space.Client.SendAsync(Post(space, space.Messages, new { content = "Talk", model = ChatFixture.Main }), HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new List<Sse>();
        await foreach (var e in EventsAsync(response))
        {
            events.Add(e);
            if (events.Count(x => x.Event == "delta") == 3)
            {
                var answerId = events.First().Data.GetProperty("answerId").GetGuid();
                await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"{space.Messages}/{answerId}/cancel", new { }, HttpStatusCode.Accepted);
            }
        }
        Assert.Equal("cancelled", Done(events).GetProperty("status").GetString());
        var request = _fake.Requests.Last(r => r.Model == ChatFixture.Main);
        Assert.Equal(FakeLlmOutcome.ClientDisconnected, await request.Outcome.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        var answer = await AnswerAsync(space, events);
        Assert.Equal(MessageStatus.Cancelled, answer.Status);
        Assert.Equal(Text(events), answer.Content);
        Assert.StartsWith("word1", answer.Content.Trim());
        Assert.DoesNotContain("word40", answer.Content);
        var record = await UsageOfAsync(space.OrgId, ChatFixture.Main);
        Assert.Equal(UsageStatus.Cancelled, record.Status);
        Assert.Equal(_host.App.Services.GetRequiredService<TokenCounter>().Count(ChatFixture.Main, answer.Content), record.OutputTokens);
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task A_client_that_goes_away_stops_the_answer_and_its_hold_is_still_settled()
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.Reply(string.Join(' ', Enumerable.Range(1, 40).Select(i => $"w{i}")), chunks: 40, delayPerChunk: TimeSpan.FromMilliseconds(100)), ChatFixture.Main);
        Guid answerId;
        // A client that leaves closes its connection; the default handler would first read on for up to 2 s to reuse it.
        using var leaving = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = space.Client.BaseAddress };
        using (var response = await leaving.SendAsync(Post(space, space.Messages, new { content = "Talk", model = ChatFixture.Main }), HttpCompletionOption.ResponseHeadersRead, Ct))
        {
            var seen = 0;
            answerId = Guid.Empty;
            await foreach (var e in EventsAsync(response))
            {
                if (e.Event == "message")
                    answerId = e.Data.GetProperty("answerId").GetGuid();
                if (e.Event == "delta" && ++seen == 2)
                    break;
            }
        }
        var request = _fake.Requests.Last(r => r.Model == ChatFixture.Main);
        Assert.Equal(FakeLlmOutcome.ClientDisconnected, await request.Outcome.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        await using var scope = _host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        StoredMessage answer;
        while ((answer = await db.Set<StoredMessage>().AsNoTracking().SingleAsync(m => m.Id == answerId, Ct)).Status == MessageStatus.Streaming && DateTime.UtcNow < deadline)
            await Task.Delay(100, Ct);
        Assert.Equal(MessageStatus.Cancelled, answer.Status);
        Assert.StartsWith("w1", answer.Content.Trim());
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task Editing_a_question_branches_and_the_model_sees_only_the_path()
    {
        var space = await SpaceAsync(_host);
        var first = await ChatAsync(space, new { content = "First question", model = ChatFixture.Main });
        var questionId = first[0].Data.GetProperty("questionId").GetGuid();
        Assert.Equal(first[0].Data.GetProperty("answerId").GetGuid(), (await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Messages)).GetProperty("leafId").GetGuid());
        var edited = await ChatAsync(space, new { content = "Edited question", editOf = questionId, model = ChatFixture.Main });
        Assert.Equal("complete", Done(edited).GetProperty("status").GetString());
        var sent = _fake.Requests.Last(r => r.Model == ChatFixture.Main).Body!.Value.GetProperty("messages");
        var texts = sent.EnumerateArray().Select(m => m.GetProperty("content").ToString()).ToList();
        Assert.Contains(texts, t => t.Contains("Edited question"));
        Assert.DoesNotContain(texts, t => t.Contains("First question"));

        var path = await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Messages);
        Assert.Equal(2, path.GetProperty("messages").GetArrayLength());
        var question = path.GetProperty("messages")[0];
        Assert.Equal(2, question.GetProperty("siblingIds").GetArrayLength());
        Assert.Equal(1, question.GetProperty("siblingIndex").GetInt32());
    }

    [Fact]
    public async Task A_tool_call_is_run_shown_in_the_stream_stored_with_the_answer_and_both_rounds_are_charged()
    {
        var space = await SpaceAsync(_host);
        var before = _fake.Requests.Count;
        _fake.Enqueue(FakeScript.ToolCall("web_search", """{"query":"capital of France"}"""), ChatFixture.Main);
        var events = await ChatAsync(space, new { content = "Look up the capital of France", model = ChatFixture.Main });

        var call = events.Single(e => e.Event == "tool_call").Data;
        var result = events.Single(e => e.Event == "tool_result").Data;
        Assert.Equal("web_search", call.GetProperty("name").GetString());
        Assert.Equal("capital of France", JsonDocument.Parse(call.GetProperty("arguments").GetString()!).RootElement.GetProperty("query").GetString());
        Assert.Equal(call.GetProperty("callId").GetString(), result.GetProperty("callId").GetString());
        Assert.Contains("capital of France – result 1", result.GetProperty("result").GetString());
        var order = events.Select(e => e.Event).ToList();
        Assert.True(order.IndexOf("tool_call") < order.IndexOf("tool_result") && order.IndexOf("tool_result") < order.IndexOf("delta"), string.Join(",", order));
        Assert.StartsWith("Tool returned:", Text(events).Trim());
        Assert.Contains("https://example.com/capital%20of%20France/1", Text(events));
        Assert.Equal("complete", Done(events).GetProperty("status").GetString());

        // The model asked once, then read the result: two requests, and the second carries the tool's answer.
        var rounds = _fake.Requests.Skip(before).Where(r => r.Model == ChatFixture.Main).ToList();
        Assert.Equal(2, rounds.Count);
        var toolMessage = rounds[1].Body!.Value.GetProperty("messages").EnumerateArray().Single(m => m.GetProperty("role").GetString() == "tool");
        Assert.Equal(call.GetProperty("callId").GetString(), toolMessage.GetProperty("tool_call_id").GetString());

        var stored = await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Messages);
        var shown = stored.GetProperty("messages").EnumerateArray().Last().GetProperty("toolCalls").EnumerateArray().Single();
        Assert.Equal("web_search", shown.GetProperty("name").GetString());
        Assert.Equal(call.GetProperty("arguments").GetString(), shown.GetProperty("arguments").GetString());
        Assert.Equal(result.GetProperty("result").GetString(), shown.GetProperty("result").GetString());

        var record = await UsageOfAsync(space.OrgId, ChatFixture.Main);
        Assert.Equal(rounds.Sum(r => r.Tokens!.Value.Input), record.InputTokens);
        Assert.Equal(rounds.Sum(r => r.Tokens!.Value.Output), record.OutputTokens);
        Assert.Equal(await PriceAsync(ChatFixture.Main, record.InputTokens, record.OutputTokens), record.CostMicros);
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task With_follow_ups_turned_on_three_questions_follow_the_answer_from_the_cheap_model_and_are_charged()
    {
        await using var host = await _fixture.StartHostAsync(new Dictionary<string, string?> { ["Chat:FollowUps"] = "true" });
        var space = await SpaceAsync(host);
        _fake.Enqueue(FakeScript.Reply("Capital of France"), ChatFixture.Gemini);
        _fake.Enqueue(FakeScript.Reply("1. How big is Paris?\n2. What about Lyon?\n- Who built the Eiffel Tower?\nA fourth one"), ChatFixture.Gemini);
        var events = await ChatAsync(space, new { content = "What is the capital of France?", model = ChatFixture.Main });

        var followUps = events.Single(e => e.Event == "follow_ups").Data.GetProperty("questions").EnumerateArray().Select(q => q.GetString()).ToList();
        Assert.Equal(["How big is Paris?", "What about Lyon?", "Who built the Eiffel Tower?"], followUps);
        Assert.Equal("Capital of France", events.Single(e => e.Event == "title").Data.GetProperty("title").GetString());
        Assert.Equal("complete", Done(events).GetProperty("status").GetString());
        Assert.Equal("done", events[^1].Event);

        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var sideCalls = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().AsNoTracking()
                .Where(u => u.OrganizationId == space.OrgId && u.Model == ChatFixture.Gemini).ToListAsync(Ct);
            Assert.Equal(2, sideCalls.Count);
            Assert.All(sideCalls, u => Assert.True(u.CostMicros > 0));
        }
        await AssertAllSettledAsync(host, space.OrgId);

        // Without a stream the questions come back with the answer.
        _fake.Enqueue(FakeScript.Reply("Is it sunny?\nIs it big?\nIs it old?"), ChatFixture.Gemini);
        var whole = await SendAsync(space.Client, space.Owner, HttpMethod.Post, space.Messages, new { content = "And Lyon?", model = ChatFixture.Main });
        Assert.Equal(["Is it sunny?", "Is it big?", "Is it old?"], whole.GetProperty("followUps").EnumerateArray().Select(q => q.GetString()));
    }

    [Fact]
    public async Task Without_a_stream_the_answer_comes_back_whole()
    {
        var space = await SpaceAsync(_host);
        var request = new HttpRequestMessage(HttpMethod.Post, space.Messages) { Content = JsonContent.Create(new { content = "Whole please", model = ChatFixture.Main }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", space.Owner.AccessToken);
        using var response = await space.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal("complete", body.GetProperty("status").GetString());
        Assert.Contains("Whole please", body.GetProperty("content").GetString());
    }

    /// <summary>The org's one hold, or the one with <paramref name="id"/> when a side call held too.</summary>
    internal static async Task<LedgerHold> HoldOfAsync(IdentityHost host, Guid orgId, Guid? id = null)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<LedgerHold>().AsNoTracking()
            .SingleAsync(h => h.OrganizationId == orgId && (id == null || h.Id == id), Ct);
    }

    [Fact]
    public async Task The_output_cap_goes_to_OpenAI_compatible_servers_and_Gemini_as_max_tokens()
    {
        var space = await SpaceAsync(_host);
        await ChatAsync(space, new { content = "Short, please", model = ChatFixture.Main, maxTokens = 37 });
        await ChatAsync(space, new { content = "Short, please", model = ChatFixture.Gemini, maxTokens = 41 });

        var compatible = _fake.Requests.Single(r => r.Provider == FakeLlmProvider.OpenAi && r.MaxTokens == 37);
        Assert.Equal("max_tokens", compatible.MaxTokensField);
        Assert.False(compatible.Body!.Value.TryGetProperty("max_completion_tokens", out _));
        var gemini = _fake.Requests.Single(r => r.Provider == FakeLlmProvider.Gemini && r.MaxTokens == 41);
        Assert.Equal("max_tokens", gemini.MaxTokensField);
        Assert.False(gemini.Body!.Value.TryGetProperty("max_completion_tokens", out _));
    }

    [Fact]
    public async Task The_output_cap_goes_to_OpenAI_as_max_completion_tokens()
    {
        await using var host = await _fixture.StartHostAsync(new Dictionary<string, string?> { ["Providers:0:Kind"] = "OpenAI" });
        var space = await SpaceAsync(host);
        await ChatAsync(space, new { content = "Short, please", model = ChatFixture.Main, maxTokens = 43 });

        var request = _fake.Requests.Single(r => r.Provider == FakeLlmProvider.OpenAi && r.MaxTokens == 43);
        Assert.Equal("max_completion_tokens", request.MaxTokensField);
        Assert.False(request.Body!.Value.TryGetProperty("max_tokens", out _));
    }

    [Fact]
    public async Task A_server_that_ignores_the_cap_is_cut_at_it_ends_incomplete_for_length_and_is_charged_within_the_hold()
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.IgnoringMaxTokens(400) with { DelayPerChunk = TimeSpan.FromMilliseconds(20) }, ChatFixture.Main);
        var events = await ChatAsync(space, new { content = "Count to four hundred", model = ChatFixture.Main, maxTokens = 5 });

        var request = _fake.Requests.Single(r => r.Model == ChatFixture.Main && r.MaxTokens == 5);
        Assert.Equal(FakeLlmOutcome.ClientDisconnected, await request.Outcome.WaitAsync(TimeSpan.FromSeconds(5), Ct));
        var done = Done(events);
        Assert.Equal("incomplete", done.GetProperty("status").GetString());
        Assert.Equal("length", done.GetProperty("finishReason").GetString());
        Assert.DoesNotContain(events, e => e.Event == "error");
        var delivered = Text(events);
        var tokens = _host.App.Services.GetRequiredService<TokenCounter>();
        Assert.Equal(5, tokens.Count(ChatFixture.Main, delivered));
        var answer = await AnswerAsync(space, events);
        Assert.Equal(MessageStatus.Incomplete, answer.Status);
        Assert.Equal("length", answer.FinishReason);
        Assert.Equal(delivered, answer.Content);
        var hold = await HoldOfAsync(_host, space.OrgId);
        var charged = done.GetProperty("costMicros").GetInt64();
        Assert.InRange(charged, 1, hold.Amount);
        Assert.Equal(await PriceAsync(ChatFixture.Main, answer.InputTokens ?? 0, 5), charged);
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task An_answer_the_provider_capped_itself_is_not_cut_where_our_count_only_estimates_the_models_tokens()
    {
        var space = await SpaceAsync(_host);
        // Thirty words, every third with a comma: the provider counts words, cl100k counts the commas too.
        var reply = string.Join(' ', Enumerable.Range(0, 30).Select(i => i % 3 == 0 ? "word," : "word"));
        _fake.Enqueue(FakeScript.Reply(reply), ChatFixture.Claude);
        var events = await ChatAsync(space, new { content = "Say thirty words", model = ChatFixture.Claude, maxTokens = 20 });

        var delivered = Text(events);
        var tokens = _host.App.Services.GetRequiredService<TokenCounter>();
        Assert.Equal(20, delivered.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.InRange(tokens.Count(ChatFixture.Claude, delivered), 21, 20 + (20 / 4) + 8);
        var done = Done(events);
        Assert.Equal("complete", done.GetProperty("status").GetString());
        Assert.Equal("length", done.GetProperty("finishReason").GetString());
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    [Theory]
    [InlineData(-5, -7)]
    [InlineData(-5, 3)]
    [InlineData(int.MinValue, int.MaxValue)]
    public async Task Usage_a_provider_reports_out_of_range_falls_back_to_the_counted_tokens_and_never_refunds(int input, int output)
    {
        var space = await SpaceAsync(_host);
        _fake.Enqueue(FakeScript.Reply("A perfectly ordinary answer.") with { ReportedUsage = (input, output) }, ChatFixture.Main);
        var events = await ChatAsync(space, new { content = "Anything", model = ChatFixture.Main });

        var done = Done(events);
        Assert.Equal("complete", done.GetProperty("status").GetString());
        var usage = events.Single(e => e.Event == "usage").Data;
        Assert.False(usage.GetProperty("reported").GetBoolean());
        Assert.Equal(usage.GetProperty("estimatedInputTokens").GetInt64(), usage.GetProperty("inputTokens").GetInt64());
        Assert.True(usage.GetProperty("inputTokens").GetInt64() > 0);
        var charged = done.GetProperty("costMicros").GetInt64();
        var record = await UsageOfAsync(space.OrgId, ChatFixture.Main);
        Assert.InRange(charged, 1, (await HoldOfAsync(_host, space.OrgId, record.ReservationId)).Amount);
        Assert.Equal(charged, record.CostMicros);
        Assert.True(record.InputTokens >= 0 && record.OutputTokens >= 0);
        await AssertAllSettledAsync(_host, space.OrgId);
    }

    /// <summary>Takes every credit of the space owner's own account, which pays in their personal org.</summary>
    async Task EmptyOwnAccountAsync(Space space)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var userId = UserIdOf(space.Owner);
        var account = await db.Set<CreditAccount>().SingleAsync(a => a.Owner == CreditOwner.User && a.UserId == userId, Ct);
        await scope.ServiceProvider.GetRequiredService<Ledger>().PostAsync(account.Id, CreditKind.Adjustment, -account.Balance, "empty it", null, $"empty:{account.Id}", Ct);
    }

    [Fact]
    public async Task A_refused_call_writes_nothing_and_holds_nothing()
    {
        var space = await SpaceAsync(_host);
        await EmptyOwnAccountAsync(space);
        var problem = await SendAsync(space.Client, space.Owner, HttpMethod.Post, space.Messages, new { content = "Hello?", model = ChatFixture.Main }, HttpStatusCode.PaymentRequired);
        Assert.Equal("urn:aihub:problem:insufficient-credits", problem.GetProperty("type").GetString());
        var path = await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Messages);
        Assert.Equal(0, path.GetProperty("messages").GetArrayLength());
    }

    [Fact]
    public async Task An_event_stream_client_refused_for_credits_reads_the_402_problem_and_nothing_changes()
    {
        var space = await SpaceAsync(_host);
        await EmptyOwnAccountAsync(space);
        var before = await MoneyOfAsync(space);

        var problem = await StreamRefusalAsync(space, HttpStatusCode.PaymentRequired);

        Assert.Equal("urn:aihub:problem:insufficient-credits", problem.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("detail").GetString()));
        Assert.Equal(before, await MoneyOfAsync(space));
        Assert.Equal(0, (await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Messages)).GetProperty("messages").GetArrayLength());
    }

    [Fact]
    public async Task An_event_stream_client_over_its_chat_limit_reads_the_403_problem_and_nothing_changes()
    {
        var space = await SpaceAsync(_host);
        var admin = await _host.SuperAdminAsync(space.Client);
        using (var plan = await space.Client.SendAsync(As(admin, HttpMethod.Put, "/api/admin/plans/NOCHAT", new
        {
            name = "No chat", chatQuestions = 0, chatPeriod = "day", storageBytes = 1_000_000, videos = 0, priceCents = 0, currency = "USD", grant = 0m, active = true, sortOrder = 90,
        }), Ct))
            Assert.True(plan.StatusCode is HttpStatusCode.OK or HttpStatusCode.Created, await plan.Content.ReadAsStringAsync(Ct));
        await SendAsync(space.Client, admin, HttpMethod.Put, $"/api/admin/orgs/{space.OrgId}/plan", new { code = "NOCHAT" });
        var before = await MoneyOfAsync(space);

        var problem = await StreamRefusalAsync(space, HttpStatusCode.Forbidden);

        Assert.Equal("urn:aihub:problem:chat-limit-exceeded", problem.GetProperty("type").GetString());
        Assert.Equal("CHAT_LIMIT_EXCEEDED", problem.GetProperty("code").GetString());
        Assert.Equal(0, problem.GetProperty("limit").GetInt64());
        Assert.Equal(before, await MoneyOfAsync(space));
        Assert.Equal(0, (await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Messages)).GetProperty("messages").GetArrayLength());
    }

    /// <summary>Sends a question as an SSE client and reads the refusal, which must be a whole ProblemDetails and no stream.</summary>
    static async Task<JsonElement> StreamRefusalAsync(Space space, HttpStatusCode expected)
    {
        using var response = await space.Client.SendAsync(Post(space, space.Messages, new { content = "Hello?", model = ChatFixture.Main }), Ct);
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone();
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        return problem;
    }

    /// <summary>The owner's balance and the number of ledger entries on the account, to show that a refusal moved nothing.</summary>
    async Task<(long Balance, int Entries)> MoneyOfAsync(Space space)
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var userId = UserIdOf(space.Owner);
        var account = await db.Set<CreditAccount>().AsNoTracking().SingleAsync(a => a.Owner == CreditOwner.User && a.UserId == userId, Ct);
        return (account.Balance, await db.Set<CreditEntry>().CountAsync(e => e.AccountId == account.Id, Ct));
    }
}

public sealed class ChatStreamsOnSqlite(SqliteChatFixture fixture) : ChatStreamTests(fixture), IClassFixture<SqliteChatFixture>;

public sealed class ChatStreamsOnPostgres(PostgresChatFixture fixture) : ChatStreamTests(fixture), IClassFixture<PostgresChatFixture>;

/// <summary>Without any provider the chat API says so, with the code clients look for.</summary>
public sealed class ChatWithoutProviders(SqliteIdentityFixture fixture) : IClassFixture<SqliteIdentityFixture>
{
    [Fact]
    public async Task Sending_answers_503_NO_PROVIDER_and_stores_nothing()
    {
        var host = fixture.Host;
        var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var workspaceId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Chat" });
        var conversation = (await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces/{workspaceId}/conversations", new { }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var path = $"/api/orgs/{orgId}/workspaces/{workspaceId}/conversations/{conversation}/messages";
        var problem = await SendAsync(client, owner, HttpMethod.Post, path, new { content = "Anyone there?" }, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("NO_PROVIDER", problem.GetProperty("code").GetString());
        Assert.Equal("urn:aihub:problem:no-provider", problem.GetProperty("type").GetString());
        Assert.Equal(0, (await SendAsync(client, owner, HttpMethod.Get, path)).GetProperty("messages").GetArrayLength());
    }

    [Fact]
    public async Task An_event_stream_client_reads_the_503_problem_too()
    {
        var host = fixture.Host;
        var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await PersonalOrgAsync(client, owner);
        var workspaceId = await CreateAsync(client, owner, orgId, "workspaces", new { name = "Chat" });
        var conversation = (await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/workspaces/{workspaceId}/conversations", new { }, HttpStatusCode.Created)).GetProperty("id").GetGuid();
        var path = $"/api/orgs/{orgId}/workspaces/{workspaceId}/conversations/{conversation}/messages";
        using var request = As(owner, HttpMethod.Post, path, new { content = "Anyone there?" });
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));

        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("urn:aihub:problem:no-provider", problem.GetProperty("type").GetString());
        Assert.Equal("NO_PROVIDER", problem.GetProperty("code").GetString());
        Assert.Equal(0, (await SendAsync(client, owner, HttpMethod.Get, path)).GetProperty("messages").GetArrayLength());
    }
}
