using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Web;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Identity;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Identity;

/// <summary>
/// Account pre-hijack, enumeration, lockout and second-factor hardening: an address nobody has proved gives no power over
/// its owner, answers do not tell addresses apart, and a stranger's guesses do not lock the owner out.
/// </summary>
public abstract class AccountSecurityTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    const string AttackerPassword = "Attacker-Password-1";

    static readonly string[] WorkspacesRead = ["workspaces:read"];

    /// <summary>The settings these tests need: a short resend cooldown, and the client's IP taken from a test header.</summary>
    internal static readonly Dictionary<string, string?> Settings = new()
    {
        ["Identity:ResendCooldown"] = "00:00:15",
        ["Identity:MinimumAnswerTime"] = "00:00:00.200",
        ["Identity:RateLimits:LoginPerEmail"] = "1000",
    };

    internal static void Services(IServiceCollection services) => services.AddTransient<IStartupFilter, ClientIpFromHeader>();

    [Fact]
    public async Task A_stranger_who_registers_the_address_first_loses_to_the_owner_who_registers_and_verifies_it()
    {
        using var client = host.Client();
        var email = NewEmail("victim");
        using var attacker = await client.PostAsJsonAsync("/api/auth/register", new { email, password = AttackerPassword, displayName = "Mallory" }, Ct);
        var firstCode = await host.CodeFromMailAsync(email);
        await Task.Delay(TimeSpan.FromSeconds(15.2), Ct);

        using var owner = await client.PostAsJsonAsync("/api/auth/register", new { email, password = Password, displayName = "Alice" }, Ct);
        var ownerCode = await host.CodeFromMailAsync(email);
        using var earlierCode = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code = firstCode }, Ct);
        using var verified = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code = ownerCode }, Ct);
        using var attackerLogin = await client.PostAsJsonAsync("/api/auth/login", new { email, password = AttackerPassword }, Ct);
        var tokens = await LoginAsync(client, email);
        using var me = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        var profile = await me.Content.ReadFromJsonAsync<JsonElement>(Ct);

        Assert.Equal(HttpStatusCode.Accepted, attacker.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, owner.StatusCode);
        Assert.Equal(await attacker.Content.ReadAsStringAsync(Ct), await owner.Content.ReadAsStringAsync(Ct));
        Assert.NotEqual(firstCode, ownerCode);
        Assert.Equal(HttpStatusCode.BadRequest, earlierCode.StatusCode);
        Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, attackerLogin.StatusCode);
        Assert.Equal("Alice", profile.GetProperty("displayName").GetString());
    }

    [Fact]
    public async Task A_provider_sign_in_on_an_address_a_stranger_registered_drops_the_strangers_password_second_factor_sessions_keys_and_logins()
    {
        using var client = host.Client();
        var email = NewEmail("victim");
        var stranger = await StrangerWithEverythingAsync(client, email);

        host.Idp.NextUser(FakeIdentityProvider.Oidc, new FakeUser(Guid.NewGuid().ToString("N"), email, EmailVerified: true, "Alice"));
        using var browser = host.Client(cookies: true);
        var landing = await ExternalSignIn.SignInWithAsync(browser, FakeIdentityProvider.Oidc, "/account");
        using var me = await browser.GetAsync("/api/me", Ct);
        var profile = await me.Content.ReadFromJsonAsync<JsonElement>(Ct);
        using var password = await client.PostAsJsonAsync("/api/auth/login", new { email, password = AttackerPassword, totpCode = Totp.Code(stranger.Key, DateTimeOffset.UtcNow.AddSeconds(30)) }, Ct);
        using var session = await client.SendAsync(As(stranger.Tokens, HttpMethod.Get, "/api/me"), Ct);
        using var refresh = await client.PostAsJsonAsync("/api/auth/refresh", new { stranger.Tokens.RefreshToken }, Ct);
        using var key = await client.SendAsync(WithKey(stranger.ApiKey, HttpMethod.Get, $"/api/orgs/{stranger.OrgId}/workspaces"), Ct);

        Assert.Equal("/account", landing);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.True(profile.GetProperty("emailVerified").GetBoolean());
        Assert.False(profile.GetProperty("hasPassword").GetBoolean());
        Assert.False(profile.GetProperty("twoFactorEnabled").GetBoolean());
        Assert.Equal(["Oidc"], profile.GetProperty("externalLogins").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(HttpStatusCode.Unauthorized, password.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, session.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refresh.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, key.StatusCode);
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var userId = UserIdOf(stranger.Tokens);
        Assert.True(await db.AuditEvents.AnyAsync(e => e.Kind == AuditKinds.AccountReclaimed && e.UserId == userId, Ct));
        Assert.False(await db.UserTokens.AnyAsync(t => t.UserId == userId && t.LoginProvider == ProtectedUserStore.InternalLoginProvider, Ct));
        Assert.True(await db.ApiKeys.IgnoreQueryFilters().Where(k => k.CreatedBy == userId).AllAsync(k => k.RevokedAt != null, Ct));
    }

    /// <summary>
    /// An unverified account that somehow holds a password sign-in, a session, an API key, an authenticator and another
    /// provider: made through the API while the address is marked verified, then marked unverified again.
    /// </summary>
    async Task<(AuthTokens Tokens, string Key, string ApiKey, Guid OrgId)> StrangerWithEverythingAsync(HttpClient client, string email)
    {
        using (var registered = await client.PostAsJsonAsync("/api/auth/register", new { email, password = AttackerPassword }, Ct))
            Assert.Equal(HttpStatusCode.Accepted, registered.StatusCode);
        await host.NextMailAsync(email);
        await SetVerifiedAsync(email, true);
        var tokens = await LoginAsync(client, email, AttackerPassword);
        var orgId = await PersonalOrgAsync(client, tokens);
        var created = await SendAsync(client, tokens, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "mine", permissions = WorkspacesRead }, HttpStatusCode.Created);
        var setup = await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/enable");
        var key = setup.GetProperty("sharedKey").GetString()!;
        await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/confirm", new { code = Totp.Code(key) });
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
            var user = (await users.FindByEmailAsync(email))!;
            Assert.True((await users.AddLoginAsync(user, new UserLoginInfo("GitHub", "stranger-" + Guid.NewGuid().ToString("N"), "GitHub"))).Succeeded);
        }
        await SetVerifiedAsync(email, false);
        return (tokens, key, created.GetProperty("secret").GetString()!, orgId);
    }

    async Task SetVerifiedAsync(string email, bool verified)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var user = (await users.FindByEmailAsync(email))!;
        user.EmailConfirmed = verified;
        Assert.True((await users.UpdateAsync(user)).Succeeded);
    }

    [Fact]
    public async Task Resetting_the_password_revokes_the_api_keys_the_user_made_and_says_so()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);
        var orgId = await PersonalOrgAsync(client, tokens);
        var created = await SendAsync(client, tokens, HttpMethod.Post, $"/api/orgs/{orgId}/api-keys", new { name = "ci", permissions = WorkspacesRead }, HttpStatusCode.Created);
        var secret = created.GetProperty("secret").GetString()!;
        using var before = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);

        var (token, mail) = await ResetTokenAsync(client, email);
        using var reset = await client.PostAsJsonAsync("/api/auth/reset-password", new { token, newPassword = "Brand-New-Password-9" }, Ct);
        var answer = await reset.Content.ReadFromJsonAsync<JsonElement>(Ct);
        using var after = await client.SendAsync(WithKey(secret, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces"), Ct);
        var owner = await LoginAsync(client, email, "Brand-New-Password-9");
        var keys = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/api-keys");

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        Assert.Contains("API key", answer.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("revokes every API key", mail, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.NotEqual(JsonValueKind.Null, keys.EnumerateArray().Single().GetProperty("revokedAt").ValueKind);
    }

    [Fact]
    public async Task A_new_password_equal_to_the_current_one_is_refused_on_change_and_on_reset()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);

        using var change = await client.SendAsync(As(tokens, HttpMethod.Post, "/api/me/password", new { currentPassword = Password, newPassword = Password }), Ct);
        var (token, _) = await ResetTokenAsync(client, email);
        using var reset = await client.PostAsJsonAsync("/api/auth/reset-password", new { token, newPassword = Password }, Ct);
        using var stillSignedIn = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        using var resetToNew = await client.PostAsJsonAsync("/api/auth/reset-password", new { token, newPassword = "Brand-New-Password-9" }, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, change.StatusCode);
        Assert.True((await ProblemAsync(change)).GetProperty("errors").TryGetProperty("newPassword", out _));
        Assert.Equal(HttpStatusCode.BadRequest, reset.StatusCode);
        Assert.True((await ProblemAsync(reset)).GetProperty("errors").TryGetProperty("newPassword", out _));
        Assert.Equal(HttpStatusCode.OK, stillSignedIn.StatusCode);
        Assert.Equal(HttpStatusCode.OK, resetToNew.StatusCode);
    }

    [Fact]
    public async Task A_reset_link_turns_off_a_lost_authenticator_only_when_asked()
    {
        using var client = host.Client();
        var lost = await host.RegisterVerifiedAsync(client);
        var kept = await host.RegisterVerifiedAsync(client);
        foreach (var email in new[] { lost, kept })
        {
            var tokens = await LoginAsync(client, email);
            var key = (await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/enable")).GetProperty("sharedKey").GetString()!;
            await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/confirm", new { code = Totp.Code(key) });
        }

        var (lostToken, _) = await ResetTokenAsync(client, lost);
        using var turnedOff = await client.PostAsJsonAsync("/api/auth/reset-password", new { token = lostToken, newPassword = "Brand-New-Password-9", turnOffTwoFactor = true }, Ct);
        var (keptToken, _) = await ResetTokenAsync(client, kept);
        using var keptOn = await client.PostAsJsonAsync("/api/auth/reset-password", new { token = keptToken, newPassword = "Brand-New-Password-9" }, Ct);
        using var lostSignIn = await client.PostAsJsonAsync("/api/auth/login", new { email = lost, password = "Brand-New-Password-9" }, Ct);
        using var keptSignIn = await client.PostAsJsonAsync("/api/auth/login", new { email = kept, password = "Brand-New-Password-9" }, Ct);

        Assert.Equal(HttpStatusCode.OK, turnedOff.StatusCode);
        Assert.Equal(HttpStatusCode.OK, keptOn.StatusCode);
        Assert.Equal(HttpStatusCode.OK, lostSignIn.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, keptSignIn.StatusCode);
        Assert.Equal("urn:aihub:problem:two-factor-required", (await ProblemAsync(keptSignIn)).GetProperty("type").GetString());
        await using var scope = host.App.Services.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        var user = (await users.FindByEmailAsync(lost))!;
        Assert.False(user.TwoFactorEnabled);
        Assert.Null(await users.GetAuthenticatorKeyAsync(user));
        Assert.Equal(0, await users.CountRecoveryCodesAsync(user));
    }

    async Task<(string Token, string Mail)> ResetTokenAsync(HttpClient client, string email)
    {
        using var forgot = await client.PostAsJsonAsync("/api/auth/forgot-password", new { email }, Ct);
        Assert.Equal(HttpStatusCode.Accepted, forgot.StatusCode);
        var mail = await host.MailAsync(email, "reset");
        var link = System.Text.RegularExpressions.Regex.Match(mail.TextBody ?? "", @"https://aihub\.test/account/reset-password\?token=\S+").Value;
        return (HttpUtility.ParseQueryString(new Uri(link).Query)["token"]!, mail.TextBody ?? "");
    }

    [Fact]
    public async Task Verify_email_answers_alike_for_a_wrong_code_a_verified_address_and_an_unknown_one()
    {
        using var client = host.Client();
        var verified = await host.RegisterVerifiedAsync(client);
        var waiting = NewEmail();
        (await client.PostAsJsonAsync("/api/auth/register", new { email = waiting, password = Password }, Ct)).Dispose();
        var code = await host.CodeFromMailAsync(waiting);
        var wrong = code == "000000" ? "111111" : "000000";

        var answers = new List<(HttpStatusCode, string)>();
        foreach (var email in new[] { waiting, verified, NewEmail() })
        {
            using var response = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code = wrong }, Ct);
            answers.Add((response.StatusCode, await WithoutTraceIdAsync(response)));
        }

        Assert.Equal(HttpStatusCode.BadRequest, answers[0].Item1);
        Assert.All(answers, a => Assert.Equal(answers[0], a));
    }

    [Fact]
    public async Task Sign_in_failures_lockout_and_resend_answer_alike_for_verified_unverified_and_unknown_addresses()
    {
        using var client = host.Client();
        var verified = await host.RegisterVerifiedAsync(client);
        var waiting = NewEmail();
        (await client.PostAsJsonAsync("/api/auth/register", new { email = waiting, password = Password }, Ct)).Dispose();
        await host.NextMailAsync(waiting);
        await Task.Delay(TimeSpan.FromSeconds(15.2), Ct);

        var answers = new List<List<(HttpStatusCode, string)>>();
        var slowest = new List<TimeSpan>();
        // The third kind is an address with no account: a sign-up creates one, so sign-in is tried with another.
        foreach (var (email, registered) in new[] { (verified, verified), (waiting, waiting), (NewEmail(), NewEmail()) })
        {
            var these = new List<(HttpStatusCode, string)>();
            using (var again = await client.PostAsJsonAsync("/api/auth/register", new { email = registered, password = "Another-Password-7" }, Ct))
                these.Add((again.StatusCode, await again.Content.ReadAsStringAsync(Ct)));
            using (var resend = await client.PostAsJsonAsync("/api/auth/resend-verification", new { email = registered }, Ct))
                these.Add((resend.StatusCode, await WithoutTraceIdAsync(resend)));
            var time = Stopwatch.StartNew();
            for (var i = 0; i < 6; i++)
            {
                using var login = await client.PostAsJsonAsync("/api/auth/login", new { email, password = "Wrong-password-" + i }, Ct);
                these.Add((login.StatusCode, await WithoutTraceIdAsync(login)));
            }
            slowest.Add(time.Elapsed / 6);
            answers.Add(these);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, answers[0][1].Item1);
        Assert.Equal(HttpStatusCode.Unauthorized, answers[0][2].Item1);
        Assert.Equal(HttpStatusCode.Forbidden, answers[0][^1].Item1);
        Assert.All(answers, a => Assert.Equal(answers[0], a));
        Assert.All(slowest, t => Assert.True(t >= TimeSpan.FromMilliseconds(190), $"{t.TotalMilliseconds} ms"));
    }

    [Fact]
    public async Task A_strangers_failed_sign_ins_lock_their_ip_out_not_the_owner_on_their_own_device()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);

        var stranger = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await client.SendAsync(From("203.0.113.9", new { email, password = "Wrong-password-" + i }), Ct);
            stranger.Add(response.StatusCode);
        }
        using var strangerRight = await client.SendAsync(From("203.0.113.9", new { email, password = Password }), Ct);
        using var owner = await client.SendAsync(From("198.51.100.7", new { email, password = Password }), Ct);

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 4), HttpStatusCode.Forbidden, HttpStatusCode.Forbidden], stranger);
        Assert.Equal(HttpStatusCode.Forbidden, strangerRight.StatusCode);
        Assert.Equal(HttpStatusCode.OK, owner.StatusCode);
    }

    [Fact]
    public async Task Forty_parallel_wrong_sign_ins_for_one_account_get_no_500()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);

        var contenders = Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            using var response = await client.SendAsync(From($"192.0.2.{i % 3}", new { email, password = "Wrong-password-" + i }), Ct);
            return response.StatusCode;
        }, Ct));
        var statuses = await Task.WhenAll(contenders);

        Assert.All(statuses, s => Assert.Contains(s, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden }));
        Assert.Contains(HttpStatusCode.Forbidden, statuses);
    }

    [Fact]
    public async Task An_authenticator_code_works_once()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);
        var key = (await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/enable")).GetProperty("sharedKey").GetString()!;
        var now = DateTimeOffset.UtcNow;
        await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/confirm", new { code = Totp.Code(key, now) });

        using var replayed = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password, totpCode = Totp.Code(key, now) }, Ct);
        await LoginAsync(client, email, totpCode: Totp.Code(key, now.AddSeconds(30)));
        using var replayedAgain = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password, totpCode = Totp.Code(key, now.AddSeconds(30)) }, Ct);
        using var earlier = await client.SendAsync(As(tokens, HttpMethod.Post, "/api/me/2fa/disable", new { code = Totp.Code(key, now) }), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, replayed.StatusCode);
        Assert.Equal("urn:aihub:problem:invalid-two-factor-code", (await ProblemAsync(replayed)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, replayedAgain.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, earlier.StatusCode);
        using var me = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        Assert.True((await me.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("twoFactorEnabled").GetBoolean());
    }

    [Fact]
    public async Task Authenticator_keys_and_recovery_codes_are_stored_protected_and_plain_rows_from_before_still_work()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);
        var setup = await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/enable");
        var key = setup.GetProperty("sharedKey").GetString()!.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        var recovery = setup.GetProperty("recoveryCodes").EnumerateArray().Select(c => c.GetString()!).ToList();
        await SendAsync(client, tokens, HttpMethod.Post, "/api/me/2fa/confirm", new { code = Totp.Code(key) });
        var userId = UserIdOf(tokens);

        var stored = await StoredAsync(userId);
        Assert.DoesNotContain(key, stored["AuthenticatorKey"], StringComparison.OrdinalIgnoreCase);
        Assert.All(recovery, code => Assert.DoesNotContain(code, stored["RecoveryCodes"], StringComparison.Ordinal));

        // Rows as Identity's own store wrote them before: the key and the codes in plain text.
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            await db.UserTokens.Where(t => t.UserId == userId && t.Name == "AuthenticatorKey").ExecuteUpdateAsync(u => u.SetProperty(t => t.Value, key), Ct);
            await db.UserTokens.Where(t => t.UserId == userId && t.Name == "RecoveryCodes").ExecuteUpdateAsync(u => u.SetProperty(t => t.Value, string.Join(';', recovery)), Ct);
        }
        await LoginAsync(client, email, totpCode: Totp.Code(key, DateTimeOffset.UtcNow.AddSeconds(30)));
        await LoginAsync(client, email, totpCode: recovery[0]);
        using var usedTwice = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password, totpCode = recovery[0] }, Ct);
        await LoginAsync(client, email, totpCode: recovery[1]);

        var rewritten = await StoredAsync(userId);
        Assert.Equal(HttpStatusCode.Unauthorized, usedTwice.StatusCode);
        Assert.StartsWith("dp1:", rewritten["AuthenticatorKey"], StringComparison.Ordinal);
        Assert.StartsWith("h1:", rewritten["RecoveryCodes"], StringComparison.Ordinal);
        Assert.All(recovery, code => Assert.DoesNotContain(code, rewritten["RecoveryCodes"], StringComparison.Ordinal));
        Assert.Equal(8, rewritten["RecoveryCodes"]["h1:".Length..].Split(';').Length);
    }

    async Task<Dictionary<string, string>> StoredAsync(Guid userId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        return await db.UserTokens.AsNoTracking().Where(t => t.UserId == userId && t.LoginProvider == ProtectedUserStore.InternalLoginProvider)
            .ToDictionaryAsync(t => t.Name, t => t.Value ?? "", Ct);
    }

    [Fact]
    public async Task Token_answers_are_not_cached()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        using var login = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        var tokens = (await login.Content.ReadFromJsonAsync<AuthTokens>(Ct))!;
        using var refresh = await client.PostAsJsonAsync("/api/auth/refresh", new { tokens.RefreshToken }, Ct);
        using var refused = await client.PostAsJsonAsync("/api/auth/login", new { email, password = "Wrong-password-1" }, Ct);

        foreach (var response in new[] { login, refresh, refused })
        {
            Assert.True(response.Headers.CacheControl?.NoStore, response.RequestMessage?.RequestUri?.ToString());
            Assert.Contains("no-cache", response.Headers.Pragma.Select(p => p.Name));
        }
        Assert.Equal(HttpStatusCode.OK, refresh.StatusCode);
    }

    static HttpRequestMessage From(string ip, object body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/auth/login") { Content = JsonContent.Create(body) };
        request.Headers.Add(ClientIpFromHeader.Header, ip);
        return request;
    }

    static HttpRequestMessage WithKey(string key, HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new("Bearer", key);
        return request;
    }

    /// <summary>The body without what differs on every request.</summary>
    static async Task<string> WithoutTraceIdAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        if (JsonNode.Parse(text) is not JsonObject body)
            return text;
        body.Remove("traceId");
        body.Remove("requestId");
        return body.ToJsonString();
    }
}

/// <summary>The test server has no client address; this one comes from a header, so that tests can sign in from two places.</summary>
sealed class ClientIpFromHeader : IStartupFilter
{
    public const string Header = "X-Test-Client-IP";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            if (context.Request.Headers[Header].ToString() is { Length: > 0 } ip)
                context.Connection.RemoteIpAddress = IPAddress.Parse(ip);
            return nextMiddleware(context);
        });
        next(app);
    };
}

public sealed class SqliteAccountSecurityFixture() : IdentityFixture("Sqlite", AccountSecurityTests.Settings, AccountSecurityTests.Services);

public sealed class PostgresAccountSecurityFixture() : IdentityFixture("Postgres", AccountSecurityTests.Settings, AccountSecurityTests.Services);

public sealed class AccountSecurityOnSqlite(SqliteAccountSecurityFixture fixture) : AccountSecurityTests(fixture.Host), IClassFixture<SqliteAccountSecurityFixture>;

public sealed class AccountSecurityOnPostgres(PostgresAccountSecurityFixture fixture) : AccountSecurityTests(fixture.Host), IClassFixture<PostgresAccountSecurityFixture>;
