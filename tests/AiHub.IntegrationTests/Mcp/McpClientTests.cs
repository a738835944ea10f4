using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Chat.Tools;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Infrastructure.Audit;
using AiHub.IntegrationTests.Chat;
using AiHub.IntegrationTests.Support;
using AiHub.Mcp.Client;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>
/// The fake LLM, two real MCP servers under Node.js (the npm reference server and one that misbehaves), and an AiHub on
/// Kestrel that may reach loopback, with logs captured at Trace.
/// </summary>
public abstract class McpClientFixture(string database) : IAsyncLifetime
{
    public const string Model = "gpt-4o-mini";

    public string Database => database;

    public FakeLlm Fake { get; private set; } = null!;

    public McpServerProcess Everything { get; private set; } = null!;

    public McpServerProcess Misbehaving { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public LogCapture Logs { get; } = new();

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        Everything = await McpServerProcess.EverythingAsync();
        Misbehaving = await McpServerProcess.MisbehavingAsync();
        Host = await StartHostAsync(new Dictionary<string, string?>(), Logs);
    }

    public async Task<IdentityHost> StartHostAsync(IReadOnlyDictionary<string, string?> extra, LogCapture? logs = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Chat:Timeouts:FirstToken"] = "00:00:10",
            ["Chat:Timeouts:Idle"] = "00:00:10",
            ["Outbound:AllowPrivateNetworks"] = "true",
            // Request headers and the MCP client's own traffic are logged at Trace: a secret that escaped redaction would show.
            ["Logging:LogLevel:Default"] = "Trace",
        }.WithMockProvider(Fake, Model);
        foreach (var (key, value) in extra)
            settings[key] = value;
        var host = await IdentityHost.StartAsync(database, settings, s =>
        {
            if (logs is not null)
                s.AddSingleton<ILoggerProvider>(logs);
        });
        host.App.UseKestrel(0);
        host.App.StartServer();
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Misbehaving.DisposeAsync();
        await Everything.DisposeAsync();
        await Fake.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class McpClientSqliteFixture() : McpClientFixture("Sqlite");

public sealed class McpClientPostgresFixture() : McpClientFixture("Postgres");

/// <summary>An org's remote MCP servers: registered through the API, their tools listed, chosen, offered to chats and called.</summary>
public abstract class McpClientTests(McpClientFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly string[] EchoOnly = ["echo"];

    IdentityHost Host => fixture.Host;

    sealed record Space(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId, Guid ConversationId)
    {
        public string Servers => $"/api/orgs/{OrgId}/mcp-servers";

        public string Messages => $"/api/orgs/{OrgId}/workspaces/{WorkspaceId}/conversations/{ConversationId}/messages";
    }

    async Task<Space> SpaceAsync()
    {
        var s = await ChatStreamTests.SpaceAsync(Host);
        return new Space(s.Client, s.Owner, s.OrgId, s.WorkspaceId, s.ConversationId);
    }

    static async Task<Guid> RegisterAsync(Space space, object body) =>
        (await SendAsync(space.Client, space.Owner, HttpMethod.Post, space.Servers, body, HttpStatusCode.Created)).GetProperty("id").GetGuid();

    /// <summary>Registers a server, lists its tools and enables <paramref name="tools"/>.</summary>
    static async Task<Guid> ReadyAsync(Space space, object body, params string[] tools)
    {
        var id = await RegisterAsync(space, body);
        await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"{space.Servers}/{id}/refresh");
        await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"{space.Servers}/{id}/tools", new { tools });
        return id;
    }

    static async Task<List<Sse>> ChatAsync(Space space, string content)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, space.Messages) { Content = JsonContent.Create(new { content, model = McpClientFixture.Model }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", space.Owner.AccessToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await space.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new List<Sse>();
        await foreach (var e in ChatStreamTests.EventsAsync(response))
            events.Add(e);
        return events;
    }

    static string Text(List<Sse> events) => string.Concat(events.Where(e => e.Event == "delta").Select(e => e.Data.GetProperty("text").GetString()));

    static string Status(List<Sse> events) => events[^1].Data.GetProperty("status").GetString()!;

    static async Task<ProblemBody> ProblemAsync(Space space, HttpMethod method, string path, object? body, HttpStatusCode expected)
    {
        var problem = await SendAsync(space.Client, space.Owner, method, path, body, expected);
        return new(problem.GetProperty("title").GetString()!, problem.TryGetProperty("detail", out var d) ? d.GetString() ?? "" : "", problem.GetRawText());
    }

    sealed record ProblemBody(string Title, string Detail, string Raw);

    [Fact]
    public async Task The_reference_server_tools_are_listed_and_the_model_calls_an_enabled_one_in_a_chat()
    {
        var space = await SpaceAsync();
        var id = await RegisterAsync(space, new { name = "everything", url = fixture.Everything.Url });

        var refreshed = await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"{space.Servers}/{id}/refresh");
        var listed = refreshed.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        Assert.Contains("echo", listed);
        Assert.Contains("get-sum", listed);
        Assert.All(refreshed.GetProperty("tools").EnumerateArray(), t => Assert.False(t.GetProperty("enabled").GetBoolean()));
        var offered = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"/api/orgs/{space.OrgId}/tools");
        Assert.DoesNotContain(offered.EnumerateArray(), t => t.GetProperty("name").GetString()!.StartsWith("everything__", StringComparison.Ordinal));

        await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"{space.Servers}/{id}/tools", new { tools = EchoOnly });
        offered = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"/api/orgs/{space.OrgId}/tools");
        var echo = Assert.Single(offered.EnumerateArray(), t => t.GetProperty("name").GetString() == "everything__echo");
        Assert.Contains("Echoes back the input string", echo.GetProperty("description").GetString());

        var before = fixture.Fake.Requests.Count;
        fixture.Fake.Enqueue(FakeScript.ToolCall("everything__echo", """{"message":"hello from the model"}"""), McpClientFixture.Model);
        var events = await ChatAsync(space, "Echo something");

        var call = events.Single(e => e.Event == "tool_call").Data;
        var result = events.Single(e => e.Event == "tool_result").Data;
        Assert.Equal("everything__echo", call.GetProperty("name").GetString());
        Assert.Equal("Echo: hello from the model", result.GetProperty("result").GetString());
        Assert.Contains("Echo: hello from the model", Text(events));
        Assert.Equal("complete", Status(events));
        // The model was offered the remote tool with the remote schema, and read its result on the second round.
        // Side calls (the conversation's title) offer no tools; the answer's rounds do.
        var rounds = fixture.Fake.Requests.Skip(before).Where(r => r.Model == McpClientFixture.Model && r.Body!.Value.TryGetProperty("tools", out _)).ToList();
        Assert.Equal(2, rounds.Count);
        var tool = rounds[0].Body!.Value.GetProperty("tools").EnumerateArray().Single(t => t.GetProperty("function").GetProperty("name").GetString() == "everything__echo");
        Assert.Equal("string", tool.GetProperty("function").GetProperty("parameters").GetProperty("properties").GetProperty("message").GetProperty("type").GetString());
        Assert.DoesNotContain(rounds[0].Body!.Value.GetProperty("tools").EnumerateArray(), t => t.GetProperty("function").GetProperty("name").GetString() == "everything__get-sum");
        var stored = await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Messages);
        Assert.Equal("Echo: hello from the model", stored.GetProperty("messages").EnumerateArray().Last().GetProperty("toolCalls")[0].GetProperty("result").GetString());
        await ChatStreamTests.AssertAllSettledAsync(Host, space.OrgId);
    }

    [Fact]
    public async Task A_header_secret_reaches_the_server_and_never_the_api_the_audit_log_or_the_logs()
    {
        const string Secret = "mcp-secret-7c1e0d9a4b";
        var space = await SpaceAsync();
        var id = await ReadyAsync(space, new { name = "creds", url = fixture.Misbehaving.Url, authKind = "header", headerName = "X-Api-Key", secret = Secret }, "whoami");

        fixture.Fake.Enqueue(FakeScript.ToolCall("creds__whoami", """{"header":"x-api-key"}"""), McpClientFixture.Model);
        var events = await ChatAsync(space, "Who am I?");

        var digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Secret)));
        Assert.Equal($"x-api-key sha256={digest}", events.Single(e => e.Event == "tool_result").Data.GetProperty("result").GetString());
        var one = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Servers}/{id}");
        var all = await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Servers);
        Assert.Equal("set", one.GetProperty("secret").GetString());
        Assert.DoesNotContain(Secret, one.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, all.GetRawText(), StringComparison.Ordinal);
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var row = await db.Set<McpServerRegistration>().AsNoTracking().SingleAsync(s => s.Id == id, Ct);
        Assert.DoesNotContain(Secret, row.SecretProtected!, StringComparison.Ordinal);
        var audit = await db.AuditEvents.AsNoTracking().Where(e => e.OrganizationId == space.OrgId && e.Kind.StartsWith("org.mcp_server_")).ToListAsync(Ct);
        Assert.Contains(audit, e => e.Kind == McpAuditKinds.Created);
        Assert.All(audit, e => Assert.DoesNotContain(Secret, e.Data ?? "", StringComparison.Ordinal));
        Assert.NotEmpty(fixture.Logs.Lines);
        Assert.True(!fixture.Logs.Lines.Any(l => l.Contains(Secret, StringComparison.Ordinal)), string.Join("\n", fixture.Logs.Lines.Where(l => l.Contains(Secret, StringComparison.Ordinal))));
    }

    [Fact]
    public async Task OAuth_client_credentials_fetch_a_token_that_the_server_receives_and_a_wrong_secret_is_a_readable_failure()
    {
        var space = await SpaceAsync();
        var tokenUrl = fixture.Misbehaving.Url.Replace("/mcp", "/token", StringComparison.Ordinal);
        var id = await ReadyAsync(space, new { name = "oauth", url = fixture.Misbehaving.Url, authKind = "oauth-client-credentials", tokenUrl, clientId = "aihub",
            secret = "client-secret", scope = "tools" }, "whoami");

        fixture.Fake.Enqueue(FakeScript.ToolCall("oauth__whoami", """{"header":"authorization"}"""), McpClientFixture.Model);
        var events = await ChatAsync(space, "Who am I?");
        await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"{space.Servers}/{id}", new { secret = "wrong" });
        var refused = await ProblemAsync(space, HttpMethod.Post, $"{space.Servers}/{id}/refresh", null, HttpStatusCode.BadGateway);

        var digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("Bearer token-for-tools"u8.ToArray()));
        Assert.Equal($"authorization sha256={digest}", events.Single(e => e.Event == "tool_result").Data.GetProperty("result").GetString());
        Assert.Equal("Its tools could not be listed: its token URL refused the client credentials.", refused.Detail);
    }

    [Fact]
    public async Task A_tool_that_hangs_times_out_into_a_readable_result_and_the_chat_finishes()
    {
        var space = await SpaceAsync();
        await ReadyAsync(space, new { name = "slow", url = fixture.Misbehaving.Url, timeoutSeconds = 1 }, "hang");

        fixture.Fake.Enqueue(FakeScript.ToolCall("slow__hang", "{}"), McpClientFixture.Model);
        var events = await ChatAsync(space, "Wait for it");

        var result = events.Single(e => e.Event == "tool_result").Data.GetProperty("result").GetString();
        Assert.Equal("The tool slow__hang failed: the server did not answer within 1 s.", result);
        Assert.Equal("complete", Status(events));
        Assert.Contains("did not answer within 1 s", Text(events));
        await ChatStreamTests.AssertAllSettledAsync(Host, space.OrgId);
    }

    [Fact]
    public async Task A_five_megabyte_result_is_dropped_with_a_readable_result()
    {
        var space = await SpaceAsync();
        await ReadyAsync(space, new { name = "flood", url = fixture.Misbehaving.Url, maxResultBytes = 65536 }, "big", "fail");

        fixture.Fake.Enqueue(FakeScript.ToolCall("flood__big", "{}"), McpClientFixture.Model);
        var events = await ChatAsync(space, "Flood me");
        fixture.Fake.Enqueue(FakeScript.ToolCall("flood__fail", "{}"), McpClientFixture.Model);
        var failed = await ChatAsync(space, "Fail");

        var result = events.Single(e => e.Event == "tool_result").Data.GetProperty("result").GetString()!;
        Assert.Equal("The tool flood__big failed: the server's response was larger than the 65536 bytes allowed, so it was dropped.", result);
        Assert.Equal("complete", Status(events));
        Assert.Equal("The tool flood__fail failed: the database is down", failed.Single(e => e.Event == "tool_result").Data.GetProperty("result").GetString());
    }

    [Fact]
    public async Task Another_org_neither_reads_nor_uses_the_servers()
    {
        var mine = await SpaceAsync();
        var theirs = await SpaceAsync();
        var id = await ReadyAsync(mine, new { name = "everything", url = fixture.Everything.Url }, "echo");

        Assert.Empty((await SendAsync(theirs.Client, theirs.Owner, HttpMethod.Get, theirs.Servers)).EnumerateArray());
        await SendAsync(theirs.Client, theirs.Owner, HttpMethod.Get, $"{theirs.Servers}/{id}", expected: HttpStatusCode.NotFound);
        await SendAsync(theirs.Client, theirs.Owner, HttpMethod.Post, $"{theirs.Servers}/{id}/refresh", expected: HttpStatusCode.NotFound);
        await SendAsync(theirs.Client, theirs.Owner, HttpMethod.Get, $"{mine.Servers}/{id}", expected: HttpStatusCode.NotFound);
        var theirTools = await ChatToolCalls.ToolsAsync(Host, new ToolContext(theirs.OrgId, UserIdOf(theirs.Owner), theirs.WorkspaceId, null));
        var myTools = await ChatToolCalls.ToolsAsync(Host, new ToolContext(mine.OrgId, UserIdOf(mine.Owner), mine.WorkspaceId, null));
        Assert.DoesNotContain(theirTools, t => t.Name == "everything__echo");
        Assert.Contains(myTools, t => t.Name == "everything__echo");
    }

    [Fact]
    public async Task A_workspace_that_turns_a_server_off_is_not_offered_its_tools()
    {
        var space = await SpaceAsync();
        var other = await CreateAsync(space.Client, space.Owner, space.OrgId, "workspaces", new { name = "Other" });
        var id = await ReadyAsync(space, new { name = "everything", url = fixture.Everything.Url }, "echo");

        var turned = await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}/mcp-servers/{id}", new { enabled = false });
        var listed = await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}/mcp-servers");

        Assert.False(turned.GetProperty("enabled").GetBoolean());
        Assert.False(Assert.Single(listed.EnumerateArray()).GetProperty("enabled").GetBoolean());
        var user = UserIdOf(space.Owner);
        Assert.DoesNotContain(await ChatToolCalls.ToolsAsync(Host, new ToolContext(space.OrgId, user, space.WorkspaceId, null)), t => t.Name == "everything__echo");
        Assert.Contains(await ChatToolCalls.ToolsAsync(Host, new ToolContext(space.OrgId, user, other, null)), t => t.Name == "everything__echo");

        await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"/api/orgs/{space.OrgId}/workspaces/{space.WorkspaceId}/mcp-servers/{id}", new { enabled = true });
        Assert.Contains(await ChatToolCalls.ToolsAsync(Host, new ToolContext(space.OrgId, user, space.WorkspaceId, null)), t => t.Name == "everything__echo");
        // The org's own switch turns it off everywhere.
        await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"{space.Servers}/{id}", new { enabled = false });
        Assert.DoesNotContain(await ChatToolCalls.ToolsAsync(Host, new ToolContext(space.OrgId, user, other, null)), t => t.Name == "everything__echo");
    }

    [Fact]
    public async Task Bad_input_is_a_problem_that_names_the_field()
    {
        var space = await SpaceAsync();
        var id = await RegisterAsync(space, new { name = "taken", url = fixture.Everything.Url });

        Assert.Contains("url", (await ProblemAsync(space, HttpMethod.Post, space.Servers, new { name = "a", url = "ftp://example.com/mcp" }, HttpStatusCode.BadRequest)).Raw);
        Assert.Contains("url", (await ProblemAsync(space, HttpMethod.Post, space.Servers, new { name = "a", url = "not a url" }, HttpStatusCode.BadRequest)).Raw);
        Assert.Contains("name", (await ProblemAsync(space, HttpMethod.Post, space.Servers, new { name = "Has Spaces", url = fixture.Everything.Url }, HttpStatusCode.BadRequest)).Raw);
        Assert.Contains("'taken'", (await ProblemAsync(space, HttpMethod.Post, space.Servers, new { name = "taken", url = fixture.Everything.Url }, HttpStatusCode.Conflict)).Detail);
        Assert.Contains("headerName", (await ProblemAsync(space, HttpMethod.Post, space.Servers,
            new { name = "h1", url = fixture.Everything.Url, authKind = "header", headerName = "Bad Header", secret = "s" }, HttpStatusCode.BadRequest)).Raw);
        Assert.Contains("set by the MCP transport", (await ProblemAsync(space, HttpMethod.Post, space.Servers,
            new { name = "h2", url = fixture.Everything.Url, authKind = "header", headerName = "Mcp-Session-Id", secret = "s" }, HttpStatusCode.BadRequest)).Detail);
        Assert.Contains("secret", (await ProblemAsync(space, HttpMethod.Post, space.Servers,
            new { name = "h3", url = fixture.Everything.Url, authKind = "header" }, HttpStatusCode.BadRequest)).Raw);
        Assert.Contains("authKind", (await ProblemAsync(space, HttpMethod.Post, space.Servers, new { name = "h4", url = fixture.Everything.Url, authKind = "kerberos" }, HttpStatusCode.BadRequest)).Raw);
        Assert.Contains("timeoutSeconds", (await ProblemAsync(space, HttpMethod.Post, space.Servers, new { name = "h5", url = fixture.Everything.Url, timeoutSeconds = 100000 }, HttpStatusCode.BadRequest)).Raw);
        Assert.Contains("refresh it first", (await ProblemAsync(space, HttpMethod.Put, $"{space.Servers}/{id}/tools", new { tools = EchoOnly }, HttpStatusCode.BadRequest)).Detail);
        Assert.Single((await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Servers)).EnumerateArray());
    }

    [Fact]
    public async Task Ten_registrations_of_one_name_at_once_make_one_server_and_nine_conflicts()
    {
        var space = await SpaceAsync();

        var statuses = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, space.Servers) { Content = JsonContent.Create(new { name = "twin", url = fixture.Everything.Url }) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", space.Owner.AccessToken);
            using var response = await space.Client.SendAsync(request, Ct);
            return response.StatusCode;
        }, Ct)));

        Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.Created));
        Assert.Equal(9, statuses.Count(s => s == HttpStatusCode.Conflict));
        Assert.Single((await SendAsync(space.Client, space.Owner, HttpMethod.Get, space.Servers)).EnumerateArray());
    }

    [Fact]
    public async Task An_unreachable_server_is_a_502_that_says_nothing_of_the_target()
    {
        var space = await SpaceAsync();
        var id = await RegisterAsync(space, new { name = "gone", url = "http://127.0.0.1:9/mcp" });

        var problem = await ProblemAsync(space, HttpMethod.Post, $"{space.Servers}/{id}/refresh", null, HttpStatusCode.BadGateway);

        Assert.Equal("The MCP server gone could not be used.", problem.Title);
        Assert.Equal("Its tools could not be listed: the server could not be reached, or did not answer as an MCP server.", problem.Detail);
        Assert.Null((await SendAsync(space.Client, space.Owner, HttpMethod.Get, $"{space.Servers}/{id}")).GetProperty("toolsDiscoveredAt").GetString());
    }

    [Fact]
    public async Task A_new_url_drops_the_stored_secret_unless_the_change_sends_one()
    {
        var space = await SpaceAsync();
        var id = await RegisterAsync(space, new { name = "moving", url = fixture.Misbehaving.Url, authKind = "header", headerName = "Authorization", secret = "Bearer one" });

        var refused = await ProblemAsync(space, HttpMethod.Put, $"{space.Servers}/{id}", new { url = fixture.Everything.Url }, HttpStatusCode.BadRequest);
        var kept = await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"{space.Servers}/{id}", new { name = "moved" });
        var moved = await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"{space.Servers}/{id}", new { url = fixture.Everything.Url, secret = "Bearer two" });
        var cleared = await SendAsync(space.Client, space.Owner, HttpMethod.Put, $"{space.Servers}/{id}", new { url = fixture.Misbehaving.Url, authKind = "none" });

        Assert.Contains("drops its stored secret", refused.Detail);
        Assert.Equal("set", kept.GetProperty("secret").GetString());
        Assert.Equal(fixture.Everything.Url, moved.GetProperty("url").GetString());
        Assert.Equal("set", moved.GetProperty("secret").GetString());
        Assert.Equal("not set", cleared.GetProperty("secret").GetString());
    }

    [Fact]
    public async Task A_closed_address_is_refused_when_saved_unless_the_operator_opens_private_networks()
    {
        var space = await SpaceAsync();
        var metadata = await ProblemAsync(space, HttpMethod.Post, space.Servers, new { name = "meta", url = "http://169.254.169.254/latest/meta-data" }, HttpStatusCode.BadRequest);
        Assert.Contains("never lets organisations reach", metadata.Detail);

        await using var closed = await fixture.StartHostAsync(new Dictionary<string, string?> { ["Outbound:AllowPrivateNetworks"] = "false" });
        var s = await ChatStreamTests.SpaceAsync(closed);
        var there = new Space(s.Client, s.Owner, s.OrgId, s.WorkspaceId, s.ConversationId);
        foreach (var url in new[] { fixture.Everything.Url, "http://10.1.2.3/mcp", "http://localhost:8080/mcp" })
            Assert.Contains("loopback or private-network", (await ProblemAsync(there, HttpMethod.Post, there.Servers, new { name = "inside", url }, HttpStatusCode.BadRequest)).Detail);
        Assert.Contains("tokenUrl", (await ProblemAsync(there, HttpMethod.Post, there.Servers,
            new { name = "oauth", url = "https://mcp.example.com/mcp", authKind = "oauth-client-credentials", tokenUrl = "http://192.168.1.1/token", clientId = "c", secret = "s" },
            HttpStatusCode.BadRequest)).Raw);
        Assert.Empty((await SendAsync(there.Client, there.Owner, HttpMethod.Get, there.Servers)).EnumerateArray());
    }
}

public sealed class McpClientOnSqlite(McpClientSqliteFixture fixture) : McpClientTests(fixture), IClassFixture<McpClientSqliteFixture>;

public sealed class McpClientOnPostgres(McpClientPostgresFixture fixture) : McpClientTests(fixture), IClassFixture<McpClientPostgresFixture>;
