using System.Security.Claims;
using System.Text;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Security;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Identity;

namespace AiHub.Identity;

/// <summary>The web UI's cookie: each sign-in is a session of its own, so it can be listed and revoked like an API client's.</summary>
internal sealed class BrowserSignIn(SignInManager<AppUser> signIn, UserManager<AppUser> users, IHttpContextAccessor http)
{
    const string MethodClaim = "amr";

    HttpContext Http => http.HttpContext ?? throw new InvalidOperationException("Browser sign-in needs the HTTP request.");

    /// <summary>Writes the cookie for a session that <see cref="Accounts"/> started.</summary>
    public async Task SignInAsync(AppUser user, UserSession session) =>
        await signIn.SignInWithClaimsAsync(user, new AuthenticationProperties { IsPersistent = true, ExpiresUtc = session.ExpiresAt },
            [new Claim("sid", session.Id.ToString())]);

    /// <summary>
    /// Remembers, in Identity's short-lived two-factor cookie, whose first step (password or provider) passed,
    /// so that the code form carries neither the password nor the provider's answer.
    /// </summary>
    public async Task BeginSecondFactorAsync(AppUser user, string method)
    {
        var identity = new ClaimsIdentity(IdentityConstants.TwoFactorUserIdScheme);
        identity.AddClaim(new Claim(ClaimTypes.Name, user.Id.ToString()));
        identity.AddClaim(new Claim(MethodClaim, method));
        await Http.SignInAsync(IdentityConstants.TwoFactorUserIdScheme, new ClaimsPrincipal(identity));
    }

    /// <summary>The user waiting for their second factor, unless the five minutes have passed.</summary>
    public async Task<(AppUser User, string Method)?> PendingSecondFactorAsync()
    {
        var result = await Http.AuthenticateAsync(IdentityConstants.TwoFactorUserIdScheme);
        if (!result.Succeeded || result.Principal.FindFirstValue(ClaimTypes.Name) is not { } id || await users.FindByIdAsync(id) is not { } user)
            return null;
        return (user, result.Principal.FindFirstValue(MethodClaim) ?? "password");
    }

    public async Task EndSecondFactorAsync() => await Http.SignOutAsync(IdentityConstants.TwoFactorUserIdScheme);

    /// <summary>A local path to go back to, percent-encoded to ASCII so that it fits a Location header; anything else is home.</summary>
    public static string LocalOrHome(string? returnUrl)
    {
        if (returnUrl is not { Length: > 0 } url || url[0] != '/' || (url.Length > 1 && (url[1] == '/' || url[1] == '\\')) || url.Any(char.IsControl))
            return "/";
        if (url.All(char.IsAscii))
            return url;
        var ascii = new StringBuilder(url.Length * 2);
        foreach (var rune in url.EnumerateRunes())
        {
            if (rune.IsAscii)
                ascii.Append((char)rune.Value);
            else
                ascii.Append(Uri.EscapeDataString(rune.ToString()));
        }
        return ascii.ToString();
    }

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
        // The antiforgery middleware only records its verdict; a form post without the token must not end the session.
        if (http.Features.Get<IAntiforgeryValidationFeature>() is not { IsValid: true })
            throw CrossSiteRequests.Refused();
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
