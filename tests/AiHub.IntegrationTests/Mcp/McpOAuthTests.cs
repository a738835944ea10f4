using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using ModelContextProtocol.Client;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>AiHub on Kestrel with a real database, for the OAuth tests; one host for a class.</summary>
public sealed class McpOAuthHost : IAsyncLifetime
{
    public McpOAuthFlow Flow { get; private set; } = null!;

    IdentityHost _host = null!;

    public static async Task<(IdentityHost Host, McpOAuthFlow Flow)> StartAsync(string provider)
    {
        var host = await IdentityHost.StartAsync(provider);
        host.App.UseKestrel(0);
        host.App.StartServer();
        using var client = host.App.CreateClient();
        return (host, new McpOAuthFlow(host, client.BaseAddress!));
    }

    public async ValueTask InitializeAsync() => (_host, Flow) = await StartAsync("Sqlite");

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();
}

/// <summary>The whole OAuth 2.1 flow of a remote MCP connector, from discovery to revocation, on both databases.</summary>
public sealed class McpOAuthFlowTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task A_connector_discovers_registers_is_consented_calls_refreshes_and_stops_when_revoked(string provider)
    {
        var (host, flow) = await McpOAuthHost.StartAsync(provider);
        await using var _ = host;
        var http = flow.Http;

        // Discovery: the 401 points at the resource metadata, which names the authorization server.
        using (var anonymous = await flow.RawMcpAsync(null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.Equal("Bearer resource_metadata=\"https://aihub.test/.well-known/oauth-protected-resource/mcp\"", anonymous.Headers.WwwAuthenticate.ToString());
            Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        }
        var resource = await http.GetFromJsonAsync<JsonElement>("/.well-known/oauth-protected-resource/mcp", Ct);
        Assert.Equal(McpOAuthFlow.Resource, resource.GetProperty("resource").GetString());
        Assert.Equal(["header"], resource.GetProperty("bearer_methods_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("offline_access", resource.GetProperty("scopes_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(resource.GetProperty("resource").GetString(), (await http.GetFromJsonAsync<JsonElement>("/.well-known/oauth-protected-resource", Ct)).GetProperty("resource").GetString());
        var issuer = resource.GetProperty("authorization_servers")[0].GetString()!;
        var metadata = await http.GetFromJsonAsync<JsonElement>("/.well-known/oauth-authorization-server", Ct);
        Assert.Equal(issuer, metadata.GetProperty("issuer").GetString());
        Assert.Equal("https://aihub.test/oauth/authorize", metadata.GetProperty("authorization_endpoint").GetString());
        Assert.Equal("https://aihub.test/oauth/token", metadata.GetProperty("token_endpoint").GetString());
        Assert.Equal("https://aihub.test/oauth/revoke", metadata.GetProperty("revocation_endpoint").GetString());
        Assert.Equal("https://aihub.test/oauth/register", metadata.GetProperty("registration_endpoint").GetString());
        Assert.Equal(["S256"], metadata.GetProperty("code_challenge_methods_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("refresh_token", metadata.GetProperty("grant_types_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("workspaces:read", metadata.GetProperty("scopes_supported").EnumerateArray().Select(e => e.GetString()));

        // The user: an org of their own, and a browser that is not signed in yet.
        var email = await host.RegisterVerifiedAsync(http);
        var tokens = await IdentityHost.LoginAsync(http, email);
        var orgId = await CreateOrgAsync(http, tokens, "Acme");

        var clientId = await flow.RegisterPublicClientAsync("Desktop Assistant");
        var (verifier, challenge) = McpOAuthFlow.Pkce();
        var authorize = McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read offline_access");
        using (var signedOut = await new BrowserSession(http).SendAsync(new HttpRequestMessage(HttpMethod.Get, authorize)))
        {
            Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
            Assert.Equal("/account/login?returnUrl=" + Uri.EscapeDataString(authorize), signedOut.Headers.Location!.OriginalString);
        }
        var browser = await BrowserSession.SignInAsync(http, email);
        var consent = await browser.PageAsync((await ConsentLocationAsync(browser, authorize)));
        Assert.Contains("Desktop Assistant", consent);
        Assert.Contains("See the organisation", consent);
        Assert.Contains("Acme", consent);
        var redirect = await McpOAuthFlow.ConsentAsync(browser, authorize, orgId);
        Assert.StartsWith(McpOAuthFlow.Redirect + "?", redirect.AbsoluteUri, StringComparison.Ordinal);
        var (status, body) = await flow.ExchangeAsync(clientId, McpOAuthFlow.CodeOf(redirect), verifier);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        var access = body.GetProperty("access_token").GetString()!;
        var refresh = body.GetProperty("refresh_token").GetString()!;

        await using (var mcp = await flow.McpAsync(access))
        {
            var result = await mcp.CallToolAsync("list_workspaces", cancellationToken: Ct);
            Assert.NotEqual(true, result.IsError);
            Assert.Equal(orgId, JsonSerializer.SerializeToElement(result.StructuredContent).GetProperty("organizationId").GetGuid());
        }

        // Refresh tokens rotate: each exchange gives a new one; a replayed old one is refused and ends the chain.
        var (refreshed, pair) = await flow.RefreshAsync(clientId, refresh);
        Assert.True(refreshed == HttpStatusCode.OK, pair.ToString());
        var newRefresh = pair.GetProperty("refresh_token").GetString()!;
        Assert.NotEqual(refresh, newRefresh);
        (refreshed, pair) = await flow.RefreshAsync(clientId, newRefresh);
        Assert.True(refreshed == HttpStatusCode.OK, pair.ToString());
        var latest = pair.GetProperty("refresh_token").GetString()!;
        var (replayed, replay) = await flow.RefreshAsync(clientId, refresh);
        Assert.Equal(HttpStatusCode.BadRequest, replayed);
        Assert.Equal("invalid_grant", replay.GetProperty("error").GetString());
        Assert.Equal("invalid_grant", (await flow.RefreshAsync(clientId, latest)).Body.GetProperty("error").GetString());

        // A new connection, then revoked from the account.
        var (connectorClientId, access2, refresh2) = await flow.ConnectAsync(browser, orgId, "workspaces:read offline_access", clientName: "Second Assistant");
        access = access2;
        newRefresh = refresh2!;
        var grantId = Assert.Single((await SendAsync(http, tokens, HttpMethod.Get, "/api/me/connected-apps")).EnumerateArray(),
            a => a.GetProperty("clientName").GetString() == "Second Assistant").GetProperty("id").GetString()!;

        // The account lists the app and revokes it: the next call and the next refresh are refused.
        var apps = await SendAsync(http, tokens, HttpMethod.Get, "/api/me/connected-apps");
        var app = Assert.Single(apps.EnumerateArray(), a => a.GetProperty("id").GetString() == grantId);
        Assert.Equal("Acme", app.GetProperty("organizationName").GetString());
        Assert.Equal(["workspaces:read", "offline_access"], app.GetProperty("scopes").EnumerateArray().Select(e => e.GetString()));
        using (var stillWorks = await flow.RawMcpAsync(access))
            Assert.Equal(HttpStatusCode.OK, stillWorks.StatusCode);
        await SendAsync(http, tokens, HttpMethod.Delete, $"/api/me/connected-apps/{app.GetProperty("id").GetString()}", expected: HttpStatusCode.NoContent);
        using (var revoked = await flow.RawMcpAsync(access))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, revoked.StatusCode);
            Assert.StartsWith("Bearer resource_metadata=\"https://aihub.test/.well-known/oauth-protected-resource/mcp\"", revoked.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }
        var (afterRevoke, error) = await flow.RefreshAsync(connectorClientId, newRefresh);
        Assert.Equal(HttpStatusCode.BadRequest, afterRevoke);
        Assert.Equal("invalid_grant", error.GetProperty("error").GetString());
        Assert.DoesNotContain((await SendAsync(http, tokens, HttpMethod.Get, "/api/me/connected-apps")).EnumerateArray(), a => a.GetProperty("id").GetString() == grantId);
        var activity = await SendAsync(http, tokens, HttpMethod.Get, $"/api/orgs/{orgId}/activity");
        var kinds = JsonSerializer.Serialize(activity);
        Assert.Contains("mcp.oauth_granted", kinds);
        Assert.Contains("mcp.oauth_revoked", kinds);
    }

    static async Task<string> ConsentLocationAsync(BrowserSession browser, string authorize)
    {
        using var response = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get, authorize));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return response.Headers.Location!.OriginalString;
    }
}

/// <summary>What a connector, a page or a stolen token must not get away with.</summary>
public sealed class McpOAuthAttackTests(McpOAuthHost fixture) : IClassFixture<McpOAuthHost>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    McpOAuthFlow Flow => fixture.Flow;

    [Fact]
    public async Task A_wrong_code_verifier_or_a_reused_code_gets_no_token()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var clientId = await Flow.RegisterPublicClientAsync();

        var (verifier, challenge) = McpOAuthFlow.Pkce();
        var code = McpOAuthFlow.CodeOf(await McpOAuthFlow.ConsentAsync(browser, McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read"), orgId));
        var (wrong, wrongBody) = await Flow.ExchangeAsync(clientId, code, McpOAuthFlow.Pkce().Verifier);
        Assert.Equal(HttpStatusCode.BadRequest, wrong);
        Assert.Equal("invalid_grant", wrongBody.GetProperty("error").GetString());

        (verifier, challenge) = McpOAuthFlow.Pkce();
        code = McpOAuthFlow.CodeOf(await McpOAuthFlow.ConsentAsync(browser, McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read"), orgId));
        var (first, _) = await Flow.ExchangeAsync(clientId, code, verifier);
        Assert.Equal(HttpStatusCode.OK, first);
        var (again, againBody) = await Flow.ExchangeAsync(clientId, code, verifier);
        Assert.Equal(HttpStatusCode.BadRequest, again);
        Assert.Equal("invalid_grant", againBody.GetProperty("error").GetString());
    }

    [Fact]
    public async Task An_authorize_request_without_PKCE_or_to_an_unregistered_redirect_or_another_resource_is_refused_without_a_redirect_there()
    {
        var (_, _, browser) = await Flow.UserAsync();
        var clientId = await Flow.RegisterPublicClientAsync();
        var (_, challenge) = McpOAuthFlow.Pkce();

        foreach (var path in new[]
                 {
                     McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read", redirect: "https://evil.example/callback"),
                     McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read", redirect: McpOAuthFlow.Redirect + "/other"),
                 })
        {
            using var response = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get, path));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Null(response.Headers.Location);
        }

        // Refused before any consent page: an error page, or the error sent back to the registered redirect URI.
        using (var noPkce = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get,
                   McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read").Replace("&code_challenge_method=S256", "").Replace("code_challenge=" + challenge, "code_challenge="))))
            Assert.Contains("invalid_request", await ErrorOfAsync(noPkce));
        using (var plain = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get,
                   McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read").Replace("code_challenge_method=S256", "code_challenge_method=plain"))))
            Assert.Contains("invalid_request", await ErrorOfAsync(plain));
        using (var otherResource = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get,
                   McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read", resource: "https://elsewhere.example/mcp"))))
            Assert.Contains("invalid_target", await ErrorOfAsync(otherResource));
    }

    [Fact]
    public async Task A_code_is_redeemed_only_with_the_redirect_uri_it_was_issued_for()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var clientId = (await Flow.RegisterAsync(new
        {
            redirect_uris = new[] { McpOAuthFlow.Redirect, "https://app.example/callback" },
            token_endpoint_auth_method = "none",
            client_name = "Two Redirects",
        })).GetProperty("client_id").GetString()!;
        var (verifier, challenge) = McpOAuthFlow.Pkce();
        var code = McpOAuthFlow.CodeOf(await McpOAuthFlow.ConsentAsync(browser, McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read"), orgId));
        var (status, body) = await Flow.ExchangeAsync(clientId, code, verifier, redirect: "https://app.example/callback");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_grant", body.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("javascript:alert(1)")]
    [InlineData("http://app.example/callback")]
    [InlineData("https://app.example/callback#token")]
    [InlineData("custom-scheme:/callback")]
    [InlineData("not a uri")]
    public async Task A_registration_with_an_unsafe_redirect_uri_is_refused(string redirect)
    {
        var error = await Flow.RegisterAsync(new { redirect_uris = new[] { redirect }, token_endpoint_auth_method = "none" }, HttpStatusCode.BadRequest);
        Assert.Equal("invalid_redirect_uri", error.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("error_description").GetString()));
    }

    static readonly string[] AppRedirect = ["https://app.example/cb"];
    static readonly string[] ClientCredentials = ["client_credentials"];
    static readonly string[] WebRedirects = ["https://app.example/cb", "http://localhost:3000/cb", "http://[::1]:8080/cb"];
    static readonly string[] LoopbackRedirect = ["http://127.0.0.1:9999/cb"];

    [Fact]
    public async Task A_registration_is_checked_and_a_confidential_client_gets_a_secret()
    {
        Assert.Equal("invalid_client_metadata", (await Flow.RegisterAsync(new { redirect_uris = AppRedirect, grant_types = ClientCredentials }, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        Assert.Equal("invalid_client_metadata", (await Flow.RegisterAsync(new { redirect_uris = AppRedirect, token_endpoint_auth_method = "private_key_jwt" }, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        Assert.Equal("invalid_redirect_uri", (await Flow.RegisterAsync(new { client_name = "No redirects" }, HttpStatusCode.BadRequest)).GetProperty("error").GetString());
        using (var huge = await Flow.Http.PostAsync("/oauth/register", new StringContent(JsonSerializer.Serialize(new { redirect_uris = AppRedirect, client_name = new string('x', 40_000) }), System.Text.Encoding.UTF8, "application/json"), Ct))
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);

        var confidential = await Flow.RegisterAsync(new { redirect_uris = WebRedirects, client_name = "Web Connector" });
        Assert.Equal("client_secret_basic", confidential.GetProperty("token_endpoint_auth_method").GetString());
        Assert.True(confidential.GetProperty("client_secret").GetString()!.Length >= 40);
        var publicClient = await Flow.RegisterAsync(new { redirect_uris = LoopbackRedirect, token_endpoint_auth_method = "none" });
        Assert.False(publicClient.TryGetProperty("client_secret", out _));
    }

    [Fact]
    public async Task A_token_for_one_org_sees_only_that_org()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgA = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var orgB = await CreateOrgAsync(Flow.Http, tokens, "Globex");
        await CreateAsync(Flow.Http, tokens, orgB, "workspaces", new { name = "Globex secrets" });
        var (_, access, _) = await Flow.ConnectAsync(browser, orgA, "workspaces:read");

        await using var mcp = await Flow.McpAsync(access);
        var result = await mcp.CallToolAsync("list_workspaces", cancellationToken: Ct);
        var structured = JsonSerializer.SerializeToElement(result.StructuredContent);
        Assert.Equal(orgA, structured.GetProperty("organizationId").GetGuid());
        Assert.DoesNotContain("Globex", JsonSerializer.Serialize(result));
    }

    [Fact]
    public async Task A_connectors_token_opens_mcp_alone_not_the_org_api_the_gateway_or_the_account()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var (_, access, _) = await Flow.ConnectAsync(browser, orgId, "workspaces:read chat:use");

        foreach (var (method, path) in new[]
                 {
                     (HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"),
                     (HttpMethod.Get, "/api/me/connected-apps"),
                     (HttpMethod.Get, "/v1/models"),
                 })
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", access);
            using var response = await Flow.Http.SendAsync(request, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{path} answered {(int)response.StatusCode} to a connector's token");
        }
        using var mcp = await Flow.RawMcpAsync(access);
        Assert.Equal(HttpStatusCode.OK, mcp.StatusCode);
    }

    [Fact]
    public async Task A_grant_bound_to_one_workspace_sees_only_that_workspace_and_the_account_says_so()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var research = await CreateAsync(Flow.Http, tokens, orgId, "workspaces", new { name = "Research" });
        var (_, access, _) = await Flow.ConnectAsync(browser, orgId, "workspaces:read", workspaceId: research);

        await using var mcp = await Flow.McpAsync(access);
        var structured = JsonSerializer.SerializeToElement((await mcp.CallToolAsync("list_workspaces", cancellationToken: Ct)).StructuredContent);
        Assert.Equal(research, Assert.Single(structured.GetProperty("workspaces").EnumerateArray()).GetProperty("id").GetGuid());
        var app = Assert.Single((await SendAsync(Flow.Http, tokens, HttpMethod.Get, "/api/me/connected-apps")).EnumerateArray());
        Assert.Equal("Research", app.GetProperty("workspaceName").GetString());
    }

    [Fact]
    public async Task The_revocation_endpoint_ends_a_refresh_token_while_the_grant_lives_on()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var (clientId, access, refresh) = await Flow.ConnectAsync(browser, orgId, "workspaces:read offline_access");

        using var revoked = await Flow.Http.PostAsync("/oauth/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = refresh!,
            ["token_type_hint"] = "refresh_token",
            ["client_id"] = clientId,
        }), Ct);
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.Equal("invalid_grant", (await Flow.RefreshAsync(clientId, refresh!)).Body.GetProperty("error").GetString());
        using var call = await Flow.RawMcpAsync(access);
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
    }

    [Fact]
    public async Task A_token_stops_working_when_its_user_is_removed_from_the_org()
    {
        var (_, ownerTokens, _) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, ownerTokens, "Acme");
        var (email, memberTokens, browser) = await Flow.UserAsync();
        await JoinAsync(Flow.Host, Flow.Http, ownerTokens, orgId, email, memberTokens);
        var (_, access, _) = await Flow.ConnectAsync(browser, orgId, "workspaces:read");

        await using (var before = await Flow.McpAsync(access))
            Assert.NotEqual(true, (await before.CallToolAsync("list_workspaces", cancellationToken: Ct)).IsError);

        await SendAsync(Flow.Http, ownerTokens, HttpMethod.Delete, $"/api/orgs/{orgId}/members/{UserIdOf(memberTokens)}", expected: HttpStatusCode.NoContent);
        await using var after = await Flow.McpAsync(access);
        var refused = await CallRefusedAsync(after, "list_workspaces");
        Assert.Contains("member left", refused);
    }

    [Fact]
    public async Task A_token_without_a_scope_cannot_use_the_permission_even_when_the_role_has_it()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var (_, access, refresh) = await Flow.ConnectAsync(browser, orgId, "chat:use");
        Assert.Null(refresh);

        await using var mcp = await Flow.McpAsync(access);
        Assert.Contains("workspaces:read", await CallRefusedAsync(mcp, "list_workspaces"));
    }

    [Fact]
    public async Task A_forged_or_altered_token_is_refused_with_401()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var (_, access, _) = await Flow.ConnectAsync(browser, orgId, "workspaces:read");
        var parts = access.Split('.');
        var middle = parts[3].ToCharArray();
        middle[middle.Length / 2] = middle[middle.Length / 2] == 'A' ? 'B' : 'A';
        parts[3] = new string(middle);

        foreach (var token in new[] { string.Join('.', parts), tokens.AccessToken, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." })
        {
            using var response = await Flow.RawMcpAsync(token);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
        }
    }

    [Fact]
    public async Task Denying_sends_the_browser_back_with_access_denied_and_grants_nothing()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var clientId = await Flow.RegisterPublicClientAsync();
        var (_, challenge) = McpOAuthFlow.Pkce();
        var redirect = await McpOAuthFlow.ConsentAsync(browser, McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read"), orgId, decision: "deny");
        Assert.StartsWith(McpOAuthFlow.Redirect, redirect.AbsoluteUri, StringComparison.Ordinal);
        Assert.Contains("error=access_denied", redirect.Query);
        Assert.DoesNotContain("code=", redirect.Query);
        Assert.Empty((await SendAsync(Flow.Http, tokens, HttpMethod.Get, "/api/me/connected-apps")).EnumerateArray());
    }

    [Fact]
    public async Task The_consent_form_needs_its_antiforgery_token_and_an_org_of_the_user()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var (_, strangerTokens, _) = await Flow.UserAsync();
        var strangersOrg = await CreateOrgAsync(Flow.Http, strangerTokens, "Not yours");
        var clientId = await Flow.RegisterPublicClientAsync();
        var (_, challenge) = McpOAuthFlow.Pkce();
        var query = new Uri(new Uri("https://x"), McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read")).Query;
        var fields = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(query).ToDictionary(p => p.Key, p => p.Value.ToString());
        fields["aihub_org"] = strangersOrg.ToString();
        fields["aihub_decision"] = "allow";
        using (var forged = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/oauth/authorize") { Content = new FormUrlEncodedContent(fields) }))
        {
            Assert.True(forged.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden, $"{(int)forged.StatusCode}");
            Assert.Null(forged.Headers.Location);
        }

        await Assert.ThrowsAnyAsync<Exception>(() => McpOAuthFlow.ConsentAsync(browser, McpOAuthFlow.AuthorizePath(clientId, challenge, "workspaces:read"), strangersOrg));
        Assert.Empty((await SendAsync(Flow.Http, tokens, HttpMethod.Get, "/api/me/connected-apps")).EnumerateArray());
    }

    [Fact]
    public async Task Only_the_user_who_granted_can_revoke()
    {
        var (_, tokens, browser) = await Flow.UserAsync();
        var (_, otherTokens, _) = await Flow.UserAsync();
        var orgId = await CreateOrgAsync(Flow.Http, tokens, "Acme");
        var (_, access, _) = await Flow.ConnectAsync(browser, orgId, "workspaces:read");
        var id = (await SendAsync(Flow.Http, tokens, HttpMethod.Get, "/api/me/connected-apps"))[0].GetProperty("id").GetString();

        await SendAsync(Flow.Http, otherTokens, HttpMethod.Delete, $"/api/me/connected-apps/{id}", expected: HttpStatusCode.NotFound);
        using var stillWorks = await Flow.RawMcpAsync(access);
        Assert.Equal(HttpStatusCode.OK, stillWorks.StatusCode);
    }

    static async Task<string> ErrorOfAsync(HttpResponseMessage response)
    {
        if (response.Headers.Location is { } location)
        {
            Assert.StartsWith(McpOAuthFlow.Redirect, location.OriginalString, StringComparison.Ordinal);
            return location.Query;
        }
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    static async Task<string> CallRefusedAsync(McpClient client, string tool)
    {
        try
        {
            var result = await client.CallToolAsync(tool, cancellationToken: Ct);
            Assert.True(result.IsError, "the call was not refused: " + JsonSerializer.Serialize(result));
            return JsonSerializer.Serialize(result);
        }
        catch (ModelContextProtocol.McpException e)
        {
            return e.Message;
        }
    }
}
