using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;

namespace AiHub.Identity;

internal sealed record RegisterRequest(string? Email, string? Password, string? DisplayName);

internal sealed record VerifyEmailRequest(string? Email, string? Code);

internal sealed record EmailRequest(string? Email);

internal sealed record LoginRequest(string? Email, string? Password, string? TotpCode);

internal sealed record RefreshRequest(string? RefreshToken);

/// <param name="TurnOffTwoFactor">Also turn off two-factor sign-in, for an authenticator that is lost; the reset link proves the mailbox.</param>
internal sealed record ResetPasswordRequest(string? Token, string? NewPassword, bool TurnOffTwoFactor = false);

internal sealed record AuthMessage(string Status, string Message);

internal static class AuthEndpoints
{
    public static void MapAuthEndpoints(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/api/auth").WithTags("Authentication").AllowAnonymous()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status429TooManyRequests);
        auth.MapPost("/register", Register).WithSummary("Creates an account and mails a code to verify its email address.");
        auth.MapPost("/verify-email", VerifyEmail).WithSummary("Verifies an email address with the code that was mailed.");
        auth.MapPost("/resend-verification", ResendVerification).WithSummary("Mails a new verification code.");
        auth.MapPost("/login", Login).WithSummary("Signs in with email and password (and a two-factor code when on); returns an access and a refresh token.").AddEndpointFilter(NoStore);
        auth.MapPost("/refresh", Refresh).WithSummary("Exchanges a refresh token for a new access and refresh token.").AddEndpointFilter(NoStore);
        auth.MapPost("/logout", Logout).WithSummary("Ends the session of a refresh token.");
        auth.MapPost("/forgot-password", ForgotPassword).WithSummary("Mails a link to reset the password.");
        auth.MapPost("/reset-password", ResetPassword).WithSummary("Sets a new password with the token from the reset link.");
    }

    /// <summary>Tokens must not be kept by a browser's or a proxy's cache, whatever the answer is.</summary>
    static async ValueTask<object?> NoStore(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var response = context.HttpContext.Response;
        // At the start of the answer, so that a refusal written by the error handler carries them too.
        response.OnStarting(() =>
        {
            response.Headers.CacheControl = "no-store";
            response.Headers.Pragma = "no-cache";
            return Task.CompletedTask;
        });
        return await next(context);
    }

    static async Task<Accepted<AuthMessage>> Register(RegisterRequest body, Accounts accounts, CancellationToken ct)
    {
        await accounts.RegisterAsync(body.Email, body.Password, body.DisplayName, ct);
        return TypedResults.Accepted((string?)null, new AuthMessage("verification-pending",
            "If the address can receive mail, a 6-digit code is on its way; it expires in 15 minutes."));
    }

    static async Task<Ok<AuthMessage>> VerifyEmail(VerifyEmailRequest body, Accounts accounts, CancellationToken ct)
    {
        await accounts.VerifyEmailAsync(body.Email, body.Code, ct);
        return TypedResults.Ok(new AuthMessage("verified", "The email address is verified; sign in."));
    }

    static async Task<Accepted<AuthMessage>> ResendVerification(EmailRequest body, Accounts accounts, CancellationToken ct)
    {
        await accounts.ResendVerificationAsync(body.Email, ct);
        return TypedResults.Accepted((string?)null, new AuthMessage("verification-pending",
            "If the address has an account waiting for verification, a new code is on its way."));
    }

    static async Task<Ok<TokenPair>> Login(LoginRequest body, Accounts accounts, Tokens tokens, AppDbContext db, CancellationToken ct)
    {
        var (user, session) = await accounts.LoginAsync(body.Email, body.Password, body.TotpCode, SessionKind.Api, ct);
        var pair = tokens.Issue(user, session);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(pair);
    }

    static async Task<Ok<TokenPair>> Refresh(RefreshRequest body, Tokens tokens, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(body.RefreshToken))
            throw ProblemException.Invalid("refreshToken", "Send the refresh token from the last sign-in or refresh.");
        return TypedResults.Ok(await tokens.RefreshAsync(body.RefreshToken, ct));
    }

    /// <remarks>Anonymous on purpose: a client whose access token has just expired must still be able to sign out.</remarks>
    static async Task<NoContent> Logout(RefreshRequest? body, HttpContext http, Tokens tokens, Sessions sessions, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        Guid? userId = null;
        // The bearer first: once its session is revoked below, it would no longer authenticate.
        var bearer = await http.AuthenticateAsync(JwtBearerDefaults.AuthenticationScheme);
        if (bearer.Succeeded && bearer.Principal.UserId() is { } bearerUser)
        {
            if (bearer.Principal.FindFirst("jti")?.Value is { } jti && bearer.Properties?.ExpiresUtc is { } expires)
                await sessions.DenyAccessTokenAsync(jti, expires, ct);
            if (bearer.Principal.SessionId() is { } sid)
                await sessions.RevokeAsync(bearerUser, sid, "logout", ct);
            userId = bearerUser;
        }
        if (!string.IsNullOrWhiteSpace(body?.RefreshToken) && await tokens.FindAsync(body.RefreshToken, ct) is { } refresh)
        {
            await sessions.RevokeAsync(refresh.UserId, refresh.SessionId, "logout", ct);
            userId ??= refresh.UserId;
        }
        if (userId is not null)
        {
            audit.Add(AuditKinds.Logout, userId);
            await db.SaveChangesAsync(ct);
        }
        return TypedResults.NoContent();
    }

    static async Task<Accepted<AuthMessage>> ForgotPassword(EmailRequest body, Accounts accounts, CancellationToken ct)
    {
        await accounts.ForgotPasswordAsync(body.Email, ct);
        return TypedResults.Accepted((string?)null, new AuthMessage("reset-sent",
            "If the address has an account, a link to choose a new password is on its way; it works once, within an hour."));
    }

    static async Task<Ok<AuthMessage>> ResetPassword(ResetPasswordRequest body, Accounts accounts, CancellationToken ct)
    {
        await accounts.ResetPasswordAsync(body.Token, body.NewPassword, body.TurnOffTwoFactor, ct);
        return TypedResults.Ok(new AuthMessage("password-reset", "The password is changed, every session is signed out and every API key you made is revoked; sign in again and make new keys where you need them."));
    }
}
