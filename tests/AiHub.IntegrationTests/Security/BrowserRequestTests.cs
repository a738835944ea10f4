using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Security;

/// <summary>What another site can make a signed-in browser do: nothing that changes state, over the API, the sign-out form or the socket.</summary>
public sealed class BrowserRequestTests(SqliteIdentityFixture fixture) : IClassFixture<SqliteIdentityFixture>
{
    const string OwnOrigin = "https://localhost";
    const string ForeignOrigin = "https://evil.example";

    IdentityHost Host => fixture.Host;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static HttpRequestMessage CreateOrg(string name, string? origin = null, string? fetchSite = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/orgs") { Content = JsonContent.Create(new { name }) };
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        if (fetchSite is not null)
            request.Headers.Add("Sec-Fetch-Site", fetchSite);
        return request;
    }

    static async Task<string[]> OrgNamesAsync(HttpClient client, AuthTokens who) =>
        [.. (await SendAsync(client, who, HttpMethod.Get, "/api/orgs")).EnumerateArray().Select(o => o.GetProperty("name").GetString()!)];

    [Fact]
    public async Task A_cookie_request_from_another_site_or_from_nowhere_is_refused_and_changes_nothing()
    {
        using var client = Host.Client();
        var email = await Host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);
        var browser = await BrowserSession.SignInAsync(client, email);

        using var foreign = await browser.SendAsync(CreateOrg("Foreign", ForeignOrigin));
        using var nowhere = await browser.SendAsync(CreateOrg("Nowhere"));
        using var crossSite = await browser.SendAsync(CreateOrg("Cross site", fetchSite: "cross-site"));
        using var twoFactor = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/me/2fa/enable") { Headers = { { "Origin", ForeignOrigin } } });
        using var me = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/me"));

        foreach (var refused in new[] { foreign, nowhere, crossSite, twoFactor })
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Equal("urn:aihub:problem:cross-site-request", (await ProblemAsync(refused)).GetProperty("type").GetString());
        }
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.False((await me.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("twoFactorEnabled").GetBoolean());
        var names = await OrgNamesAsync(client, tokens);
        Assert.DoesNotContain("Foreign", names);
        Assert.DoesNotContain("Nowhere", names);
        Assert.DoesNotContain("Cross site", names);
    }

    [Fact]
    public async Task AiHubs_own_pages_and_clients_with_a_token_or_key_are_not_affected()
    {
        using var client = Host.Client();
        var email = await Host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);
        var browser = await BrowserSession.SignInAsync(client, email);
        var page = await browser.PageAsync("/account/login");

        using var sameOrigin = await browser.SendAsync(CreateOrg("Same origin", OwnOrigin));
        using var publicUrl = await browser.SendAsync(CreateOrg("Public URL", "https://aihub.test"));
        using var fetchSite = await browser.SendAsync(CreateOrg("Fetch site", fetchSite: "same-origin"));
        var withToken = CreateOrg("With token");
        withToken.Headers.Add("RequestVerificationToken", BrowserSession.AntiforgeryTokenOf(page));
        using var antiforgery = await browser.SendAsync(withToken);
        var bearer = As(tokens, HttpMethod.Post, "/api/orgs", new { name = "Bearer" });
        bearer.Headers.Add("Origin", ForeignOrigin);
        using var api = await client.SendAsync(bearer, Ct);

        Assert.Equal(HttpStatusCode.Created, sameOrigin.StatusCode);
        Assert.Equal(HttpStatusCode.Created, publicUrl.StatusCode);
        Assert.Equal(HttpStatusCode.Created, fetchSite.StatusCode);
        Assert.Equal(HttpStatusCode.Created, antiforgery.StatusCode);
        Assert.Equal(HttpStatusCode.Created, api.StatusCode);
    }

    [Fact]
    public async Task Signing_out_needs_the_forms_antiforgery_token()
    {
        using var client = Host.Client();
        var email = await Host.RegisterVerifiedAsync(client);
        var browser = await BrowserSession.SignInAsync(client, email);
        var page = await browser.PageAsync("/account/login");

        using var forged = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/account/logout")
        {
            Headers = { { "Origin", OwnOrigin } },
            Content = new FormUrlEncodedContent(new Dictionary<string, string>()),
        });
        using var stillIn = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/me"));
        using var real = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/account/logout")
        {
            Headers = { { "Origin", OwnOrigin } },
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["__RequestVerificationToken"] = BrowserSession.AntiforgeryTokenOf(page) }),
        });
        using var signedOut = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/me"));

        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Equal("urn:aihub:problem:cross-site-request", (await ProblemAsync(forged)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.OK, stillIn.StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, real.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, signedOut.StatusCode);
    }

    [Fact]
    public async Task The_chat_socket_takes_the_cookie_only_from_AiHubs_own_origin()
    {
        using var client = Host.Client();
        var email = await Host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);
        var browser = await BrowserSession.SignInAsync(client, email);

        async Task<string> ConnectAsync(string? origin, string? cookie, string? bearer = null)
        {
            var sockets = Host.App.Server.CreateWebSocketClient();
            sockets.ConfigureRequest = request =>
            {
                if (origin is not null)
                    request.Headers.Origin = origin;
                if (cookie is not null)
                    request.Headers.Cookie = cookie;
                if (bearer is not null)
                    request.Headers.Authorization = "Bearer " + bearer;
            };
            try
            {
                using var socket = await sockets.ConnectAsync(new Uri("wss://localhost/ws"), Ct);
                await socket.CloseAsync(System.Net.WebSockets.WebSocketCloseStatus.NormalClosure, null, Ct);
                return "open";
            }
            catch (InvalidOperationException e)
            {
                return e.Message;
            }
        }

        var foreign = await ConnectAsync(ForeignOrigin, browser.CookieHeader);
        var nowhere = await ConnectAsync(null, browser.CookieHeader);
        var own = await ConnectAsync(OwnOrigin, browser.CookieHeader);
        var token = await ConnectAsync(ForeignOrigin, null, tokens.AccessToken);

        Assert.Contains("403", foreign, StringComparison.Ordinal);
        Assert.Contains("403", nowhere, StringComparison.Ordinal);
        Assert.Equal("open", own);
        Assert.Equal("open", token);
    }

    [Fact]
    public async Task A_large_sign_in_body_is_refused_before_it_is_read()
    {
        using var client = Host.Client();
        var padding = new string('x', 1024 * 1024);
        var json = JsonSerializer.SerializeToUtf8Bytes(new { email = NewEmail(), password = padding });

        using var declared = await client.PostAsync("/api/auth/login", new ByteArrayContent(json) { Headers = { ContentType = new("application/json") } }, Ct);
        using var chunked = await client.PostAsync("/api/auth/login", new UnknownLengthContent(json, "application/json"), Ct);
        using var anonymousForm = await client.PostAsync("/account/login", new ByteArrayContent(json) { Headers = { ContentType = new("application/x-www-form-urlencoded") } }, Ct);
        using var small = await client.PostAsJsonAsync("/api/auth/login", new { email = NewEmail(), password = "Not-the-password-1" }, Ct);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal(413, (await ProblemAsync(declared)).GetProperty("status").GetInt32());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunked.StatusCode);
        Assert.Equal(413, (await ProblemAsync(chunked)).GetProperty("status").GetInt32());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, anonymousForm.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, small.StatusCode);
    }

    [Fact]
    public async Task A_signed_in_body_has_a_larger_limit_that_still_ends()
    {
        using var client = Host.Client();
        var tokens = await Host.NewUserAsync(client);
        var name = new string('x', 100 * 1024);
        var huge = new string('x', 5 * 1024 * 1024);

        using var hundredKb = await client.SendAsync(As(tokens, HttpMethod.Post, "/api/orgs", new { name }), Ct);
        var chunked = new HttpRequestMessage(HttpMethod.Post, "/api/orgs") { Content = new UnknownLengthContent(JsonSerializer.SerializeToUtf8Bytes(new { name = huge }), "application/json") };
        chunked.Headers.Authorization = new("Bearer", tokens.AccessToken);
        using var fiveMb = await client.SendAsync(chunked, Ct);

        // Past the sign-in limit, so read as a signed-in body: refused by the org name rule, not by size.
        Assert.Equal(HttpStatusCode.BadRequest, hundredKb.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, fiveMb.StatusCode);
        await ProblemAsync(fiveMb);
        Assert.DoesNotContain(await OrgNamesAsync(client, tokens), n => n.Length > 1000);
    }

    [Fact]
    public async Task A_number_sent_as_a_string_is_refused_naming_the_field()
    {
        using var client = Host.Client();
        var owner = await Host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Strict numbers");

        using var quoted = await client.SendAsync(As(owner, HttpMethod.Post, $"/api/orgs/{orgId}/credits/requests", new { credits = "5", reason = "more please" }), Ct);
        var problem = await ProblemAsync(quoted);
        var requests = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/credits/requests");

        Assert.Equal(HttpStatusCode.BadRequest, quoted.StatusCode);
        Assert.Equal("urn:aihub:problem:validation", problem.GetProperty("type").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty("credits", out _), problem.GetRawText());
        Assert.Equal(0, Items(requests).GetArrayLength());
    }

    static JsonElement Items(JsonElement page) => page.ValueKind == JsonValueKind.Array ? page : page.GetProperty("items");

    /// <summary>A body sent without a Content-Length, as a chunked upload is.</summary>
    sealed class UnknownLengthContent : HttpContent
    {
        readonly byte[] bytes;

        public UnknownLengthContent(byte[] bytes, string mediaType)
        {
            this.bytes = bytes;
            Headers.ContentType = new(mediaType);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
