using System.Net;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Security;

/// <summary>The headers on pages, API answers and errors, HTTPS behind a proxy, and the tokens in paths that logs must not keep.</summary>
public sealed class ResponseHeaderTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static HttpClient ClientAt(IdentityHost host, string baseAddress) =>
        host.App.CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri(baseAddress), AllowAutoRedirect = false });

    [Fact]
    public async Task Pages_API_answers_and_errors_forbid_sniffing_framing_referrers_and_remote_images()
    {
        await using var host = await IdentityHost.StartAsync("Sqlite");
        using var client = host.Client();
        var tokens = await host.NewUserAsync(client);
        var pageRequest = new HttpRequestMessage(HttpMethod.Get, "/account/login");
        pageRequest.Headers.Accept.ParseAdd("text/html");

        using var page = await client.SendAsync(pageRequest, Ct);
        using var api = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        using var error = await client.GetAsync("/api/no-such-thing", Ct);
        using var unauthorized = await client.GetAsync("/api/me", Ct);

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, error.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        foreach (var response in new[] { page, api, error, unauthorized })
        {
            Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
            Assert.Equal("DENY", Header(response, "X-Frame-Options"));
            Assert.Equal("strict-origin-when-cross-origin", Header(response, "Referrer-Policy"));
            var policy = Header(response, "Content-Security-Policy");
            Assert.Contains("img-src 'self' data:;", policy, StringComparison.Ordinal);
            Assert.Contains("media-src 'self';", policy, StringComparison.Ordinal);
            Assert.Contains("script-src 'self';", policy, StringComparison.Ordinal);
            Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
            Assert.Contains("connect-src 'self' wss://localhost", policy, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_operator_can_allow_images_from_named_hosts_only()
    {
        await using var host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?> { ["Security:ImageSources:0"] = "https://images.example.com" });
        using var client = host.Client();

        using var response = await client.GetAsync("/health/live", Ct);

        Assert.Contains("img-src 'self' data: https://images.example.com;", Header(response, "Content-Security-Policy"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true", "media-src 'self' https://spaces.example.com;")]
    [InlineData("false", "media-src 'self' https://spaces.example.com https://*.spaces.example.com;")]
    public async Task With_files_on_S3_a_recording_may_play_from_the_buckets_signed_address(string pathStyle, string expected)
    {
        await using var host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["Blobs:Provider"] = "S3",
            ["Blobs:S3:ServiceUrl"] = "https://spaces.example.com",
            ["Blobs:S3:Bucket"] = "aihub",
            ["Blobs:S3:AccessKey"] = "key",
            ["Blobs:S3:SecretKey"] = "secret",
            ["Blobs:S3:ForcePathStyle"] = pathStyle,
        });
        using var client = host.Client();

        using var response = await client.GetAsync("/health/live", Ct);

        Assert.Contains(expected, Header(response, "Content-Security-Policy"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HSTS_is_sent_over_HTTPS_and_behind_a_trusted_proxy_that_says_HTTPS()
    {
        await using var direct = await IdentityHost.StartAsync("Sqlite");
        await using var proxied = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["Security:ForwardedHeaders"] = "true",
            ["Security:TrustedProxies:0"] = "*",
        });
        using var https = ClientAt(direct, "https://aihub.test");
        using var http = ClientAt(direct, "http://aihub.test");
        using var behindProxy = ClientAt(proxied, "http://aihub.test");
        using var forwarded = new HttpRequestMessage(HttpMethod.Get, "/health/live") { Headers = { { "X-Forwarded-Proto", "https" } } };
        using var ignored = new HttpRequestMessage(HttpMethod.Get, "/health/live") { Headers = { { "X-Forwarded-Proto", "https" } } };

        using var overHttps = await https.GetAsync("/health/live", Ct);
        using var overHttp = await http.GetAsync("/health/live", Ct);
        using var viaProxy = await behindProxy.SendAsync(forwarded, Ct);
        using var notTrusted = await http.SendAsync(ignored, Ct);

        Assert.StartsWith("max-age=", Header(overHttps, "Strict-Transport-Security"), StringComparison.Ordinal);
        Assert.False(overHttp.Headers.Contains("Strict-Transport-Security"));
        Assert.StartsWith("max-age=", Header(viaProxy, "Strict-Transport-Security"), StringComparison.Ordinal);
        Assert.False(notTrusted.Headers.Contains("Strict-Transport-Security"));
    }

    [Fact]
    public async Task Invitation_and_share_tokens_in_paths_never_reach_the_written_log()
    {
        var logs = new LogCapture();
        // An operator chasing a problem turns request logging on: the paths are then logged.
        await using var host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore"] = "Information" },
            services: s => s.AddSingleton<ILoggerProvider>(logs));
        using var client = host.Client();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Logged");
        var email = NewEmail("invitee");
        await SendAsync(client, owner, HttpMethod.Post, $"/api/orgs/{orgId}/invitations", new { email, role = "Member" }, HttpStatusCode.Created);
        var invitation = await InvitationTokenAsync(host, email);
        var share = "shr_" + Convert.ToBase64String(Guid.NewGuid().ToByteArray()).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        using var preview = await client.GetAsync($"/api/invitations/{invitation}", Ct);
        var pageRequest = new HttpRequestMessage(HttpMethod.Get, $"/invitations/{invitation}");
        pageRequest.Headers.Accept.ParseAdd("text/html");
        using var page = await client.SendAsync(pageRequest, Ct);
        using var shared = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/shared-conversations/{share}"), Ct);

        Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
        Assert.Contains(logs.Lines, l => l.Contains(invitation, StringComparison.Ordinal));
        var written = string.Join("\n", logs.Written);
        Assert.Contains("/api/invitations/", written, StringComparison.Ordinal);
        Assert.DoesNotContain(invitation, written, StringComparison.Ordinal);
        Assert.DoesNotContain(invitation[4..], written, StringComparison.Ordinal);
        Assert.DoesNotContain(share, written, StringComparison.Ordinal);
    }

    static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? string.Join(", ", values)
            : throw new Xunit.Sdk.XunitException($"{(int)response.StatusCode} {response.RequestMessage?.RequestUri} has no {name} header.");
}
