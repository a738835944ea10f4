using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Fixtures;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace AiHub.IntegrationTests.Support;

/// <summary>AiHub on a real database, mailing through a real SMTP server, with a fake Google/GitHub/OIDC provider beside it.</summary>
public sealed partial class IdentityHost : IAsyncDisposable
{
    public const string Password = "Correct-Horse-42";

    TestDatabase _database = null!;

    public AiHubApp App { get; private set; } = null!;

    public SmtpServer Mail { get; private set; } = null!;

    public FakeIdentityProvider Idp { get; private set; } = null!;

    public static async Task<IdentityHost> StartAsync(string provider, IReadOnlyDictionary<string, string?>? extra = null, Action<IServiceCollection>? services = null)
    {
        var host = new IdentityHost { _database = await TestDatabase.CreateAsync(provider) };
        host.Mail = await SmtpServer.StartAsync();
        host.Idp = await FakeIdentityProvider.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["Email:Smtp:Host"] = host.Mail.Host,
            ["Email:Smtp:Port"] = host.Mail.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Email:Smtp:Security"] = "None",
            ["Identity:PublicUrl"] = "https://aihub.test",
            // Tests all come from one address; the limits are tested on a host of their own.
            ["Identity:RateLimits:LoginPerIp"] = "10000",
            ["Identity:RateLimits:RegisterPerIp"] = "10000",
            ["Identity:RateLimits:VerifyPerIp"] = "10000",
            ["Identity:RateLimits:ForgotPerIp"] = "10000",
            ["Identity:RateLimits:ResetPerIp"] = "10000",
            // Answers padded to a minimum time would wait forever on a fake clock; the padding is tested on a host of its own.
            ["Identity:MinimumAnswerTime"] = "00:00:00",
            ["Identity:Google:ClientId"] = FakeIdentityProvider.ClientId,
            ["Identity:Google:ClientSecret"] = FakeIdentityProvider.ClientSecret,
            ["Identity:Google:AuthorizationEndpoint"] = host.Idp.GoogleAuthorizationEndpoint,
            ["Identity:Google:TokenEndpoint"] = host.Idp.GoogleTokenEndpoint,
            ["Identity:Google:UserInformationEndpoint"] = host.Idp.GoogleUserInformationEndpoint,
            ["Identity:GitHub:ClientId"] = FakeIdentityProvider.ClientId,
            ["Identity:GitHub:ClientSecret"] = FakeIdentityProvider.ClientSecret,
            ["Identity:GitHub:AuthorizationEndpoint"] = host.Idp.GitHubAuthorizationEndpoint,
            ["Identity:GitHub:TokenEndpoint"] = host.Idp.GitHubTokenEndpoint,
            ["Identity:GitHub:UserInformationEndpoint"] = host.Idp.GitHubUserEndpoint,
            ["Identity:Oidc:ClientId"] = FakeIdentityProvider.ClientId,
            ["Identity:Oidc:ClientSecret"] = FakeIdentityProvider.ClientSecret,
            ["Identity:Oidc:Authority"] = host.Idp.OidcAuthority,
            ["Identity:Oidc:RequireHttpsMetadata"] = "false",
            ["Identity:Oidc:DisplayName"] = "Example SSO",
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
            settings[key] = value;
        host.App = AiHubApp.On(host._database, settings, services);
        return host;
    }

    /// <summary>A client on https, as in production: the providers' correlation cookies are Secure.</summary>
    public HttpClient Client(bool cookies = false) => App.CreateClient(new WebApplicationFactoryClientOptions
    {
        BaseAddress = new Uri("https://localhost"),
        AllowAutoRedirect = false,
        HandleCookies = cookies,
    });

    public static string NewEmail(string who = "user") => $"{who}-{Guid.NewGuid():N}@example.com";

    public async Task<string> CodeFromMailAsync(string email)
    {
        var message = await Mail.WaitForMessageAsync(email, MailWait);
        return SixDigits().Match(message.TextBody ?? "").Value is { Length: 6 } code ? code : throw new InvalidOperationException("no code in: " + message.TextBody);
    }

    public async Task<MimeMessage> NextMailAsync(string email) => await Mail.WaitForMessageAsync(email, MailWait);

    /// <summary>Mail goes through a durable work item; on a loaded two-core run of the whole suite it has taken over 30 s to arrive.</summary>
    static readonly TimeSpan MailWait = TimeSpan.FromSeconds(90);

    /// <summary>The next mail to <paramref name="email"/> whose subject contains <paramref name="subjectPart"/>; mails before it are skipped.</summary>
    public async Task<MimeMessage> MailAsync(string email, string subjectPart)
    {
        var mail = await NextMailAsync(email);
        while (!(mail.Subject ?? "").Contains(subjectPart, StringComparison.OrdinalIgnoreCase))
            mail = await NextMailAsync(email);
        return mail;
    }

    /// <summary>Registers and verifies through the API, reading the code from the mail the SMTP server received.</summary>
    public async Task<string> RegisterVerifiedAsync(HttpClient client, string? email = null)
    {
        email ??= NewEmail();
        using var registered = await client.PostAsJsonAsync("/api/auth/register", new { email, password = Password, displayName = "Test User" });
        Assert.Equal(HttpStatusCode.Accepted, registered.StatusCode);
        var code = await CodeFromMailAsync(email);
        using var verified = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code });
        Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
        await NextMailAsync(email);   // the welcome mail
        return email;
    }

    public static async Task<AuthTokens> LoginAsync(HttpClient client, string email, string password = Password, string? totpCode = null)
    {
        using var response = await client.PostAsJsonAsync("/api/auth/login", new { email, password, totpCode });
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<AuthTokens>())!;
    }

    public async Task<AuthTokens> NewUserAsync(HttpClient client, string? email = null) =>
        await LoginAsync(client, await RegisterVerifiedAsync(client, email));

    /// <summary>A SuperAdmin made the way an operator does (<c>create-admin</c>), whose password is set through the printed link.</summary>
    public async Task<AuthTokens> SuperAdminAsync(HttpClient client)
    {
        var email = NewEmail("root");
        var (_, link) = await AiHub.Identity.AdminBootstrap.CreateAdminAsync(App.Services, email, TestContext.Current.CancellationToken);
        var token = System.Web.HttpUtility.ParseQueryString(link.Query)["token"];
        using var reset = await client.PostAsJsonAsync("/api/auth/reset-password", new { token, newPassword = Password }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        return await LoginAsync(client, email);
    }

    /// <summary>A request as <paramref name="tokens"/>' user; with an <paramref name="idempotencyKey"/>, one the server answers once however often it is sent.</summary>
    public static HttpRequestMessage As(AuthTokens tokens, HttpMethod method, string path, object? body = null, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", tokens.AccessToken);
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [GeneratedRegex(@"\b\d{6}\b")]
    private static partial Regex SixDigits();

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await Idp.DisposeAsync();
        await Mail.DisposeAsync();
        await _database.DisposeAsync();
    }
}

public sealed record AuthTokens(string AccessToken, string RefreshToken, int ExpiresIn, string TokenType);
