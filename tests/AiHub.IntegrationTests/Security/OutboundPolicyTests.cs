using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using AiHub.Infrastructure.Outbound;
using AiHub.IntegrationTests.Chat;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Chat.ProviderTestSettings;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Security;

/// <summary>
/// An org's provider URL is fetched through the outbound policy, with private networks closed as they are by default:
/// what the policy refuses never reaches the listener behind it, and what the tenant reads names nothing of the target.
/// </summary>
public sealed class OutboundPolicyTests(OutboundPolicyFixture fixture) : IClassFixture<OutboundPolicyFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    readonly IdentityHost _host = fixture.Host;

    [Fact]
    public async Task A_base_url_on_loopback_a_private_network_metadata_or_another_scheme_is_refused_when_saved_naming_baseUrl()
    {
        var victim = fixture.Victim;
        using var client = _host.App.CreateClient();
        var owner = await _host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Refused");
        var kept = await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
            new { name = "kept", kind = "OpenAICompatible", baseUrl = "https://api.provider.test/v1", models = List("gpt-4o-mini") }, HttpStatusCode.Created);
        var keptId = kept.GetProperty("id").GetGuid();

        foreach (var url in new[]
        {
            $"http://127.0.0.1:{victim.Port}/v1", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/v1", "http://192.168.1.10:11434/v1",
            "http://100.64.0.1/v1", "http://[::1]/v1", $"http://[::ffff:127.0.0.1]:{victim.Port}/v1", "http://[fd00:ec2::254]/", "http://[fe80::1]/v1",
            "http://0.0.0.0/v1", $"http://localhost:{victim.Port}/v1", $"http://aihub.localhost:{victim.Port}/v1", "ftp://api.provider.test/v1",
            "file:///etc/passwd", "https://user:pass@api.provider.test/v1",
        })
        {
            using var created = await client.SendAsync(As(owner, HttpMethod.Post, $"/api/orgs/{orgId}/providers",
                new { name = "evil", kind = "OpenAICompatible", baseUrl = url, models = List("gpt-4o-mini") }), Ct);
            using var changed = await client.SendAsync(As(owner, HttpMethod.Patch, $"/api/orgs/{orgId}/providers/{keptId}", new { baseUrl = url }), Ct);

            Assert.True(created.StatusCode == HttpStatusCode.BadRequest, url);
            Assert.True((await ProblemAsync(created)).GetProperty("errors").TryGetProperty("baseUrl", out _), url);
            Assert.True(changed.StatusCode == HttpStatusCode.BadRequest, url);
            Assert.True((await ProblemAsync(changed)).GetProperty("errors").TryGetProperty("baseUrl", out _), url);
        }

        var listed = Assert.Single((await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/providers")).EnumerateArray());
        Assert.Equal("https://api.provider.test/v1", listed.GetProperty("baseUrl").GetString());
        Assert.Equal(0, victim.Connections);
    }

    [Fact]
    public async Task A_host_name_that_resolves_to_loopback_is_refused_at_connect_and_the_tenant_reads_only_that_the_provider_could_not_be_reached()
    {
        var space = await SpaceAsync($"http://rebind.provider.test:{fixture.Victim.Port}/v1");

        var events = await ChatAsync(space);

        var error = events.Single(e => e.Event == "error").Data;
        Assert.Equal("The provider could not be reached.", error.GetProperty("detail").GetString());
        Assert.DoesNotContain("rebind", error.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Victim.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(0, fixture.Victim.Connections);
        await ChatStreamTests.AssertAllSettledAsync(_host, space.OrgId);
    }

    [Fact]
    public async Task A_public_host_that_redirects_to_loopback_is_not_followed_and_its_status_and_body_are_not_shown()
    {
        var before = fixture.Redirector.Connections;
        var space = await SpaceAsync($"http://api.provider.test:{fixture.Redirector.Port}/v1");

        var events = await ChatAsync(space);

        var error = events.Single(e => e.Event == "error").Data;
        Assert.Equal("The provider refused the request.", error.GetProperty("detail").GetString());
        Assert.DoesNotContain("307", error.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(OutboundPolicyFixture.UpstreamBody, error.GetRawText(), StringComparison.Ordinal);
        Assert.True(fixture.Redirector.Connections > before);
        Assert.Equal(0, fixture.Victim.Connections);
    }

    [Fact]
    public async Task The_named_outbound_client_refuses_a_loopback_literal_without_connecting()
    {
        using var http = _host.App.Services.GetRequiredService<IHttpClientFactory>().CreateClient(OutboundPolicy.ClientName);

        var refused = await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync($"http://127.0.0.1:{fixture.Victim.Port}/", Ct));

        Assert.True(OutboundRefusedException.Caused(refused));
        Assert.Equal(0, fixture.Victim.Connections);
    }

    async Task<ChatStreamTests.Space> SpaceAsync(string baseUrl)
    {
        var space = await ChatStreamTests.SpaceAsync(_host);
        await SendAsync(space.Client, space.Owner, HttpMethod.Post, $"/api/orgs/{space.OrgId}/providers",
            new { name = "own", kind = "OpenAICompatible", baseUrl, apiKey = "sk-tenant-key", models = List("gpt-4o-mini") }, HttpStatusCode.Created);
        return space;
    }

    static async Task<List<Sse>> ChatAsync(ChatStreamTests.Space space)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, space.Messages) { Content = JsonContent.Create(new { content = "Hello", model = "own/gpt-4o-mini" }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", space.Owner.AccessToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await space.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Ct);
        var events = new List<Sse>();
        await foreach (var e in ChatStreamTests.EventsAsync(response))
            events.Add(e);
        return events;
    }
}

/// <summary>
/// An AiHub with private networks closed, a victim listener on loopback, and a "public" host (a documentation address
/// the test's resolver hands out, carried to a local listener) that answers every request with a redirect to the victim.
/// </summary>
public sealed class OutboundPolicyFixture : IAsyncLifetime
{
    public const string UpstreamBody = "upstream-secret-body";

    public ProbeListener Victim { get; private set; } = null!;

    public ProbeListener Redirector { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Victim = ProbeListener.Silent();
        Redirector = ProbeListener.Answering(
            $"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{Victim.Port}/v1/chat/completions\r\nContent-Type: text/plain\r\n" +
            $"Content-Length: {UpstreamBody.Length}\r\nConnection: close\r\n\r\n{UpstreamBody}");
        var network = new PublicLookingNetwork(Redirector.Port);
        Host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["Outbound:AllowPrivateNetworks"] = "false",
            ["Chat:Retry:MaxAttempts"] = "1",
        }, s => s.AddSingleton<OutboundNetwork>(network));
        Host.App.UseKestrel(0);
        Host.App.StartServer();
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Victim.DisposeAsync();
        await Redirector.DisposeAsync();
    }

    /// <summary>api.provider.test is a public address that leads to the redirector; rebind.provider.test resolves to loopback.</summary>
    sealed class PublicLookingNetwork(int redirectorPort) : OutboundNetwork
    {
        static readonly IPAddress Public = IPAddress.Parse("203.0.113.7");

        public override Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) => host switch
        {
            "api.provider.test" => Task.FromResult<IPAddress[]>([Public]),
            "rebind.provider.test" => Task.FromResult<IPAddress[]>([IPAddress.Loopback]),
            _ => base.ResolveAsync(host, ct),
        };

        public override Task<Stream> ConnectAsync(IPEndPoint endpoint, CancellationToken ct) =>
            base.ConnectAsync(endpoint.Address.Equals(Public) ? new IPEndPoint(IPAddress.Loopback, redirectorPort) : endpoint, ct);
    }
}
