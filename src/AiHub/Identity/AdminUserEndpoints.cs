using System.Security.Claims;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Identity;

internal sealed record AdminUser(Guid Id, string Email, string? DisplayName, bool EmailVerified, bool TwoFactorEnabled, bool LockedOut, IReadOnlyList<string> Roles, DateTimeOffset CreatedAt);

internal sealed record PagedList<T>(IReadOnlyList<T> Items, int Page, int PageSize, int Total);

internal sealed record GrantRoleRequest(string? Role);

internal sealed record UserRoles(Guid UserId, IReadOnlyList<string> Roles);

internal static class AdminUserEndpoints
{
    public static void MapAdminUserEndpoints(this IEndpointRouteBuilder app)
    {
        AdminApi.Group(app, "/users", Permissions.UsersRead).MapGet("", List).WithSummary("Lists user accounts, searched by email, a page at a time.");
        var roles = AdminApi.Group(app, "/users", Permissions.RolesManage);
        roles.MapPost("/{id:guid}/roles", Grant).WithSummary("Gives a user a platform role.");
        roles.MapDelete("/{id:guid}/roles/{role}", Revoke).WithSummary("Takes a platform role from a user.");
    }

    static async Task<Ok<PagedList<AdminUser>>> List(AppDbContext db, TimeProvider clock, CancellationToken ct, string? search = null, int page = 1, int pageSize = 50)
    {
        if (page < 1 || pageSize is < 1 or > 200)
            throw ProblemException.Invalid("pageSize", "page starts at 1 and pageSize is between 1 and 200.");
        var query = db.Users.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(search))
        {
            var term = search.Trim().ToUpperInvariant();
            query = query.Where(u => u.NormalizedEmail!.Contains(term));
        }
        var total = await query.CountAsync(ct);
        var users = await query.OrderBy(u => u.NormalizedEmail).Skip((page - 1) * pageSize).Take(pageSize).ToListAsync(ct);
        var ids = users.Select(u => u.Id).ToList();
        var roles = await (from ur in db.UserRoles
                           join r in db.Roles on ur.RoleId equals r.Id
                           where ids.Contains(ur.UserId)
                           select new { ur.UserId, r.Name }).ToListAsync(ct);
        var now = clock.GetUtcNow();
        var items = users.Select(u => new AdminUser(u.Id, u.Email!, u.DisplayName, u.EmailConfirmed, u.TwoFactorEnabled, u.LockoutEnd > now,
            roles.Where(r => r.UserId == u.Id).Select(r => r.Name!).ToList(), u.CreatedAt)).ToList();
        return TypedResults.Ok(new PagedList<AdminUser>(items, page, pageSize, total));
    }

    static async Task<Ok<UserRoles>> Grant(Guid id, GrantRoleRequest body, ClaimsPrincipal principal, UserManager<AppUser> users,
        PermissionLookup permissions, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var role = RoleNamed(body.Role);
        var (actor, target) = await AuthorizeChangeAsync(id, role, principal, users, permissions, ct);
        if (!await users.IsInRoleAsync(target, role.Name))
        {
            await users.AddToRoleAsync(target, role.Name);
            audit.Add(AuditKinds.RoleGranted, target.Id, new { role = role.Name }, actorId: actor);
            await db.SaveChangesAsync(ct);
            await permissions.InvalidateAsync(target.Id, ct);
        }
        return TypedResults.Ok(new UserRoles(target.Id, [.. await users.GetRolesAsync(target)]));
    }

    static async Task<Ok<UserRoles>> Revoke(Guid id, string role, ClaimsPrincipal principal, UserManager<AppUser> users,
        PermissionLookup permissions, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var definition = RoleNamed(role);
        var (actor, target) = await AuthorizeChangeAsync(id, definition, principal, users, permissions, ct);
        if (await users.IsInRoleAsync(target, definition.Name))
        {
            if (definition.Name == Roles.SuperAdmin && (await users.GetUsersInRoleAsync(Roles.SuperAdmin)).Count == 1)
                throw new ProblemException(StatusCodes.Status409Conflict, "The last SuperAdmin cannot be removed.",
                    "Make someone else SuperAdmin first.", ProblemTypes.Conflict);
            await users.RemoveFromRoleAsync(target, definition.Name);
            audit.Add(AuditKinds.RoleRevoked, target.Id, new { role = definition.Name }, actorId: actor);
            await db.SaveChangesAsync(ct);
            await permissions.InvalidateAsync(target.Id, ct);
        }
        return TypedResults.Ok(new UserRoles(target.Id, [.. await users.GetRolesAsync(target)]));
    }

    /// <summary>Nobody grants or takes away a role above their own, nor changes someone who outranks them.</summary>
    static async Task<(Guid Actor, AppUser Target)> AuthorizeChangeAsync(Guid id, Roles.Definition role, ClaimsPrincipal principal,
        UserManager<AppUser> users, PermissionLookup permissions, CancellationToken ct)
    {
        var actor = principal.UserId()!.Value;
        var target = await users.FindByIdAsync(id.ToString())
            ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such user.", $"There is no user {id}.", ProblemTypes.NotFound);
        var actorRank = (await permissions.GetAsync(actor, ct)).Rank;
        if (role.Rank > actorRank)
            throw new ProblemException(StatusCodes.Status403Forbidden, "That role is above yours.", $"You cannot grant or remove {role.Name}.", ProblemTypes.Forbidden);
        if (target.Id != actor && (await permissions.GetAsync(target.Id, ct)).Rank > actorRank)
            throw new ProblemException(StatusCodes.Status403Forbidden, "That user outranks you.", "You cannot change the roles of someone above you.", ProblemTypes.Forbidden);
        return (actor, target);
    }

    static Roles.Definition RoleNamed(string? name) =>
        Roles.Find(name ?? "") ?? throw ProblemException.Invalid("role", $"'{name}' is not a role; expected one of {string.Join(", ", Roles.All.Select(r => r.Name))}.");
}
