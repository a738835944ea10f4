using System.Net;
using System.Net.Http.Json;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Identity;

/// <summary>Lockout, rate limits, token expiry and what never reaches a log; each on a host of its own.</summary>
public sealed class SecurityLimitTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Five_failed_logins_lock_the_account_even_for_the_right_password()
    {
        await using var host = await IdentityHost.StartAsync("Sqlite");
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);

        var failures = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            using var wrong = await client.PostAsJsonAsync("/api/auth/login", new { email, password = "Wrong-password-" + i }, Ct);
            failures.Add(wrong.StatusCode);
        }
        using var locked = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        var problem = await ProblemAsync(locked);

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 4), HttpStatusCode.Forbidden], failures);
        Assert.Equal(HttpStatusCode.Forbidden, locked.StatusCode);
        Assert.Equal("urn:aihub:problem:account-locked", problem.GetProperty("type").GetString());
        Assert.InRange(locked.Headers.RetryAfter!.Delta!.Value.TotalMinutes, 14, 15.1);
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.True(await db.AuditEvents.AnyAsync(e => e.Kind == AuditKinds.LockedOut, Ct));
        Assert.Equal(4, await db.AuditEvents.CountAsync(e => e.Kind == AuditKinds.LoginFailed, Ct));
    }

    [Fact]
    public async Task Over_the_limit_is_429_with_Retry_After_per_email_and_per_ip()
    {
        await using var host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["Identity:RateLimits:LoginPerEmail"] = "3",
            ["Identity:RateLimits:ForgotPerIp"] = "2",
        });
        using var client = host.Client();
        var email = NewEmail();

        var logins = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
            logins.Add(response.StatusCode);
        }
        using var limited = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        using var otherEmail = await client.PostAsJsonAsync("/api/auth/login", new { email = NewEmail(), password = Password }, Ct);
        var forgot = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.PostAsJsonAsync("/api/auth/forgot-password", new { email = NewEmail() }, Ct);
            forgot.Add(response.StatusCode);
        }
        using var resend = await client.PostAsJsonAsync("/api/auth/resend-verification", new { email }, Ct);
        using var resendAgain = await client.PostAsJsonAsync("/api/auth/resend-verification", new { email }, Ct);

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests], logins);
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.InRange(limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 15 * 60);
        Assert.Equal("urn:aihub:problem:rate-limited", (await ProblemAsync(limited)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, otherEmail.StatusCode);
        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.Accepted, HttpStatusCode.TooManyRequests], forgot);
        Assert.Equal(HttpStatusCode.Accepted, resend.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, resendAgain.StatusCode);
        Assert.InRange(resendAgain.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
    }

    [Fact]
    public async Task Rate_limits_are_shared_by_every_node_through_Redis()
    {
        var redis = new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = TestEnvironment.Redis,
            ["Identity:RateLimits:LoginPerEmail"] = "2",
        };
        await using var one = await IdentityHost.StartAsync("Sqlite", redis);
        await using var two = await IdentityHost.StartAsync("Sqlite", redis);
        using var first = one.Client();
        using var second = two.Client();
        var email = NewEmail();

        using var a = await first.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        using var b = await second.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        using var c = await first.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, a.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, b.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, c.StatusCode);
    }

    [Fact]
    public async Task The_access_token_expires_after_fifteen_minutes()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await IdentityHost.StartAsync("Sqlite", services: s => s.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)));
        using var client = host.Client();
        var tokens = await host.NewUserAsync(client);

        using var fresh = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        clock.Advance(TimeSpan.FromMinutes(14));
        using var stillFresh = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        clock.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        using var expired = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        using var refreshed = await client.PostAsJsonAsync("/api/auth/refresh", new { tokens.RefreshToken }, Ct);
        clock.Advance(TimeSpan.FromDays(8));
        var next = (await refreshed.Content.ReadFromJsonAsync<AuthTokens>(Ct))!;
        using var refreshTooLate = await client.PostAsJsonAsync("/api/auth/refresh", new { next.RefreshToken }, Ct);

        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        Assert.Equal(HttpStatusCode.OK, stillFresh.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refreshTooLate.StatusCode);
        Assert.Equal("urn:aihub:problem:invalid-refresh-token", (await ProblemAsync(refreshTooLate)).GetProperty("type").GetString());
    }

    [Fact]
    public async Task Logged_out_access_tokens_are_denied_through_Redis_on_every_node()
    {
        var redis = new Dictionary<string, string?> { ["Redis:ConnectionString"] = TestEnvironment.Redis };
        await using var host = await IdentityHost.StartAsync("Sqlite", redis);
        using var client = host.Client();
        var tokens = await host.NewUserAsync(client);
        var jti = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(tokens.AccessToken).Id;

        using var logout = await client.SendAsync(As(tokens, HttpMethod.Post, "/api/auth/logout"), Ct);
        using var me = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);
        var denied = await multiplexer.GetDatabase().KeyExistsAsync("aihub:jti-denied:" + jti);
        await multiplexer.DisposeAsync();

        Assert.Equal(HttpStatusCode.NoContent, logout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        Assert.True(denied);
    }

    [Fact]
    public async Task Codes_tokens_and_passwords_never_reach_the_log()
    {
        var logs = new LogCapture();
        await using var host = await IdentityHost.StartAsync("Sqlite", services: s => s.AddSingleton<ILoggerProvider>(logs));
        using var client = host.Client();
        var email = NewEmail();
        using var _ = await client.PostAsJsonAsync("/api/auth/register", new { email, password = Password }, Ct);
        var code = await host.CodeFromMailAsync(email);
        using var __ = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code }, Ct);
        var tokens = await LoginAsync(client, email);
        using var ___ = await client.PostAsJsonAsync("/api/auth/refresh", new { tokens.RefreshToken }, Ct);
        using var ____ = await client.PostAsJsonAsync("/api/auth/forgot-password", new { email }, Ct);
        var reset = await host.NextMailAsync(email);
        reset = reset.Subject!.Contains("Welcome", StringComparison.OrdinalIgnoreCase) ? await host.NextMailAsync(email) : reset;
        var token = System.Text.RegularExpressions.Regex.Match(reset.TextBody ?? "", @"token=(\S+)").Groups[1].Value;

        var all = string.Join("\n", logs.Lines);
        Assert.NotEmpty(logs.Lines);
        Assert.DoesNotContain(code, all, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, all, StringComparison.Ordinal);
        Assert.DoesNotContain(tokens.AccessToken, all, StringComparison.Ordinal);
        Assert.DoesNotContain(tokens.RefreshToken, all, StringComparison.Ordinal);
        Assert.DoesNotContain(token, all, StringComparison.Ordinal);
    }
}
