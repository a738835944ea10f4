using System.Security.Claims;
using AiHub.Data;
using Microsoft.AspNetCore.Authorization;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Hybrid;

namespace AiHub.Identity;

internal sealed record Grants(IReadOnlyList<string> Roles, IReadOnlyList<string> Permissions)
{
    public int Rank => Identity.Roles.RankOf(Roles);
}

/// <summary>A user's platform roles and permissions, cached; <see cref="InvalidateAsync"/> runs whenever their roles change.</summary>
internal sealed class PermissionLookup(HybridCache cache, IServiceScopeFactory scopes)
{
    public async Task<Grants> GetAsync(Guid userId, CancellationToken ct) =>
        await cache.GetOrCreateAsync(Key(userId), userId, LoadAsync, cancellationToken: ct);

    public async Task InvalidateAsync(Guid userId, CancellationToken ct) => await cache.RemoveAsync(Key(userId), ct);

    async ValueTask<Grants> LoadAsync(Guid userId, CancellationToken ct)
    {
        // Its own scope: the cache may run this after the caller's DbContext is gone.
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var roleIds = db.UserRoles.Where(r => r.UserId == userId).Select(r => r.RoleId);
        var roles = await db.Roles.Where(r => roleIds.Contains(r.Id)).Select(r => r.Name!).ToListAsync(ct);
        var permissions = await db.RolePermissions.Where(p => roleIds.Contains(p.RoleId)).Select(p => p.Permission).Distinct().ToListAsync(ct);
        return new Grants(roles.OrderByDescending(r => Identity.Roles.Find(r)?.Rank).ToList(), permissions.Order(StringComparer.Ordinal).ToList());
    }

    static string Key(Guid userId) => $"grants:{userId:N}";
}

internal sealed record PermissionRequirement(string Permission) : IAuthorizationRequirement;

internal sealed class PermissionHandler(PermissionLookup lookup) : AuthorizationHandler<PermissionRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, PermissionRequirement requirement)
    {
        if (context.User.UserId() is not { } userId)
            return;
        var grants = await lookup.GetAsync(userId, CancellationToken.None);
        if (grants.Permissions.Contains(requirement.Permission))
            context.Succeed(requirement);
    }
}

internal static class ClaimsPrincipalExtensions
{
    public static Guid? UserId(this ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirstValue(ClaimTypes.NameIdentifier) ?? user.FindFirstValue("sub"), out var id) ? id : null;

    public static Guid? SessionId(this ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirstValue("sid") ?? user.FindFirstValue(ClaimTypes.Sid), out var id) ? id : null;
}
