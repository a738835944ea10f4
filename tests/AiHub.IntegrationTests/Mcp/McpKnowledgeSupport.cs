using System.Net;
using System.Text;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Gateway;
using AiHub.IntegrationTests.Knowledge;
using AiHub.IntegrationTests.Support;
using ModelContextProtocol.Client;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>
/// Two AiHubs on Kestrel with the real embedding server: one whose chat models are the wire-exact fake, one with no
/// language model at all (the retrieval-only assistant).
/// </summary>
public abstract class McpKnowledgeFixture(string provider) : IAsyncLifetime
{
    public const string Model = SdkFixture.Gpt;

    public FakeLlm Fake { get; private set; } = null!;
    public IdentityHost Host { get; private set; } = null!;
    public Uri Root { get; private set; } = null!;
    public IdentityHost Bare { get; private set; } = null!;
    public Uri BareRoot { get; private set; } = null!;

    Task<KnowledgeWorld>? _world;

    /// <summary>The two orgs with knowledge that most tests read; built once, on first use.</summary>
    public Task<KnowledgeWorld> WorldAsync() => _world ??= KnowledgeWorld.BuildAsync(Host);

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        var settings = await TestEmbeddings.SettingsAsync(index: 1);
        settings.WithMockProvider(Fake, Model);
        settings["Chat:Timeouts:FirstToken"] = "00:00:05";
        settings["Chat:Retry:MaxAttempts"] = "1";
        (Host, Root) = await StartAsync(settings);
        (Bare, BareRoot) = await StartAsync(await TestEmbeddings.SettingsAsync());
    }

    async Task<(IdentityHost, Uri)> StartAsync(Dictionary<string, string?> settings)
    {
        var host = await IdentityHost.StartAsync(provider, settings);
        host.App.UseKestrel(0);
        host.App.StartServer();
        using var client = host.App.CreateClient();
        return (host, client.BaseAddress!);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Bare.DisposeAsync();
        await Fake.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteMcpKnowledgeFixture() : McpKnowledgeFixture("Sqlite");

public sealed class PostgresMcpKnowledgeFixture() : McpKnowledgeFixture("Postgres");

/// <summary>An org with a funded pool on the unlimited plan, its General workspace, and a knowledge base with an ingested handbook.</summary>
public sealed record KnowledgeOrg(KnowledgeStart Start, Guid KnowledgeBaseId, Guid HandbookId)
{
    public Guid OrgId => Start.OrgId;
    public Guid WorkspaceId => Start.WorkspaceId;
}

/// <summary>Org A (a General workspace with instructions and a handbook, and a Legal workspace with its own contract) and org B (its own handbook).</summary>
public sealed record KnowledgeWorld(KnowledgeOrg A, Guid LegalWorkspaceId, Guid LegalBaseId, Guid ContractId, KnowledgeOrg B)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public const string Handbook = """
        # Ferry handbook

        The morning ferry to Lindholm leaves the north pier at nine o'clock sharp, every day except Sunday.

        Bicycles travel free of charge; cars need a ticket bought at the harbour office before boarding.

        Pets must stay on a lead on the upper deck during the whole crossing.
        """;

    public const string Contract = """
        # Lease contract

        The tenant pays the quarterly rent of the warehouse by the fifth day of each quarter.
        """;

    public const string OtherHandbook = """
        # Globex onboarding

        The secret launch codename of the orbital greenhouse project is Marigold.
        """;

    public const string Instructions = "You answer as the Lindholm harbour's assistant, briefly and politely.";

    public static async Task<KnowledgeWorld> BuildAsync(IdentityHost host)
    {
        var a = await OrgAsync(host, "Harbour", Handbook);
        var legal = await CreateAsync(a.Start.Client, a.Start.Owner, a.OrgId, "workspaces", new { name = "Legal" });
        var legalStart = a.Start with { WorkspaceId = legal };
        var legalBase = await legalStart.CreateBaseAsync("Contracts", TestEmbeddings.ModelId);
        var contract = await legalStart.AddAsync(legalBase, "lease.md", Encoding.UTF8.GetBytes(Contract));
        await SendAsync(a.Start.Client, a.Start.Owner, HttpMethod.Put, $"/api/orgs/{a.OrgId}/workspaces/{a.WorkspaceId}/system-prompt", new { text = Instructions });
        var b = await OrgAsync(host, "Globex", OtherHandbook);
        await legalStart.CompletedAsync(contract);
        return new KnowledgeWorld(a, legal, legalBase, contract, b);
    }

    public static async Task<KnowledgeOrg> OrgAsync(IdentityHost host, string name, string handbook)
    {
        var client = host.App.CreateClient();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, name);
        await host.FundPoolAsync(orgId, SdkFixture.Funds);
        await GatewayTenants.OnUnlimitedPlanAsync(host, client, orgId);
        var workspaces = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
        var start = new KnowledgeStart(client, owner, orgId, workspaces.EnumerateArray().First().GetProperty("id").GetGuid());
        var kb = await start.CreateBaseAsync("Handbook", TestEmbeddings.ModelId);
        var source = await start.AddAsync(kb, "handbook.md", Encoding.UTF8.GetBytes(handbook));
        await start.CompletedAsync(source);
        return new KnowledgeOrg(start, kb, source);
    }

    /// <summary>A new key of the org's owner with <paramref name="permissions"/>, bound to <paramref name="workspaceId"/> when given.</summary>
    public static async Task<(Guid Id, string Secret)> KeyAsync(KnowledgeStart org, Guid? workspaceId, params string[] permissions)
    {
        var key = await SendAsync(org.Client, org.Owner, HttpMethod.Post, $"/api/orgs/{org.OrgId}/api-keys",
            new { name = "assistant", permissions, workspaceId }, HttpStatusCode.Created);
        return (key.GetProperty("key").GetProperty("id").GetGuid(), key.GetProperty("secret").GetString()!);
    }

    public static Task<McpClient> ConnectAsync(Uri root, string key) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(root, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key },
        }), cancellationToken: Ct);
}
