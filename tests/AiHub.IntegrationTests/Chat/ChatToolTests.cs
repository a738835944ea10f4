using System.ComponentModel;
using System.Net;
using AiHub.Chat.Tools;
using AiHub.Chat.Tools.WebSearch;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Chat.ChatToolCalls;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Chat;

/// <summary>A tool another feature registers: offered to people only, and bound to the call's org and user.</summary>
internal sealed class WhoAmITool : IChatTool
{
    public string Name => "who_am_i";

    public string Description => "Says which organisation and user the call is for.";

    public bool IsAvailable(ToolContext context) => context.ApiKeyId is null;

    public AIFunction Create(ToolContext context) =>
        AIFunctionFactory.Create(([Description("Any greeting.")] string greeting) => $"{greeting}: org {context.OrganizationId}, user {context.UserId}", Name, Description);
}

/// <summary>A second tool claiming a name already taken.</summary>
internal sealed class ImpostorSearchTool : IChatTool
{
    public string Name => "web_search";

    public string Description => "Not the real one.";

    public bool IsAvailable(ToolContext context) => true;

    public AIFunction Create(ToolContext context) => AIFunctionFactory.Create(() => "impostor", Name, Description);
}

/// <summary>Registering tools, choosing those a call may offer, and listing them for the caller.</summary>
public abstract class ChatToolTests(SearchHostFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly string[] ChatOnly = ["chat:use"];
    static readonly string[] ReadKeysOnly = ["api-keys:read"];

    IdentityHost Host => fixture.Host;

    [Fact]
    public async Task A_member_sees_web_search_and_the_registered_tools_with_their_descriptions()
    {
        using var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Tools");

        var tools = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/tools");

        Assert.Equal([("who_am_i", "Says which organisation and user the call is for."), ("web_search", WebSearchTool.About)],
            tools.EnumerateArray().Select(t => (t.GetProperty("name").GetString(), t.GetProperty("description").GetString())).OrderByDescending(t => t.Item1));
    }

    [Fact]
    public async Task An_api_key_with_chat_use_sees_only_the_tools_offered_to_keys_and_one_without_is_refused()
    {
        using var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Keys");
        var chatKey = await KeyAsync(client, owner, orgId, ChatOnly);
        var readKey = await KeyAsync(client, owner, orgId, ReadKeysOnly);

        using var listed = await GetAsync(client, chatKey, $"/api/orgs/{orgId}/tools");
        using var refused = await GetAsync(client, readKey, $"/api/orgs/{orgId}/tools");

        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        var names = System.Text.Json.JsonDocument.Parse(await listed.Content.ReadAsStringAsync(Ct)).RootElement.EnumerateArray().Select(t => t.GetProperty("name").GetString());
        Assert.Equal(["web_search"], names);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task A_registered_tool_is_offered_to_calls_and_bound_to_their_context()
    {
        var person = new ToolContext(Guid.NewGuid(), Guid.NewGuid(), null, null);
        var key = person with { ApiKeyId = Guid.NewGuid() };

        var forPerson = await ToolsAsync(Host, person);
        var forKey = await ToolsAsync(Host, key);
        var answer = await InvokeAsync(Host, "who_am_i", new AIFunctionArguments { ["greeting"] = "hi" }, person);

        Assert.Equal(["web_search", "who_am_i"], forPerson.Select(t => t.Name));
        Assert.Equal(["web_search"], forKey.Select(t => t.Name));
        Assert.Equal($"hi: org {person.OrganizationId}, user {person.UserId}", answer);
    }

    [Fact]
    public async Task Without_a_search_service_web_search_is_not_offered()
    {
        await using var host = await IdentityHost.StartAsync(fixture.Database);
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Offline");

        var tools = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/tools");

        Assert.Empty(tools.EnumerateArray());
        Assert.Empty(await ToolsAsync(host, AnyContext()));
    }

    [Fact]
    public async Task Two_tools_with_one_name_stop_the_start()
    {
        await using var host = await IdentityHost.StartAsync(fixture.Database, SearchHostFixture.Searxng.ToDictionary(s => s.Key, s => s.Key == "WebSearch:BaseUrl" ? "http://127.0.0.1:9/" : s.Value),
            services => services.AddChatTool<ImpostorSearchTool>());

        var error = Assert.ThrowsAny<Exception>(() => host.Client());

        Assert.Contains("'web_search' is registered 2 times", error.ToString(), StringComparison.Ordinal);
    }

    static async Task<string> KeyAsync(HttpClient client, AuthTokens owner, Guid orgId, string[] permissions) =>
        (await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "tools", permissions }, HttpStatusCode.Created))
            .GetProperty("secret").GetString()!;

    static async Task<HttpResponseMessage> GetAsync(HttpClient client, string apiKey, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new("Bearer", apiKey);
        return await client.SendAsync(request, Ct);
    }
}

public sealed class ToolsOnSqliteFixture() : SearchHostFixture("Sqlite", Searxng, s => s.AddChatTool<WhoAmITool>());

public sealed class ToolsOnPostgresFixture() : SearchHostFixture("Postgres", Searxng, s => s.AddChatTool<WhoAmITool>());

public sealed class ChatToolsOnSqlite(ToolsOnSqliteFixture fixture) : ChatToolTests(fixture), IClassFixture<ToolsOnSqliteFixture>;

public sealed class ChatToolsOnPostgres(ToolsOnPostgresFixture fixture) : ChatToolTests(fixture), IClassFixture<ToolsOnPostgresFixture>;
