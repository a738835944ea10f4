using System.Security.Claims;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Identity;

namespace AiHub.Identity;

/// <summary>The signed-in person's own account, for <c>/api/me</c> and the account pages alike.</summary>
internal sealed class Profiles(UserManager<AppUser> users, PermissionLookup permissions)
{
    public async Task<AppUser> CurrentAsync(ClaimsPrincipal principal) =>
        principal.UserId() is { } id && await users.FindByIdAsync(id.ToString()) is { } user
            ? user
            : throw new ProblemException(StatusCodes.Status401Unauthorized, "The account no longer exists.", null, ProblemTypes.InvalidCredentials);

    public async Task<MeResponse> DescribeAsync(AppUser user, CancellationToken ct)
    {
        var grants = await permissions.GetAsync(user.Id, ct);
        var logins = await users.GetLoginsAsync(user);
        return new MeResponse(user.Id, user.Email!, user.DisplayName, user.EmailConfirmed, user.TwoFactorEnabled,
            user.PasswordHash is not null, grants.Roles, grants.Permissions, logins.Select(l => l.LoginProvider).ToList(), user.CreatedAt);
    }
}
