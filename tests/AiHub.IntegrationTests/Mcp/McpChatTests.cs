using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Gateway;
using AiHub.IntegrationTests.Support;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>An AiHub on Kestrel over the wire-exact fake provider, with the MCP server's limits small enough to reach in a test.</summary>
public abstract class McpChatFixture(string provider) : IAsyncLifetime
{
    public const string Gpt = "gpt-4o-mini";
    public const int CallsPerMinute = 20;
    public static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(8);

    public FakeLlm Fake { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public Uri Root { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        Host = await IdentityHost.StartAsync(provider, new Dictionary<string, string?>
        {
            // The tool's own limit must end a silent provider before the engine's first-token timeout does.
            ["Chat:Timeouts:FirstToken"] = "00:01:00",
            ["Chat:Timeouts:Idle"] = "00:00:30",
            ["Chat:Retry:MaxAttempts"] = "1",
            ["Chat:CircuitBreaker:MinimumThroughput"] = "1000",
            ["Mcp:Server:CallsPerMinute"] = CallsPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mcp:Server:ToolTimeout"] = ToolTimeout.ToString(),
            ["Mcp:Server:MaxArgumentBytes"] = (512 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Below the app-wide 4 MB, so only /mcp's own limit refuses a body between the two.
            ["Mcp:Server:MaxRequestBytes"] = (3 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
        }.WithMockProvider(Fake, Gpt));
        Host.App.UseKestrel(0);
        Host.App.StartServer();
        using var client = Host.App.CreateClient();
        Root = client.BaseAddress!;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Fake.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteMcpChatFixture() : McpChatFixture("Sqlite");

public sealed class PostgresMcpChatFixture() : McpChatFixture("Postgres");

/// <summary>
/// The <c>chat</c> and <c>list_models</c> tools through the official C# MCP client with an org key: the fake's answer
/// comes back, is charged once and tagged MCP, shows in the activity feed; every refusal is an error the client's
/// model can read, with nothing charged and no hold left pending.
/// </summary>
public abstract class McpChatTests(McpChatFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    readonly IdentityHost _host = fixture.Host;
    readonly FakeLlm _fake = fixture.Fake;

    Task<McpClient> ConnectAsync(string key) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(fixture.Root, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key },
        }), cancellationToken: Ct);

    static Dictionary<string, object?> Args(params (string Name, object? Value)[] arguments) => arguments.ToDictionary(a => a.Name, a => a.Value);

    static string TextOf(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    static JsonElement Structured(CallToolResult result) => JsonSerializer.SerializeToElement(result.StructuredContent);

    /// <summary>What a refused call must leave: no hold pending, no usage record, no request at the provider, the pool untouched.</summary>
    async Task NothingChargedAsync(GatewayTenant tenant, long balanceBefore, int requestsBefore)
    {
        Assert.Equal(0, (await _host.HoldsAsync(tenant.OrgId)).Pending);
        Assert.Empty(await _host.UsageAsync(tenant.KeyId));
        Assert.Equal(balanceBefore, (await _host.BalanceAsync(tenant.OrgId)).Balance);
        Assert.Equal(requestsBefore, _fake.Requests.Count);
    }

    static async Task<JsonElement[]> ActivityAsync(GatewayTenant tenant, string kind) =>
        [.. (await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Get, $"/api/orgs/{tenant.OrgId}/activity?limit=100"))
            .GetProperty("items").EnumerateArray().Where(e => e.GetProperty("kind").GetString() == kind)];

    [Fact]
    public async Task Chat_returns_the_models_answer_charged_once_and_tagged_mcp()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        _fake.Enqueue(FakeScript.Reply("Paris is the capital of France."), McpChatFixture.Gpt);
        await using var client = await ConnectAsync(tenant.Secret);

        var result = await client.CallToolAsync("chat", Args(("prompt", "What is the capital of France?"), ("model", "mock/" + McpChatFixture.Gpt),
            ("system", "Answer in one sentence."), ("maxTokens", 200)), cancellationToken: Ct);

        Assert.NotEqual(true, result.IsError);
        Assert.Equal("Paris is the capital of France.", TextOf(result));
        var answer = Structured(result);
        Assert.Equal(McpChatFixture.Gpt, answer.GetProperty("model").GetString());
        Assert.Equal("Paris is the capital of France.", answer.GetProperty("text").GetString());
        Assert.Equal("stop", answer.GetProperty("finishReason").GetString());
        Assert.True(answer.GetProperty("inputTokens").GetInt64() > 0);
        Assert.True(answer.GetProperty("outputTokens").GetInt64() > 0);

        var (lost, recorded, records) = await _host.SettledAsync(tenant);
        var record = Assert.Single(records);
        Assert.Equal(UsageChannels.Mcp, record.Channel);
        Assert.Equal(UsageStatus.Succeeded, record.Status);
        Assert.True(record.CostMicros > 0);
        Assert.Equal(answer.GetProperty("costMicros").GetInt64(), record.CostMicros);
        Assert.Equal(recorded, lost);
        var byChannel = (await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Get, $"/api/orgs/{tenant.OrgId}/usage?groupBy=channel"))
            .GetProperty("rows").EnumerateArray().ToList();
        var viaMcp = Assert.Single(byChannel);
        Assert.Equal("mcp", viaMcp.GetProperty("channel").GetString());
        Assert.Equal(record.CostMicros, viaMcp.GetProperty("costMicros").GetInt64());
        var sent = _fake.Requests[^1].Body!.Value.GetProperty("messages");
        Assert.Equal("system", sent[0].GetProperty("role").GetString());
        Assert.Equal("What is the capital of France?", sent[1].GetProperty("content").GetString());
    }

    [Fact]
    public async Task Chat_takes_a_conversation_and_list_models_names_what_it_accepts()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);

        var models = Structured(await client.CallToolAsync("list_models", cancellationToken: Ct));
        var name = Assert.Single(models.GetProperty("models").EnumerateArray(), m => m.GetProperty("id").GetString() == McpChatFixture.Gpt).GetProperty("name").GetString();

        _fake.Enqueue(FakeScript.Reply("Blue."), McpChatFixture.Gpt);
        var result = await client.CallToolAsync("chat", Args(("model", name), ("messages", new object[]
        {
            new { role = "user", content = "Pick a colour." },
            new { role = "assistant", content = "Which kind?" },
            new { role = "user", content = "Any." },
        })), cancellationToken: Ct);

        Assert.NotEqual(true, result.IsError);
        Assert.Equal("Blue.", TextOf(result));
        var sent = _fake.Requests[^1].Body!.Value.GetProperty("messages");
        Assert.Equal(3, sent.GetArrayLength());
        Assert.Equal("assistant", sent[1].GetProperty("role").GetString());
    }

    [Fact]
    public async Task Every_call_is_in_the_activity_feed_with_the_key_and_without_the_arguments()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);
        _fake.Enqueue(FakeScript.Reply("Fine."), McpChatFixture.Gpt);

        await client.CallToolAsync("chat", Args(("prompt", "a private question about salaries")), cancellationToken: Ct);
        var refused = await client.CallToolAsync("chat", Args(("prompt", "x"), ("model", "nobody/nothing")), cancellationToken: Ct);
        Assert.True(refused.IsError);

        var calls = await ActivityAsync(tenant, "mcp.tool_called");
        Assert.Equal(2, calls.Length);
        var data = calls.Select(c => JsonDocument.Parse(c.GetProperty("data").GetString()!).RootElement).ToList();
        Assert.All(data, d => Assert.Equal("chat", d.GetProperty("tool").GetString()));
        Assert.All(data, d => Assert.Equal(tenant.KeyId, d.GetProperty("apiKeyId").GetGuid()));
        Assert.All(data, d => Assert.True(d.GetProperty("argumentBytes").GetInt64() > 0));
        Assert.All(data, d => Assert.True(d.GetProperty("durationMs").GetInt64() >= 0));
        Assert.Contains(data, d => d.GetProperty("outcome").GetString() == "ok");
        Assert.Contains(data, d => d.GetProperty("outcome").GetString() == "error");
        Assert.All(calls, c => Assert.DoesNotContain("salaries", c.GetProperty("data").GetString()!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unknown_tool_is_a_json_rpc_error_and_is_recorded()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);

        var error = await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("no_such_tool", cancellationToken: Ct).AsTask());

        Assert.Equal(McpErrorCode.InvalidParams, error.ErrorCode);
        Assert.Contains("no_such_tool", error.Message, StringComparison.Ordinal);
        Assert.Single(await ActivityAsync(tenant, "mcp.tool_called"));
    }

    [Fact]
    public async Task A_wrong_argument_type_is_named_and_nothing_is_charged()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);
        var (balance, requests) = ((await _host.BalanceAsync(tenant.OrgId)).Balance, _fake.Requests.Count);

        var wrongNumber = await client.CallToolAsync("chat", Args(("prompt", "hi"), ("maxTokens", "lots")), cancellationToken: Ct);
        var wrongList = await client.CallToolAsync("chat", Args(("messages", new object[] { new { role = "user", content = 42 } })), cancellationToken: Ct);
        var wrongRole = await client.CallToolAsync("chat", Args(("messages", new object[] { new { role = "robot", content = "hi" } })), cancellationToken: Ct);
        var wrongWorkspace = await client.CallToolAsync("chat", Args(("prompt", "hi"), ("workspaceId", "not-an-id")), cancellationToken: Ct);

        Assert.True(wrongNumber.IsError);
        Assert.Contains("'maxTokens' must be a whole number", TextOf(wrongNumber), StringComparison.Ordinal);
        Assert.True(wrongList.IsError);
        Assert.Contains("'messages[0].content' must be a string", TextOf(wrongList), StringComparison.Ordinal);
        Assert.True(wrongRole.IsError);
        Assert.Contains("messages[0].role", TextOf(wrongRole), StringComparison.Ordinal);
        Assert.True(wrongWorkspace.IsError);
        Assert.Contains("'workspaceId' must be an id", TextOf(wrongWorkspace), StringComparison.Ordinal);
        await NothingChargedAsync(tenant, balance, requests);
    }

    [Fact]
    public async Task An_oversized_prompt_is_refused_before_any_model_call_or_charge()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);
        var (balance, requests) = ((await _host.BalanceAsync(tenant.OrgId)).Balance, _fake.Requests.Count);

        var result = await client.CallToolAsync("chat", Args(("prompt", new string('a', 2 * 1024 * 1024))), cancellationToken: Ct);

        Assert.True(result.IsError);
        Assert.Contains("at most 512 KB", TextOf(result), StringComparison.Ordinal);
        await NothingChargedAsync(tenant, balance, requests);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_a_413_problem_and_malformed_json_rpc_is_never_a_500()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        using var http = new HttpClient { BaseAddress = fixture.Root };

        using var huge = await PostAsync(http, tenant.Secret, new string('x', 3 * 1024 * 1024 + 512 * 1024));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal("application/problem+json", huge.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await huge.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Contains("3,072 KB", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        using var broken = await PostAsync(http, tenant.Secret, """{"jsonrpc":"2.0","id":1,"method":""");
        Assert.True((int)broken.StatusCode is >= 400 and < 500, $"malformed JSON got {(int)broken.StatusCode}");
        var body = await broken.Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain("<html", body, StringComparison.OrdinalIgnoreCase);
        using (var parsed = JsonDocument.Parse(body))
            Assert.Equal(JsonValueKind.Object, parsed.RootElement.ValueKind);
    }

    static async Task<HttpResponseMessage> PostAsync(HttpClient http, string key, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        // A client that waits for 100-continue reads the refusal instead of a reset while it still sends the body.
        request.Headers.ExpectContinue = body.Length > 1024 * 1024;
        return await http.SendAsync(request, Ct);
    }

    [Fact]
    public async Task An_unknown_model_is_a_readable_error_and_nothing_is_charged()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);
        var (balance, requests) = ((await _host.BalanceAsync(tenant.OrgId)).Balance, _fake.Requests.Count);

        var result = await client.CallToolAsync("chat", Args(("prompt", "hi"), ("model", "nobody/nothing-9")), cancellationToken: Ct);

        Assert.True(result.IsError);
        Assert.Contains("nothing-9", TextOf(result), StringComparison.Ordinal);
        await NothingChargedAsync(tenant, balance, requests);
    }

    [Fact]
    public async Task An_empty_balance_is_refused_with_the_reason_and_leaves_no_hold()
    {
        var client0 = _host.App.CreateClient();
        var owner = await _host.NewUserAsync(client0);
        var orgId = await CreateOrgAsync(client0, owner, "Broke");
        await GatewayTenants.OnUnlimitedPlanAsync(_host, client0, orgId);
        var (keyId, secret) = await GatewayTenants.NewKeyAsync(client0, owner, orgId);
        var tenant = new GatewayTenant(client0, owner, orgId, keyId, secret);
        await using var client = await ConnectAsync(secret);
        var (balance, requests) = ((await _host.BalanceAsync(orgId)).Balance, _fake.Requests.Count);

        var result = await client.CallToolAsync("chat", Args(("prompt", "hi")), cancellationToken: Ct);

        Assert.True(result.IsError);
        Assert.Contains("credit", TextOf(result), StringComparison.OrdinalIgnoreCase);
        await NothingChargedAsync(tenant, balance, requests);
    }

    [Fact]
    public async Task A_key_cannot_name_another_orgs_workspace()
    {
        var tenantA = await GatewayTenants.NewAsync(_host, name: "Acme");
        var tenantB = await GatewayTenants.NewAsync(_host, name: "Globex");
        var workspaceOfB = (await SendAsync(tenantB.Client, tenantB.Owner, HttpMethod.Get, $"/api/orgs/{tenantB.OrgId}/workspaces"))
            .EnumerateArray().First().GetProperty("id").GetGuid();
        await using var client = await ConnectAsync(tenantA.Secret);
        var (balance, requests) = ((await _host.BalanceAsync(tenantA.OrgId)).Balance, _fake.Requests.Count);

        var result = await client.CallToolAsync("chat", Args(("prompt", "hi"), ("workspaceId", workspaceOfB.ToString())), cancellationToken: Ct);

        Assert.True(result.IsError);
        Assert.Contains("No such workspace", TextOf(result), StringComparison.Ordinal);
        await NothingChargedAsync(tenantA, balance, requests);
    }

    [Fact]
    public async Task A_revoked_key_is_refused_on_the_very_next_call()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);
        Assert.NotEqual(true, (await client.CallToolAsync("list_models", cancellationToken: Ct)).IsError);

        await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Delete, $"/api/orgs/{tenant.OrgId}/api-keys/{tenant.KeyId}", expected: HttpStatusCode.NoContent);

        var refused = await Assert.ThrowsAnyAsync<Exception>(() => client.CallToolAsync("list_models", cancellationToken: Ct).AsTask());
        Assert.Contains("401", refused.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Calls_over_the_minutes_limit_are_refused_as_a_tool_error()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);

        for (var i = 0; i < McpChatFixture.CallsPerMinute; i++)
            Assert.NotEqual(true, (await client.CallToolAsync("list_models", cancellationToken: Ct)).IsError);
        var over = await client.CallToolAsync("list_models", cancellationToken: Ct);

        Assert.True(over.IsError);
        Assert.Contains($"{McpChatFixture.CallsPerMinute} calls a minute", TextOf(over), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_provider_that_stays_silent_is_stopped_at_the_tool_time_limit_and_nothing_is_charged()
    {
        var tenant = await GatewayTenants.NewAsync(_host, name: "Acme");
        await using var client = await ConnectAsync(tenant.Secret);
        var balance = (await _host.BalanceAsync(tenant.OrgId)).Balance;
        _fake.Enqueue(FakeScript.Reply("too late") with { FirstTokenDelay = TimeSpan.FromMinutes(2) }, McpChatFixture.Gpt);

        var result = await client.CallToolAsync("chat", Args(("prompt", "hi")), cancellationToken: Ct);

        Assert.True(result.IsError);
        Assert.Contains("took longer than 8 s", TextOf(result), StringComparison.Ordinal);
        var (lost, recorded, _) = await _host.SettledAsync(tenant);
        Assert.Equal(0, lost);
        Assert.Equal(0, recorded);
        Assert.Equal(balance, (await _host.BalanceAsync(tenant.OrgId)).Balance);
    }
}

public sealed class SqliteMcpChatTests(SqliteMcpChatFixture fixture) : McpChatTests(fixture), IClassFixture<SqliteMcpChatFixture>;

public sealed class PostgresMcpChatTests(PostgresMcpChatFixture fixture) : McpChatTests(fixture), IClassFixture<PostgresMcpChatFixture>;
