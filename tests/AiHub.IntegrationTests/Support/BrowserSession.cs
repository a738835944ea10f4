using System.Net;
using System.Text.RegularExpressions;

namespace AiHub.IntegrationTests.Support;

/// <summary>A browser's cookie jar, signed in through the sign-in page's form, to send requests the way a page would.</summary>
public sealed partial class BrowserSession(HttpClient client)
{
    readonly Dictionary<string, string> _cookies = [];

    public HttpClient Client => client;

    public static async Task<BrowserSession> SignInAsync(HttpClient client, string email, string password = IdentityHost.Password)
    {
        var session = new BrowserSession(client);
        var page = await session.PageAsync("/account/login");
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = AntiforgeryTokenOf(page),
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        });
        using var signedIn = await session.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/account/login") { Content = form });
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        Assert.True(session.Has("aihub.session"), "The sign-in form set no session cookie.");
        return session;
    }

    public bool Has(string cookie) => _cookies.ContainsKey(cookie);

    /// <summary>A page's HTML, as a browser asks for it.</summary>
    public async Task<string> PageAsync(string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/html");
        using var response = await SendAsync(request);
        return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>Sends with the jar's cookies and keeps the ones the answer sets.</summary>
    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        using (request)
        {
            if (_cookies.Count > 0)
                request.Headers.Add("Cookie", CookieHeader);
            var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
            foreach (var set in response.Headers.TryGetValues("Set-Cookie", out var values) ? values : [])
            {
                var pair = set.Split(';', 2)[0].Split('=', 2);
                if (set.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase))
                    _cookies.Remove(pair[0]);
                else
                    _cookies[pair[0]] = pair[1];
            }
            return response;
        }
    }

    public string CookieHeader => string.Join("; ", _cookies.Select(c => $"{c.Key}={c.Value}"));

    public static string AntiforgeryTokenOf(string html) =>
        WebUtility.HtmlDecode(AntiforgeryField().Match(html) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException("The page has no antiforgery token."));

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]*)\"")]
    private static partial Regex AntiforgeryField();
}
