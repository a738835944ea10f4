using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.WebUtilities;
using ModelContextProtocol.Client;

namespace AiHub.IntegrationTests.Mcp;

/// <summary>A connector's side of the OAuth flow over HTTP, the way an MCP client and its user's browser go through it.</summary>
public sealed partial class McpOAuthFlow(IdentityHost host, Uri root)
{
    public const string Resource = "https://aihub.test/mcp";
    public const string Redirect = "http://127.0.0.1:7777/callback";

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public HttpClient Http { get; } = new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = root };

    public IdentityHost Host => host;

    public Uri Root => root;

    /// <summary>A new verified user, with their API tokens and a browser signed in as them.</summary>
    public async Task<(string Email, AuthTokens Tokens, BrowserSession Browser)> UserAsync()
    {
        var email = await host.RegisterVerifiedAsync(Http);
        var tokens = await IdentityHost.LoginAsync(Http, email);
        return (email, tokens, await BrowserSession.SignInAsync(Http, email));
    }

    public async Task<JsonElement> RegisterAsync(object metadata, HttpStatusCode expected = HttpStatusCode.Created)
    {
        using var response = await Http.PostAsJsonAsync("/oauth/register", metadata, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<string> RegisterPublicClientAsync(string name = "Desktop Assistant") =>
        (await RegisterAsync(new
        {
            redirect_uris = new[] { Redirect },
            token_endpoint_auth_method = "none",
            grant_types = CodeAndRefresh,
            response_types = CodeOnly,
            client_name = name,
        })).GetProperty("client_id").GetString()!;

    static readonly string[] CodeAndRefresh = ["authorization_code", "refresh_token"];
    static readonly string[] CodeOnly = ["code"];

    public static (string Verifier, string Challenge) Pkce()
    {
        var verifier = Base64UrlTextEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        return (verifier, Base64UrlTextEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))));
    }

    public static string AuthorizePath(string clientId, string challenge, string scope, string redirect = Redirect, string? resource = Resource) =>
        QueryHelpers.AddQueryString("/oauth/authorize", new Dictionary<string, string?>
        {
            ["response_type"] = "code",
            ["client_id"] = clientId,
            ["redirect_uri"] = redirect,
            ["scope"] = scope,
            ["state"] = "st-42",
            ["code_challenge"] = challenge,
            ["code_challenge_method"] = "S256",
            ["resource"] = resource,
        });

    /// <summary>Follows the authorize request to the consent page and answers it; returns where the browser is sent.</summary>
    public static async Task<Uri> ConsentAsync(BrowserSession browser, string authorizePath, Guid orgId, Guid? workspaceId = null, string decision = "allow")
    {
        using var toConsent = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Get, authorizePath));
        Assert.Equal(HttpStatusCode.Redirect, toConsent.StatusCode);
        var consentPath = toConsent.Headers.Location!.OriginalString;
        Assert.StartsWith("/oauth/consent?", consentPath, StringComparison.Ordinal);
        var page = await browser.PageAsync(consentPath);
        var start = page.IndexOf("data-testid=\"consent-form\"", StringComparison.Ordinal);
        Assert.True(start >= 0, page);
        var form = page[start..page.IndexOf("</form>", start, StringComparison.Ordinal)];
        var fields = HiddenField().Matches(form).ToDictionary(m => WebUtility.HtmlDecode(m.Groups[1].Value), m => WebUtility.HtmlDecode(m.Groups[2].Value));
        Assert.True(fields.ContainsKey("__RequestVerificationToken"), page);
        fields["aihub_org"] = orgId.ToString();
        fields["aihub_workspace"] = workspaceId?.ToString() ?? "";
        fields["aihub_decision"] = decision;
        using var answered = await browser.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/oauth/authorize") { Content = new FormUrlEncodedContent(fields) });
        Assert.True(answered.StatusCode == HttpStatusCode.Redirect, $"{(int)answered.StatusCode} {await answered.Content.ReadAsStringAsync(Ct)}");
        return answered.Headers.Location!;
    }

    public static string CodeOf(Uri redirect)
    {
        var query = QueryHelpers.ParseQuery(redirect.Query);
        Assert.Equal("st-42", query["state"].ToString());
        return query["code"].ToString() is { Length: > 0 } code ? code : throw new InvalidOperationException("no code in " + redirect);
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> TokenAsync(Dictionary<string, string> form)
    {
        using var response = await Http.PostAsync("/oauth/token", new FormUrlEncodedContent(form), Ct);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone());
    }

    public Task<(HttpStatusCode Status, JsonElement Body)> ExchangeAsync(string clientId, string code, string verifier, string redirect = Redirect) =>
        TokenAsync(new() { ["grant_type"] = "authorization_code", ["client_id"] = clientId, ["code"] = code, ["code_verifier"] = verifier, ["redirect_uri"] = redirect, ["resource"] = Resource });

    public Task<(HttpStatusCode Status, JsonElement Body)> RefreshAsync(string clientId, string refreshToken) =>
        TokenAsync(new() { ["grant_type"] = "refresh_token", ["client_id"] = clientId, ["refresh_token"] = refreshToken });

    /// <summary>Registration, consent for <paramref name="orgId"/> and the code exchange: the connector's access and refresh tokens.</summary>
    public async Task<(string ClientId, string AccessToken, string? RefreshToken)> ConnectAsync(BrowserSession browser, Guid orgId, string scope, Guid? workspaceId = null, string clientName = "Desktop Assistant")
    {
        var clientId = await RegisterPublicClientAsync(clientName);
        var (verifier, challenge) = Pkce();
        var code = CodeOf(await ConsentAsync(browser, AuthorizePath(clientId, challenge, scope), orgId, workspaceId));
        var (status, body) = await ExchangeAsync(clientId, code, verifier);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        return (clientId, body.GetProperty("access_token").GetString()!, body.TryGetProperty("refresh_token", out var r) ? r.GetString() : null);
    }

    public Task<McpClient> McpAsync(string accessToken) =>
        McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(root, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + accessToken },
        }), cancellationToken: Ct);

    /// <summary>A bare tools/list on /mcp, to read the status and headers of a refusal.</summary>
    public async Task<HttpResponseMessage> RawMcpAsync(string? accessToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        if (accessToken is not null)
            request.Headers.Authorization = new("Bearer", accessToken);
        return await Http.SendAsync(request, Ct);
    }

    [GeneratedRegex("<input type=\"hidden\" name=\"([^\"]*)\" value=\"([^\"]*)\"")]
    private static partial Regex HiddenField();
}
