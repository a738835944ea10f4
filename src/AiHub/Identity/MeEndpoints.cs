using System.Globalization;
using System.Security.Claims;
using AiHub.Admin;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Identity;

internal sealed record MeResponse(
    Guid Id,
    string Email,
    string? DisplayName,
    bool EmailVerified,
    bool TwoFactorEnabled,
    bool HasPassword,
    IReadOnlyList<string> Roles,
    IReadOnlyList<string> Permissions,
    IReadOnlyList<string> ExternalLogins,
    DateTimeOffset CreatedAt);

internal sealed record UpdateMeRequest(string? DisplayName);

internal sealed record ChangePasswordRequest(string? CurrentPassword, string? NewPassword);

internal sealed record SessionResponse(Guid Id, string Kind, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt, DateTimeOffset ExpiresAt, string? IpAddress, string? UserAgent, bool Current);

internal sealed record TwoFactorSetup(string SharedKey, string OtpauthUri, IReadOnlyList<string> RecoveryCodes);

internal sealed record TwoFactorCodeRequest(string? Code);

internal sealed record TwoFactorStatus(bool Enabled, int RecoveryCodesLeft);

internal static class MeEndpoints
{
    public static void MapMeEndpoints(this IEndpointRouteBuilder app)
    {
        var me = app.MapGroup("/api/me").WithTags("Me").RequireAuthorization();
        me.MapGet("", Get);
        me.MapPatch("", Update);
        me.MapPost("/password", ChangePassword);
        me.MapGet("/sessions", ListSessions);
        me.MapDelete("/sessions/{id:guid}", RevokeSession);
        me.MapPost("/2fa/enable", EnableTwoFactor);
        me.MapPost("/2fa/confirm", ConfirmTwoFactor);
        me.MapPost("/2fa/disable", DisableTwoFactor);
    }

    static async Task<Ok<MeResponse>> Get(ClaimsPrincipal principal, UserManager<AppUser> users, PermissionLookup permissions, CancellationToken ct)
    {
        var user = await CurrentAsync(principal, users);
        return TypedResults.Ok(await DescribeAsync(user, users, permissions, ct));
    }

    internal static async Task<MeResponse> DescribeAsync(AppUser user, UserManager<AppUser> users, PermissionLookup permissions, CancellationToken ct)
    {
        var grants = await permissions.GetAsync(user.Id, ct);
        var logins = await users.GetLoginsAsync(user);
        return new MeResponse(user.Id, user.Email!, user.DisplayName, user.EmailConfirmed, user.TwoFactorEnabled,
            user.PasswordHash is not null, grants.Roles, grants.Permissions, logins.Select(l => l.LoginProvider).ToList(), user.CreatedAt);
    }

    static async Task<Ok<MeResponse>> Update(UpdateMeRequest body, ClaimsPrincipal principal, UserManager<AppUser> users, PermissionLookup permissions, CancellationToken ct)
    {
        var user = await CurrentAsync(principal, users);
        var name = body.DisplayName?.Trim();
        if (name is { Length: > 100 })
            throw Accounts.Invalid("displayName", "The display name can be at most 100 characters.");
        user.DisplayName = string.IsNullOrEmpty(name) ? null : name;
        await users.UpdateAsync(user);
        return TypedResults.Ok(await DescribeAsync(user, users, permissions, ct));
    }

    static async Task<NoContent> ChangePassword(ChangePasswordRequest body, ClaimsPrincipal principal, UserManager<AppUser> users, Accounts accounts, CancellationToken ct)
    {
        var user = await CurrentAsync(principal, users);
        await accounts.ChangePasswordAsync(user, body.CurrentPassword, body.NewPassword, principal.SessionId(), ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<List<SessionResponse>>> ListSessions(ClaimsPrincipal principal, AppDbContext db, TimeProvider clock, CancellationToken ct)
    {
        var userId = principal.UserId()!.Value;
        var current = principal.SessionId();
        var now = clock.GetUtcNow();
        var sessions = await db.UserSessions.AsNoTracking()
            .Where(s => s.UserId == userId && s.RevokedAt == null && s.ExpiresAt > now)
            .OrderByDescending(s => s.LastSeenAt)
            .ToListAsync(ct);
        return TypedResults.Ok(sessions.Select(s => new SessionResponse(s.Id, s.Kind.ToString(), s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.IpAddress, s.UserAgent, s.Id == current)).ToList());
    }

    static async Task<NoContent> RevokeSession(Guid id, ClaimsPrincipal principal, Sessions sessions, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var userId = principal.UserId()!.Value;
        if (await sessions.RevokeAsync(userId, id, "revoked-by-user", ct) == 0)
            throw new ProblemException(StatusCodes.Status404NotFound, "No such session.", $"You have no active session {id}.", ProblemTypes.NotFound);
        audit.Add(AuditKinds.SessionRevoked, userId, new { session = id });
        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<TwoFactorSetup>> EnableTwoFactor(ClaimsPrincipal principal, UserManager<AppUser> users)
    {
        var user = await CurrentAsync(principal, users);
        if (user.TwoFactorEnabled)
            throw new ProblemException(StatusCodes.Status409Conflict, "Two-factor sign-in is already on.",
                "Turn it off first to enrol a new authenticator.", ProblemTypes.Conflict);
        await users.ResetAuthenticatorKeyAsync(user);
        var key = (await users.GetAuthenticatorKeyAsync(user))!;
        var codes = (await users.GenerateNewTwoFactorRecoveryCodesAsync(user, 10))!.ToList();
        return TypedResults.Ok(new TwoFactorSetup(FormatKey(key), OtpauthUri(user.Email!, key), codes));
    }

    static async Task<Ok<TwoFactorStatus>> ConfirmTwoFactor(TwoFactorCodeRequest body, ClaimsPrincipal principal, UserManager<AppUser> users, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var user = await CurrentAsync(principal, users);
        if (await users.GetAuthenticatorKeyAsync(user) is null)
            throw new ProblemException(StatusCodes.Status409Conflict, "There is no enrolment to confirm.", "Call /api/me/2fa/enable first.", ProblemTypes.Conflict);
        if (!await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, Digits(body.Code)))
            throw InvalidCode();
        await users.SetTwoFactorEnabledAsync(user, true);
        audit.Add(AuditKinds.TwoFactorEnabled, user.Id);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(new TwoFactorStatus(true, await users.CountRecoveryCodesAsync(user)));
    }

    static async Task<Ok<TwoFactorStatus>> DisableTwoFactor(TwoFactorCodeRequest body, ClaimsPrincipal principal, UserManager<AppUser> users, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var user = await CurrentAsync(principal, users);
        if (!user.TwoFactorEnabled)
            return TypedResults.Ok(new TwoFactorStatus(false, 0));
        // A current code (or a recovery code) proves the person at the keyboard still holds the second factor.
        var ok = await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, Digits(body.Code))
            || (!string.IsNullOrWhiteSpace(body.Code) && (await users.RedeemTwoFactorRecoveryCodeAsync(user, body.Code.Trim())).Succeeded);
        if (!ok)
            throw InvalidCode();
        await users.SetTwoFactorEnabledAsync(user, false);
        await users.ResetAuthenticatorKeyAsync(user);
        audit.Add(AuditKinds.TwoFactorDisabled, user.Id);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(new TwoFactorStatus(false, 0));
    }

    internal static async Task<AppUser> CurrentAsync(ClaimsPrincipal principal, UserManager<AppUser> users) =>
        principal.UserId() is { } id && await users.FindByIdAsync(id.ToString()) is { } user
            ? user
            : throw new ProblemException(StatusCodes.Status401Unauthorized, "The account no longer exists.", null, ProblemTypes.InvalidCredentials);

    static string Digits(string? code) => code?.Replace(" ", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal) ?? "";

    static ProblemException InvalidCode() => new(StatusCodes.Status400BadRequest, "The code is not correct.",
        "Enter the current 6-digit code from the authenticator app.", ProblemTypes.InvalidTwoFactorCode);

    internal static string FormatKey(string key) =>
        string.Join(' ', Enumerable.Range(0, (key.Length + 3) / 4).Select(i => key.Substring(i * 4, Math.Min(4, key.Length - i * 4)))).ToLowerInvariant();

    internal static string OtpauthUri(string email, string key) => string.Create(CultureInfo.InvariantCulture,
        $"otpauth://totp/{Uri.EscapeDataString("AiHub")}:{Uri.EscapeDataString(email)}?secret={key}&issuer=AiHub&digits=6&period=30");
}
