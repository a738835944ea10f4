using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Web;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Identity;

/// <summary>Sign-up to sign-out over HTTP, with the codes and links read from mail a real SMTP server received.</summary>
public abstract class AccountFlowTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Register_verify_login_refresh_and_logout()
    {
        using var client = host.Client();
        var email = NewEmail();

        using var registered = await client.PostAsJsonAsync("/api/auth/register", new { email, password = Password }, Ct);
        var mail = await host.NextMailAsync(email);
        var code = System.Text.RegularExpressions.Regex.Match(mail.TextBody ?? "", @"\b\d{6}\b").Value;
        using var verified = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code }, Ct);
        var tokens = await LoginAsync(client, email);
        using var me = await client.SendAsync(As(tokens, HttpMethod.Get, "/api/me"), Ct);
        var profile = await me.Content.ReadFromJsonAsync<JsonElement>(Ct);
        using var refreshed = await client.PostAsJsonAsync("/api/auth/refresh", new { tokens.RefreshToken }, Ct);
        var next = (await refreshed.Content.ReadFromJsonAsync<AuthTokens>(Ct))!;
        using var loggedOut = await client.SendAsync(As(next, HttpMethod.Post, "/api/auth/logout", new { next.RefreshToken }), Ct);
        using var afterLogout = await client.SendAsync(As(next, HttpMethod.Get, "/api/me"), Ct);
        using var refreshAfterLogout = await client.PostAsJsonAsync("/api/auth/refresh", new { next.RefreshToken }, Ct);

        Assert.Equal(HttpStatusCode.Accepted, registered.StatusCode);
        Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
        Assert.Equal("Bearer", tokens.TokenType);
        Assert.Equal(900, tokens.ExpiresIn);
        Assert.StartsWith("ahr_", tokens.RefreshToken, StringComparison.Ordinal);
        Assert.Equal(3, tokens.AccessToken.Split('.').Length);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(email, profile.GetProperty("email").GetString());
        Assert.True(profile.GetProperty("emailVerified").GetBoolean());
        Assert.Equal(["User"], profile.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.Contains("services:use", profile.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(HttpStatusCode.OK, refreshed.StatusCode);
        Assert.NotEqual(tokens.RefreshToken, next.RefreshToken);
        Assert.Equal(HttpStatusCode.NoContent, loggedOut.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, afterLogout.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refreshAfterLogout.StatusCode);
        Assert.Contains("verification code", mail.Subject, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(code, mail.HtmlBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_answers_alike_whether_or_not_the_address_exists()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);

        using var first = await client.PostAsJsonAsync("/api/auth/register", new { email = NewEmail(), password = Password }, Ct);
        using var again = await client.PostAsJsonAsync("/api/auth/register", new { email, password = "Another-Password-7" }, Ct);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(Ct), await again.Content.ReadAsStringAsync(Ct));
        await LoginAsync(client, email);   // the original password still holds
    }

    [Fact]
    public async Task An_unverified_address_cannot_log_in_and_is_told_why()
    {
        using var client = host.Client();
        var email = NewEmail();
        using var _ = await client.PostAsJsonAsync("/api/auth/register", new { email, password = Password }, Ct);

        using var login = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        using var wrongPassword = await client.PostAsJsonAsync("/api/auth/login", new { email, password = "Wrong-password-1" }, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, login.StatusCode);
        Assert.Equal("urn:aihub:problem:email-not-verified", (await ProblemAsync(login)).GetProperty("type").GetString());
        // Only the password's owner learns that the address waits for verification.
        Assert.Equal(HttpStatusCode.Unauthorized, wrongPassword.StatusCode);
    }

    [Fact]
    public async Task Wrong_replayed_and_exhausted_codes_get_one_answer_that_reveals_nothing()
    {
        using var client = host.Client();
        var email = NewEmail();
        using var _ = await client.PostAsJsonAsync("/api/auth/register", new { email, password = Password }, Ct);
        var code = await host.CodeFromMailAsync(email);
        var wrong = code == "000000" ? "111111" : "000000";

        using var wrongOnce = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code = wrong }, Ct);
        var wrongProblem = await ProblemAsync(wrongOnce);
        using var right = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code }, Ct);
        using var replayed = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code }, Ct);
        using var notACode = await client.PostAsJsonAsync("/api/auth/verify-email", new { email, code = "12ab" }, Ct);

        var other = NewEmail();
        using var __ = await client.PostAsJsonAsync("/api/auth/register", new { email = other, password = Password }, Ct);
        var otherCode = await host.CodeFromMailAsync(other);
        var otherWrong = otherCode == "000000" ? "111111" : "000000";
        for (var i = 0; i < 5; i++)
            (await client.PostAsJsonAsync("/api/auth/verify-email", new { email = other, code = otherWrong }, Ct)).Dispose();
        using var exhausted = await client.PostAsJsonAsync("/api/auth/verify-email", new { email = other, code = otherCode }, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, wrongOnce.StatusCode);
        Assert.Equal("urn:aihub:problem:verification-code-invalid", wrongProblem.GetProperty("type").GetString());
        Assert.Equal("The code is wrong or has expired; ask for a new one.", wrongProblem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, replayed.StatusCode);
        Assert.Equal(wrongProblem.GetProperty("detail").GetString(), (await ProblemAsync(replayed)).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, notACode.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, exhausted.StatusCode);
        Assert.Equal("urn:aihub:problem:verification-code-invalid", (await ProblemAsync(exhausted)).GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_rotated_refresh_token_used_again_revokes_its_whole_family()
    {
        using var client = host.Client();
        var first = await host.NewUserAsync(client);
        using var rotated = await client.PostAsJsonAsync("/api/auth/refresh", new { first.RefreshToken }, Ct);
        var second = (await rotated.Content.ReadFromJsonAsync<AuthTokens>(Ct))!;

        using var replay = await client.PostAsJsonAsync("/api/auth/refresh", new { first.RefreshToken }, Ct);
        using var successor = await client.PostAsJsonAsync("/api/auth/refresh", new { second.RefreshToken }, Ct);
        using var access = await client.SendAsync(As(second, HttpMethod.Get, "/api/me"), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, replay.StatusCode);
        Assert.Equal("urn:aihub:problem:refresh-token-reused", (await ProblemAsync(replay)).GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, successor.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, access.StatusCode);
        Assert.True(await AuditedAsync(AuditKinds.RefreshReused, second));
    }

    [Fact]
    public async Task Resetting_the_password_revokes_every_session()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        var laptop = await LoginAsync(client, email);
        var phone = await LoginAsync(client, email);

        using var forgot = await client.PostAsJsonAsync("/api/auth/forgot-password", new { email }, Ct);
        using var forgotUnknown = await client.PostAsJsonAsync("/api/auth/forgot-password", new { email = NewEmail() }, Ct);
        var mail = await host.NextMailAsync(email);
        var link = System.Text.RegularExpressions.Regex.Match(mail.TextBody ?? "", @"https://aihub\.test/account/reset-password\?token=\S+").Value;
        var token = HttpUtility.ParseQueryString(new Uri(link).Query)["token"];
        using var reset = await client.PostAsJsonAsync("/api/auth/reset-password", new { token, newPassword = "Brand-New-Password-9" }, Ct);
        using var reused = await client.PostAsJsonAsync("/api/auth/reset-password", new { token, newPassword = "Yet-Another-Password-9" }, Ct);

        Assert.Equal(HttpStatusCode.Accepted, forgot.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, forgotUnknown.StatusCode);
        Assert.Equal(await forgot.Content.ReadAsStringAsync(Ct), await forgotUnknown.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, reused.StatusCode);
        Assert.Equal("urn:aihub:problem:reset-token-invalid", (await ProblemAsync(reused)).GetProperty("type").GetString());
        foreach (var old in new[] { laptop, phone })
        {
            using var me = await client.SendAsync(As(old, HttpMethod.Get, "/api/me"), Ct);
            using var refresh = await client.PostAsJsonAsync("/api/auth/refresh", new { old.RefreshToken }, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, refresh.StatusCode);
        }
        using var oldPassword = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, oldPassword.StatusCode);
        await LoginAsync(client, email, "Brand-New-Password-9");
    }

    [Fact]
    public async Task Sessions_are_listed_and_one_can_be_revoked()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        var mine = await LoginAsync(client, email);
        var other = await LoginAsync(client, email);

        using var list = await client.SendAsync(As(mine, HttpMethod.Get, "/api/me/sessions"), Ct);
        var sessions = await list.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var otherId = sessions.EnumerateArray().Single(s => !s.GetProperty("current").GetBoolean()).GetProperty("id").GetString();
        using var revoke = await client.SendAsync(As(mine, HttpMethod.Delete, $"/api/me/sessions/{otherId}"), Ct);
        using var again = await client.SendAsync(As(mine, HttpMethod.Delete, $"/api/me/sessions/{otherId}"), Ct);
        using var otherMe = await client.SendAsync(As(other, HttpMethod.Get, "/api/me"), Ct);
        using var myMe = await client.SendAsync(As(mine, HttpMethod.Get, "/api/me"), Ct);

        Assert.Equal(2, sessions.GetArrayLength());
        Assert.Equal(HttpStatusCode.NoContent, revoke.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, otherMe.StatusCode);
        Assert.Equal(HttpStatusCode.OK, myMe.StatusCode);
    }

    [Fact]
    public async Task Two_factor_enrolment_then_login_needs_the_code_or_a_recovery_code()
    {
        using var client = host.Client();
        var email = await host.RegisterVerifiedAsync(client);
        var tokens = await LoginAsync(client, email);

        using var enable = await client.SendAsync(As(tokens, HttpMethod.Post, "/api/me/2fa/enable"), Ct);
        var setup = await enable.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var key = setup.GetProperty("sharedKey").GetString()!;
        var recovery = setup.GetProperty("recoveryCodes").EnumerateArray().Select(c => c.GetString()!).ToList();
        using var badConfirm = await client.SendAsync(As(tokens, HttpMethod.Post, "/api/me/2fa/confirm", new { code = "123" }), Ct);
        var now = DateTimeOffset.UtcNow;
        using var confirm = await client.SendAsync(As(tokens, HttpMethod.Post, "/api/me/2fa/confirm", new { code = Totp.Code(key, now) }), Ct);
        using var withoutCode = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password }, Ct);
        using var wrongCode = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password, totpCode = "000000" == Totp.Code(key) ? "111111" : "000000" }, Ct);
        // Each code works once: the next ones come from the following 30-second steps, which the server still accepts.
        var withCode = await LoginAsync(client, email, totpCode: Totp.Code(key, now.AddSeconds(30)));
        var withRecovery = await LoginAsync(client, email, totpCode: recovery[0]);
        using var recoveryTwice = await client.PostAsJsonAsync("/api/auth/login", new { email, password = Password, totpCode = recovery[0] }, Ct);
        using var disable = await client.SendAsync(As(withCode, HttpMethod.Post, "/api/me/2fa/disable", new { code = Totp.Code(key, now.AddSeconds(60)) }), Ct);
        var afterDisable = await LoginAsync(client, email);

        Assert.StartsWith("otpauth://totp/AiHub:", setup.GetProperty("otpauthUri").GetString(), StringComparison.Ordinal);
        Assert.Equal(10, recovery.Count);
        Assert.Equal(HttpStatusCode.BadRequest, badConfirm.StatusCode);
        Assert.Equal(HttpStatusCode.OK, confirm.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, withoutCode.StatusCode);
        Assert.Equal("urn:aihub:problem:two-factor-required", (await ProblemAsync(withoutCode)).GetProperty("type").GetString());
        Assert.Equal("urn:aihub:problem:invalid-two-factor-code", (await ProblemAsync(wrongCode)).GetProperty("type").GetString());
        Assert.NotNull(withRecovery.AccessToken);
        Assert.Equal(HttpStatusCode.Unauthorized, recoveryTwice.StatusCode);
        Assert.Equal(HttpStatusCode.OK, disable.StatusCode);
        Assert.NotNull(afterDisable.AccessToken);
        Assert.True(await AuditedAsync(AuditKinds.TwoFactorEnabled, tokens));
        Assert.True(await AuditedAsync(AuditKinds.TwoFactorDisabled, tokens));
    }

    [Theory]
    [InlineData("/api/auth/register", """{"email":"not-an-email","password":"Correct-Horse-42"}""", "email")]
    [InlineData("/api/auth/register", """{"email":"weak@example.com","password":"short1A"}""", "password")]
    [InlineData("/api/auth/register", """{"email":"weak@example.com","password":"alllowercaseletters"}""", "password")]
    [InlineData("/api/auth/register", """{"email":"weak@example.com"}""", "password")]
    [InlineData("/api/auth/login", """{"email":"","password":"x"}""", "email")]
    [InlineData("/api/auth/verify-email", """{"email":"a@example.com","code":null}""", "code")]
    [InlineData("/api/auth/refresh", """{}""", "refreshToken")]
    [InlineData("/api/auth/reset-password", """{"token":"not-a-token","newPassword":"Correct-Horse-42"}""", null)]
    [InlineData("/api/auth/reset-password", """{"token":"QUJD","newPassword":"Correct-Horse-42"}""", null)]
    [InlineData("/api/auth/refresh", """{"refreshToken":"ahr_forged"}""", null)]
    [InlineData("/api/auth/login", """{"email": 5""", null)]
    [InlineData("/api/auth/register", """[1,2]""", null)]
    public async Task Bad_input_is_a_clear_4xx_problem_never_a_500(string path, string json, string? field)
    {
        using var client = host.Client();
        using var response = await client.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"), Ct);
        var problem = await ProblemAsync(response);

        Assert.InRange((int)response.StatusCode, 400, 499);
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        if (field is not null)
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task A_weak_password_is_refused_with_the_reason()
    {
        using var client = host.Client();
        using var response = await client.PostAsJsonAsync("/api/auth/register", new { email = NewEmail(), password = "abcdefghijkl" }, Ct);
        var problem = await ProblemAsync(response);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("urn:aihub:problem:weak-password", problem.GetProperty("type").GetString());
        Assert.Contains("two kinds of characters", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_audit_log_refuses_to_be_rewritten()
    {
        using var client = host.Client();
        await host.NewUserAsync(client);
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var entry = await db.AuditEvents.FirstAsync(Ct);

        var throughEf = await Record.ExceptionAsync(async () =>
        {
            db.AuditEvents.Remove(entry);
            await db.SaveChangesAsync(Ct);
        });
        db.ChangeTracker.Clear();
        var update = await Record.ExceptionAsync(() => db.Database.ExecuteSqlRawAsync("UPDATE audit_events SET kind = 'forged'", Ct));
        var delete = await Record.ExceptionAsync(() => db.Database.ExecuteSqlRawAsync("DELETE FROM audit_events", Ct));

        Assert.IsType<InvalidOperationException>(throughEf);
        Assert.Contains("append-only", update?.Message, StringComparison.Ordinal);
        Assert.Contains("append-only", delete?.Message, StringComparison.Ordinal);
        Assert.True(await db.AuditEvents.AnyAsync(Ct));
    }

    async Task<bool> AuditedAsync(string kind, AuthTokens tokens)
    {
        var userId = Guid.Parse(new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(tokens.AccessToken).Subject);
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().AuditEvents.AnyAsync(e => e.Kind == kind && e.UserId == userId, Ct);
    }
}

public sealed class AccountFlowsOnSqlite(SqliteIdentityFixture fixture) : AccountFlowTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class AccountFlowsOnPostgres(PostgresIdentityFixture fixture) : AccountFlowTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
