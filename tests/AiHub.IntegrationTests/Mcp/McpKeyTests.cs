using System.Net;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using ModelContextProtocol.Client;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>The MCP server at /mcp, reached with an org API key by the official C# client over Streamable HTTP.</summary>
public sealed class McpKeyTests : IAsyncLifetime
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    IdentityHost _host = null!;
    Uri _root = null!;

    public async ValueTask InitializeAsync()
    {
        _host = await IdentityHost.StartAsync("Sqlite");
        _host.App.UseKestrel(0);
        _host.App.StartServer();
        using var client = _host.App.CreateClient();
        _root = client.BaseAddress!;
    }

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    async Task<(Guid OrgId, string Key)> OrgWithKeyAsync(string name, params string[] permissions)
    {
        var client = _host.App.CreateClient();
        var owner = await _host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, name);
        var key = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "assistant", permissions }, HttpStatusCode.Created);
        return (orgId, key.GetProperty("secret").GetString()!);
    }

    Task<McpClient> ConnectAsync(string key) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(_root, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key },
        }), cancellationToken: Ct);

    [Fact]
    public async Task A_key_lists_the_tools_and_sees_its_own_orgs_workspaces_only()
    {
        var (orgA, keyA) = await OrgWithKeyAsync("Acme", "workspaces:read");
        await OrgWithKeyAsync("Globex", "workspaces:read");

        await using var client = await ConnectAsync(keyA);
        var tools = await client.ListToolsAsync(cancellationToken: Ct);
        Assert.Contains(tools, t => t.Name == "list_workspaces");

        var result = await client.CallToolAsync("list_workspaces", cancellationToken: Ct);
        Assert.NotEqual(true, result.IsError);
        var structured = JsonSerializer.SerializeToElement(result.StructuredContent);
        Assert.Equal(orgA, structured.GetProperty("organizationId").GetGuid());
        Assert.Equal("General", Assert.Single(structured.GetProperty("workspaces").EnumerateArray()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task No_key_or_a_wrong_one_is_refused_with_401()
    {
        using var http = new HttpClient { BaseAddress = _root };
        var body = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", System.Text.Encoding.UTF8, "application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = body };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var anonymous = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync("ahk_aaaaaaaa_" + new string('A', 43)));
    }
}
