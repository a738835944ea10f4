using System.Net;
using System.Text;
using System.Text.Json;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Gateway;
using AiHub.IntegrationTests.Knowledge;
using AiHub.IntegrationTests.Support;
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
        var settings = await TestEmbeddings.SettingsAsync(index: 1);
        settings["Providers:0:Name"] = "mock";
        settings["Providers:0:Kind"] = "OpenAICompatible";
        settings["Providers:0:BaseUrl"] = Fake.OpenAiEndpoint.AbsoluteUri;
        settings["Providers:0:ApiKey"] = "test-key";
        settings["Providers:0:Models:0"] = Model;
        settings["Blobs:Path"] = _blobs;
        settings["Knowledge:EmbeddingBatchSize"] = "16";
        settings["Chat:Timeouts:FirstToken"] = "00:01:00";
        settings["Chat:Retry:MaxAttempts"] = "1";
        Host = await IdentityHost.StartAsync(provider, settings);
        Host.App.UseKestrel(0);
        Host.App.StartServer();
        using var client = Host.App.CreateClient();
        Root = client.BaseAddress!;
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

    [Fact]
    public async Task The_npm_client_with_a_key_lists_the_tools_and_sees_its_own_orgs_workspaces_only()
    {
        var acme = await AcmeAsync();
        await GlobexAsync();

        var seen = await ClientAsync("key", new Dictionary<string, string>
        {
            ["MCP_KEY"] = acme.Key,
            ["MCP_CALLS"] = Calls(new { name = "list_workspaces" }),
        });

        Assert.Equal("AiHub", seen.GetProperty("server").GetProperty("name").GetString());
        var tool = seen.GetProperty("tools").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "list_workspaces");
        Assert.True(tool.GetProperty("hasOutputSchema").GetBoolean(), "list_workspaces declares no output schema");
        var call = Succeeded(seen, "list_workspaces");
        var structured = call.GetProperty("structuredContent");
        Assert.Equal(acme.OrgId, structured.GetProperty("organizationId").GetGuid());
        Assert.Equal(acme.WorkspaceId, Assert.Single(structured.GetProperty("workspaces").EnumerateArray()).GetProperty("id").GetGuid());
        Assert.Contains(acme.WorkspaceId.ToString(), call.GetProperty("text").GetString());
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
