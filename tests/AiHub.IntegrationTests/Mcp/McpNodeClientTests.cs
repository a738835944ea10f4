using System.Net;
using System.Text;
using System.Text.Json;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Gateway;
using AiHub.IntegrationTests.Knowledge;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>AiHub on Kestrel with the real embedding model and the wire-exact fake LLM, for MCP clients nobody here wrote.</summary>
public abstract class McpNodeFixture(string provider) : IAsyncLifetime
{
    public const string Model = "gpt-4o-mini";

    readonly string _blobs = Directory.CreateTempSubdirectory("aihub-mcp-blobs-").FullName;

    public FakeLlm Fake { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    /// <summary>The server's root, such as <c>http://127.0.0.1:PORT/</c>.</summary>
    public Uri Root { get; private set; } = null!;

    public Uri Mcp => new(Root, "/mcp");

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        // The OAuth resource and issuer are the public URL: it must be the address the clients reach, known before the start.
        var port = FreePort();
        var settings = await TestEmbeddings.SettingsAsync(index: 1);
        settings.WithMockProvider(Fake, Model);
        settings["Blobs:Path"] = _blobs;
        settings["Knowledge:EmbeddingBatchSize"] = "16";
        settings["Chat:Timeouts:FirstToken"] = "00:01:00";
        settings["Chat:Retry:MaxAttempts"] = "1";
        settings["Identity:PublicUrl"] = $"http://localhost:{port}/";
        Host = await IdentityHost.StartAsync(provider, settings);
        Host.App.UseKestrel(port);
        Host.App.StartServer();
        Root = new Uri($"http://localhost:{port}/");
    }

    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Fake.DisposeAsync();
        Directory.Delete(_blobs, recursive: true);
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteMcpNodeFixture() : McpNodeFixture("Sqlite");

public sealed class PostgresMcpNodeFixture() : McpNodeFixture("Postgres");

/// <summary>A new user's org with a funded pool, a knowledge base holding one ingested document, and an MCP key.</summary>
public sealed record McpTenant(KnowledgeStart Start, Guid KnowledgeBaseId, Guid SourceId, Guid KeyId, string Key)
{
    public Guid OrgId => Start.OrgId;

    public Guid WorkspaceId => Start.WorkspaceId;

    public string Email { get; init; } = "";

    public string SourceUri => $"aihub://orgs/{OrgId}/sources/{SourceId}";
}

/// <summary>
/// The npm <c>@modelcontextprotocol/sdk</c> client (tests/fixtures/node/mcp/mcp-client.mjs) and
/// <c>@modelcontextprotocol/inspector-cli</c> against /mcp: what they list and call, and that an org's key sees nothing
/// of another org through them.
/// </summary>
public abstract class McpNodeClientTests(McpNodeFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly string[] KeyPermissions = ["workspaces:read", "knowledge:read", "chat:use"];

    readonly IdentityHost _host = fixture.Host;

    async Task<McpTenant> TenantAsync(string fileName, string text)
    {
        var email = IdentityHost.NewEmail("mcp");
        var start = await KnowledgeStart.SignUpAsync(_host, email);
        await _host.FundPoolAsync(start.OrgId, 100_000_000);
        await GatewayTenants.OnUnlimitedPlanAsync(_host, start.Client, start.OrgId);
        var kb = await start.CreateBaseAsync("Handbook", TestEmbeddings.ModelId);
        var source = await start.AddAsync(kb, fileName, Encoding.UTF8.GetBytes(text));
        await start.CompletedAsync(source);
        var key = await SendAsync(start.Client, start.Owner, HttpMethod.Post, $"/api/orgs/{start.OrgId}/api-keys",
            new { name = "assistant", permissions = KeyPermissions }, HttpStatusCode.Created);
        return new McpTenant(start, kb, source, key.GetProperty("key").GetProperty("id").GetGuid(), key.GetProperty("secret").GetString()!) { Email = email };
    }

    Task<McpTenant> AcmeAsync() => TenantAsync("ferries.md",
        "# Ferries\n\nThe ferry to the island leaves the harbour at nine in the morning and returns at five.\n");

    Task<McpTenant> GlobexAsync() => TenantAsync("secret-plans.md",
        "# Volcano lair\n\nThe volcano lair's monorail opens on the first of March; tell nobody about the shark tank.\n");

    /// <summary>The org's usage records once the answers the client asked for (ask, chat) are all written.</summary>
    async Task<List<UsageRecord>> UsageAsync(Guid orgId, int atLeast)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            await using var scope = _host.App.Services.CreateAsyncScope();
            var records = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AsNoTracking()
                .Where(r => r.OrganizationId == orgId).ToListAsync(Ct);
            if (records.Count >= atLeast || DateTimeOffset.UtcNow > deadline)
                return records;
            await Task.Delay(200, Ct);
        }
    }

    /// <summary>Runs mcp-client.mjs and reads the JSON line it printed.</summary>
    async Task<JsonElement> ClientAsync(string mode, IReadOnlyDictionary<string, string> environment, bool expectSuccess = true)
    {
        var env = new Dictionary<string, string>(environment) { ["MCP_URL"] = fixture.Mcp.AbsoluteUri };
        var run = await NodeClients.RunAsync("mcp/mcp-client.mjs", [mode], env);
        var lines = run.Stdout.Trim().Split('\n');
        Assert.True(lines[^1].StartsWith('{'), run.ToString());
        var seen = JsonDocument.Parse(lines[^1]).RootElement.Clone();
        if (expectSuccess)
            Assert.True(run.ExitCode == 0 && !seen.TryGetProperty("fatal", out _), run.ToString());
        return seen;
    }

    static string Calls(params object[] calls) => JsonSerializer.Serialize(calls);

    /// <summary>The client's record of a tool call, which must have succeeded (the client validates structured content against the tool's output schema).</summary>
    static JsonElement Succeeded(JsonElement seen, string name)
    {
        var call = seen.GetProperty("calls").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
        Assert.True(call.TryGetProperty("isError", out var isError) && !isError.GetBoolean(), call.ToString());
        return call;
    }

    /// <summary>Runs the inspector CLI's one method against /mcp with a bearer token and reads its JSON.</summary>
    async Task<(NodeResult Run, JsonElement? Output)> InspectorAsync(string bearer, params string[] method)
    {
        string[] args = [fixture.Mcp.AbsoluteUri, "--transport", "http", "--header", "Authorization: Bearer " + bearer, .. method];
        var run = await NodeClients.RunAsync("mcp/inspector.mjs", args);
        var start = run.Stdout.IndexOf('{');
        return (run, run.ExitCode == 0 && start >= 0 ? JsonDocument.Parse(run.Stdout[start..]).RootElement.Clone() : null);
    }

    static readonly string[] ServerTools = ["list_workspaces", "list_knowledge_bases", "search_knowledge", "ask", "get_source", "list_models", "chat"];

    /// <summary>The calls both modes make: every read tool, and a grounded question.</summary>
    static string KnowledgeCalls(McpTenant tenant) => Calls(
        new { name = "list_workspaces" },
        new { name = "list_knowledge_bases" },
        new { name = "search_knowledge", arguments = new { query = "When does the ferry to the island leave?", topK = 3 } },
        new { name = "ask", arguments = new { question = "When does the ferry to the island leave?" } },
        new { name = "get_source", arguments = new { sourceId = tenant.SourceId } },
        new { name = "list_models" },
        new { name = "chat", arguments = new { prompt = "Good morning, ferry", model = $"mock/{McpNodeFixture.Model}" } });

    /// <summary>What the org's tenant must see through list, search, ask, get_source and its one resource, and nothing of the other's.</summary>
    static void SawOwnKnowledgeOnly(JsonElement seen, McpTenant own, McpTenant other)
    {
        var tools = seen.GetProperty("tools").EnumerateArray().ToList();
        foreach (var name in ServerTools)
        {
            var tool = tools.SingleOrDefault(t => t.GetProperty("name").GetString() == name);
            Assert.True(tool.ValueKind == JsonValueKind.Object, $"{name} is not listed: {seen.GetProperty("tools")}");
            Assert.True(tool.GetProperty("hasOutputSchema").GetBoolean(), $"{name} declares no output schema");
        }

        var workspaces = Succeeded(seen, "list_workspaces").GetProperty("structuredContent");
        Assert.Equal(own.OrgId, workspaces.GetProperty("organizationId").GetGuid());
        Assert.Equal(own.WorkspaceId, Assert.Single(workspaces.GetProperty("workspaces").EnumerateArray()).GetProperty("id").GetGuid());

        var bases = Succeeded(seen, "list_knowledge_bases").GetProperty("structuredContent").GetProperty("knowledgeBases");
        Assert.Equal(own.KnowledgeBaseId, Assert.Single(bases.EnumerateArray()).GetProperty("id").GetGuid());

        var search = Succeeded(seen, "search_knowledge");
        var passages = search.GetProperty("structuredContent").GetProperty("passages").EnumerateArray().ToList();
        Assert.NotEmpty(passages);
        Assert.All(passages, p => Assert.Equal(own.SourceId, p.GetProperty("sourceId").GetGuid()));
        Assert.Contains("nine in the morning", passages[0].GetProperty("text").GetString());
        Assert.Equal(own.SourceUri, passages[0].GetProperty("uri").GetString());
        Assert.Contains("ferry", search.GetProperty("text").GetString(), StringComparison.OrdinalIgnoreCase);

        var ask = Succeeded(seen, "ask").GetProperty("structuredContent");
        Assert.False(ask.GetProperty("retrievalOnly").GetBoolean(), ask.ToString());
        Assert.False(string.IsNullOrWhiteSpace(ask.GetProperty("answer").GetString()));
        Assert.Equal(own.SourceId, ask.GetProperty("citations").EnumerateArray().First().GetProperty("sourceId").GetGuid());

        var source = Succeeded(seen, "get_source").GetProperty("structuredContent");
        Assert.Contains("nine in the morning", source.GetProperty("text").GetString());

        Assert.Contains(Succeeded(seen, "list_models").GetProperty("structuredContent").GetProperty("models").EnumerateArray(),
            m => m.GetProperty("name").GetString() == $"mock/{McpNodeFixture.Model}");
        var chat = Succeeded(seen, "chat");
        Assert.Equal("You said: Good morning, ferry", chat.GetProperty("structuredContent").GetProperty("text").GetString());
        Assert.True(chat.GetProperty("structuredContent").GetProperty("inputTokens").GetInt64() > 0, chat.ToString());

        var resources = seen.GetProperty("resources").EnumerateArray().Select(r => r.GetProperty("uri").GetString()).ToList();
        Assert.Equal([own.SourceUri], resources);
        var reads = seen.GetProperty("reads").EnumerateArray().ToList();
        Assert.Contains("nine in the morning", reads.Single(r => r.GetProperty("uri").GetString() == own.SourceUri).GetProperty("contents")[0].GetProperty("text").GetString());
        var foreign = reads.Single(r => r.GetProperty("uri").GetString() == other.SourceUri);
        Assert.True(foreign.TryGetProperty("error", out _), foreign.ToString());

        var everything = seen.ToString();
        foreach (var secret in new[] { other.OrgId.ToString(), other.WorkspaceId.ToString(), other.KnowledgeBaseId.ToString(), "volcano", "shark" })
            Assert.DoesNotContain(secret, everything.Replace(other.SourceUri, "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task The_npm_client_with_a_key_lists_calls_and_reads_its_own_orgs_knowledge_and_nothing_of_another_org()
    {
        var acme = await AcmeAsync();
        var globex = await GlobexAsync();

        var seen = await ClientAsync("key", new Dictionary<string, string>
        {
            ["MCP_KEY"] = acme.Key,
            ["MCP_CALLS"] = KnowledgeCalls(acme),
            ["MCP_READ"] = JsonSerializer.Serialize(new[] { globex.SourceUri }),
        });

        Assert.Equal("AiHub", seen.GetProperty("server").GetProperty("name").GetString());
        SawOwnKnowledgeOnly(seen, acme, globex);

        // ask and chat each called a model: both are charged to the org and tagged as MCP calls made with the key.
        var usage = (await UsageAsync(acme.OrgId, atLeast: 2)).Where(r => r.Model.EndsWith(McpNodeFixture.Model, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, usage.Count);
        Assert.All(usage, r => Assert.Equal((UsageChannels.Mcp, acme.KeyId), (r.Channel, r.ApiKeyId)));
    }

    [Fact]
    public async Task The_npm_client_runs_the_whole_OAuth_flow_headless_and_a_revoked_grant_stops_its_next_call()
    {
        var acme = await AcmeAsync();
        var globex = await GlobexAsync();
        var apiLogin = await IdentityHost.LoginAsync(fixture.Host.App.CreateClient(), acme.Email);

        var seen = await ClientAsync("oauth", new Dictionary<string, string>
        {
            ["AIHUB_URL"] = fixture.Root.AbsoluteUri,
            ["AIHUB_EMAIL"] = acme.Email,
            ["AIHUB_PASSWORD"] = IdentityHost.Password,
            ["AIHUB_TOKEN"] = apiLogin.AccessToken,
            ["MCP_ORG_ID"] = acme.OrgId.ToString(),
            ["MCP_CALLS"] = KnowledgeCalls(acme),
            ["MCP_READ"] = JsonSerializer.Serialize(new[] { globex.SourceUri }),
        });

        Assert.Equal(fixture.Mcp.AbsoluteUri, seen.GetProperty("protectedResource").GetProperty("resource").GetString());
        Assert.Equal("S256", seen.GetProperty("authorizeUrl").GetProperty("codeChallengeMethod").GetString());
        Assert.Equal(fixture.Mcp.AbsoluteUri, seen.GetProperty("authorizeUrl").GetProperty("resource").GetString());
        Assert.Equal(["registered", "authorize", "sign-in", "consent", "401", "tokens"], seen.GetProperty("steps").EnumerateArray().Select(s => s.GetString()));
        Assert.True(seen.GetProperty("consentPage").GetProperty("mentionsScopes").GetBoolean());
        Assert.True(seen.GetProperty("stateReturned").GetBoolean());
        Assert.True(seen.GetProperty("hasRefreshToken").GetBoolean());
        SawOwnKnowledgeOnly(seen, acme, globex);

        Assert.Equal(acme.OrgId, Assert.Single(seen.GetProperty("connectedApps").EnumerateArray()).GetProperty("organizationId").GetGuid());
        Assert.Equal(204, seen.GetProperty("revokeStatus").GetInt32());
        Assert.Equal(401, seen.GetProperty("afterRevoke").GetProperty("status").GetInt32());
        Assert.Contains("resource_metadata=", seen.GetProperty("afterRevoke").GetProperty("wwwAuthenticate").GetString());
        Assert.Equal("invalid_grant", seen.GetProperty("refreshAfterRevoke").GetProperty("error").GetString());

        var usage = (await UsageAsync(acme.OrgId, atLeast: 2)).Where(r => r.Model.EndsWith(McpNodeFixture.Model, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, usage.Count);
        Assert.All(usage, r => Assert.Equal(UsageChannels.Mcp, r.Channel));
        Assert.All(usage, r => Assert.StartsWith("mcp_", r.ClientId));
    }

    [Fact]
    public async Task A_revoked_key_is_refused_by_the_npm_client_on_its_next_call()
    {
        var acme = await AcmeAsync();
        var env = new Dictionary<string, string> { ["MCP_KEY"] = acme.Key, ["MCP_CALLS"] = Calls(new { name = "list_workspaces" }) };
        await ClientAsync("key", env);

        await SendAsync(acme.Start.Client, acme.Start.Owner, HttpMethod.Delete, $"/api/orgs/{acme.OrgId}/api-keys/{acme.KeyId}", expected: HttpStatusCode.NoContent);

        var refused = await ClientAsync("key", env, expectSuccess: false);
        Assert.Contains("401", refused.GetProperty("fatal").GetProperty("message").GetString());
    }

    [Fact]
    public async Task The_inspector_cli_lists_the_tools_and_calls_list_workspaces_for_the_keys_org()
    {
        var acme = await AcmeAsync();
        var globex = await GlobexAsync();

        var (listRun, list) = await InspectorAsync(acme.Key, "--method", "tools/list");
        Assert.True(list is not null, listRun.ToString());
        var tools = list.Value.GetProperty("tools").EnumerateArray().ToList();
        var listWorkspaces = tools.Single(t => t.GetProperty("name").GetString() == "list_workspaces");
        Assert.Equal("object", listWorkspaces.GetProperty("inputSchema").GetProperty("type").GetString());
        Assert.True(listWorkspaces.GetProperty("annotations").GetProperty("readOnlyHint").GetBoolean());

        var (callRun, call) = await InspectorAsync(globex.Key, "--method", "tools/call", "--tool-name", "list_workspaces");
        Assert.True(call is not null, callRun.ToString());
        Assert.False(call.Value.TryGetProperty("isError", out var isError) && isError.GetBoolean(), call.Value.ToString());
        var structured = call.Value.GetProperty("structuredContent");
        Assert.Equal(globex.OrgId, structured.GetProperty("organizationId").GetGuid());
        Assert.DoesNotContain(acme.WorkspaceId.ToString(), call.Value.ToString());

        var (refusedRun, refused) = await InspectorAsync("ahk_aaaaaaaa_" + new string('A', 43), "--method", "tools/list");
        Assert.Null(refused);
        Assert.NotEqual(0, refusedRun.ExitCode);
        Assert.Contains("401", refusedRun.Stderr + refusedRun.Stdout);
    }
}

public sealed class McpNodeClientTestsOnSqlite(SqliteMcpNodeFixture fixture) : McpNodeClientTests(fixture), IClassFixture<SqliteMcpNodeFixture>;
