using System.Security.Claims;
using AiHub.Admin;
using AiHub.Data;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace AiHub.Identity;

/// <summary>The web UI's cookie: each sign-in is a session of its own, so it can be listed and revoked like an API client's.</summary>
internal sealed class BrowserSignIn(
    SignInManager<AppUser> signIn,
    Sessions sessions,
    AuditLog audit,
    AppDbContext db,
    IHttpContextAccessor http,
    IOptions<IdentitySettings> settings)
{
    /// <summary>Starts a browser session for a user whom a provider has vouched for.</summary>
    public async Task SignInAsync(AppUser user, string method, CancellationToken ct)
    {
        var session = sessions.Start(user.Id, SessionKind.Browser, settings.Value.BrowserSessionLifetime, http.HttpContext);
        audit.Add(AuditKinds.LoginSucceeded, user.Id, new { method, session = session.Id, kind = nameof(SessionKind.Browser) });
        await db.SaveChangesAsync(ct);
        await SignInAsync(user, session);
    }

    /// <summary>Writes the cookie for a session that <see cref="Accounts.LoginAsync"/> started.</summary>
    public async Task SignInAsync(AppUser user, UserSession session) =>
        await signIn.SignInWithClaimsAsync(user, new AuthenticationProperties { IsPersistent = true, ExpiresUtc = session.ExpiresAt },
            [new Claim("sid", session.Id.ToString())]);

    public static string LocalOrHome(string? returnUrl) =>
        returnUrl is { Length: > 0 } url && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) ? url : "/";

    public static IResult BackToLogin(string message) =>
        Results.LocalRedirect("/account/login?error=" + Uri.EscapeDataString(message));

}

internal static class BrowserSignInEndpoints
{
    public static void MapBrowserSignInEndpoints(this IEndpointRouteBuilder app) =>
        app.MapPost("/account/logout", LogoutAsync)
            .WithMetadata(new RequireAntiforgeryTokenAttribute(true))
            .ExcludeFromDescription();

    static async Task<IResult> LogoutAsync(HttpContext http, Sessions sessions, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var result = await http.AuthenticateAsync(IdentityConstants.ApplicationScheme);
        if (result.Succeeded && result.Principal.UserId() is { } userId && result.Principal.SessionId() is { } sid)
        {
            await sessions.RevokeAsync(userId, sid, "logout", ct);
            audit.Add(AuditKinds.Logout, userId);
            await db.SaveChangesAsync(ct);
        }
        await http.SignOutAsync(IdentityConstants.ApplicationScheme);
        return Results.LocalRedirect("/account/login?signedOut=true");
    }
}
