using System.Security.Claims;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;

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

internal sealed record SessionResponse(Guid Id, SessionKind Kind, DateTimeOffset CreatedAt, DateTimeOffset LastSeenAt, DateTimeOffset ExpiresAt, string? IpAddress, string? UserAgent, bool Current);

internal sealed record TwoFactorSetup(string SharedKey, string OtpauthUri, IReadOnlyList<string> RecoveryCodes);

internal sealed record TwoFactorCodeRequest(string? Code);

internal sealed record TwoFactorStatus(bool Enabled, int RecoveryCodesLeft);

internal static class MeEndpoints
{
    public static void MapMeEndpoints(this IEndpointRouteBuilder app)
    {
        var me = app.MapGroup("/api/me").WithTags("Me").RequireAuthorization()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden);
        me.MapGet("", Get).WithSummary("Your profile: email, display name, roles and two-factor status.");
        me.MapPatch("", Update).WithSummary("Changes your display name.");
        me.MapPost("/password", ChangePassword).WithSummary("Changes your password; your other sessions are signed out.");
        me.MapGet("/sessions", ListSessions).WithSummary("Lists your signed-in browsers and API clients.");
        me.MapDelete("/sessions/{id:guid}", RevokeSession).WithSummary("Signs one of your sessions out.");
        me.MapPost("/2fa/enable", EnableTwoFactor).WithSummary("Starts turning on two-factor sign-in: returns the authenticator key to scan.");
        me.MapPost("/2fa/confirm", ConfirmTwoFactor).WithSummary("Confirms two-factor sign-in with a code from the authenticator; returns recovery codes.");
        me.MapPost("/2fa/disable", DisableTwoFactor).WithSummary("Turns two-factor sign-in off.");
    }

    static async Task<Ok<MeResponse>> Get(ClaimsPrincipal principal, Profiles profiles, CancellationToken ct) =>
        TypedResults.Ok(await profiles.DescribeAsync(await profiles.CurrentAsync(principal), ct));

    static async Task<Ok<MeResponse>> Update(UpdateMeRequest body, ClaimsPrincipal principal, Profiles profiles, Accounts accounts, CancellationToken ct)
    {
        var user = await profiles.CurrentAsync(principal);
        await accounts.SetDisplayNameAsync(user, body.DisplayName);
        return TypedResults.Ok(await profiles.DescribeAsync(user, ct));
    }

    static async Task<NoContent> ChangePassword(ChangePasswordRequest body, ClaimsPrincipal principal, Profiles profiles, Accounts accounts, CancellationToken ct)
    {
        var user = await profiles.CurrentAsync(principal);
        await accounts.ChangePasswordAsync(user, body.CurrentPassword, body.NewPassword, principal.SessionId(), ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<List<SessionResponse>>> ListSessions(ClaimsPrincipal principal, Sessions sessions, CancellationToken ct)
    {
        var current = principal.SessionId();
        var active = await sessions.ListActiveAsync(principal.UserId()!.Value, ct);
        return TypedResults.Ok(active.Select(s => new SessionResponse(s.Id, s.Kind, s.CreatedAt, s.LastSeenAt, s.ExpiresAt, s.IpAddress, s.UserAgent, s.Id == current)).ToList());
    }

    static async Task<NoContent> RevokeSession(Guid id, ClaimsPrincipal principal, Sessions sessions, CancellationToken ct) =>
        await sessions.RevokeByUserAsync(principal.UserId()!.Value, id, ct)
            ? TypedResults.NoContent()
            : throw new ProblemException(StatusCodes.Status404NotFound, "No such session.", $"You have no active session {id}.", ProblemTypes.NotFound);

    static async Task<Ok<TwoFactorSetup>> EnableTwoFactor(ClaimsPrincipal principal, Profiles profiles, TwoFactor twoFactor) =>
        TypedResults.Ok(await twoFactor.StartAsync(await profiles.CurrentAsync(principal)));

    static async Task<Ok<TwoFactorStatus>> ConfirmTwoFactor(TwoFactorCodeRequest body, ClaimsPrincipal principal, Profiles profiles, TwoFactor twoFactor, CancellationToken ct) =>
        TypedResults.Ok(await twoFactor.ConfirmAsync(await profiles.CurrentAsync(principal), body.Code, ct));

    static async Task<Ok<TwoFactorStatus>> DisableTwoFactor(TwoFactorCodeRequest body, ClaimsPrincipal principal, Profiles profiles, TwoFactor twoFactor, CancellationToken ct) =>
        TypedResults.Ok(await twoFactor.DisableAsync(await profiles.CurrentAsync(principal), body.Code, ct));
}
