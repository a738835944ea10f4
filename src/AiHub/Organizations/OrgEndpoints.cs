using System.Security.Claims;
using AiHub.Admin;
using AiHub.Data;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

internal sealed record OrgResponse(Guid Id, string Name, bool Personal, string Role, IReadOnlyList<string> Permissions, DateTimeOffset CreatedAt);

internal sealed record OrgRequest(string? Name);

internal sealed record MemberResponse(Guid UserId, string Email, string? DisplayName, string Role, DateTimeOffset JoinedAt);

internal sealed record RoleRequest(string? Role);

internal sealed record TransferRequest(Guid UserId);

internal sealed record DeletedOrg(Guid Id, string Name, DateTimeOffset DeletedAt, DateTimeOffset PurgedAfter);

internal static class OrgEndpoints
{
    /// <summary>How long a deleted organisation can be restored before its data is purged.</summary>
    public static readonly TimeSpan RestoreWindow = TimeSpan.FromDays(30);

    public static void MapOrgEndpoints(this IEndpointRouteBuilder app)
    {
        var orgs = app.MapGroup("/api/orgs").WithTags("Organizations").RequireAuthorization();
        orgs.MapGet("", List);
        orgs.MapPost("", Create).RequireAuthorization(Permissions.OrgsCreate);

        var org = Org(app).WithTags("Organizations");
        org.MapGet("", Get).RequireAuthorization(OrgPermissions.OrgRead);
        org.MapPatch("", Update).RequireAuthorization(OrgPermissions.OrgManage);
        org.MapDelete("", Delete).RequireAuthorization(OrgPermissions.OrgDelete);
        org.MapGet("/members", Members).RequireAuthorization(OrgPermissions.MembersRead);
        org.MapPatch("/members/{userId:guid}", ChangeRole).RequireAuthorization(OrgPermissions.MembersManage).RequireUser();
        org.MapDelete("/members/{userId:guid}", Remove).RequireAuthorization(OrgPermissions.MembersManage).RequireUser();
        org.MapPost("/leave", Leave).RequireAuthorization(OrgPermissions.OrgRead).RequireUser();
        org.MapPost("/transfer-ownership", Transfer).RequireAuthorization(OrgPermissions.OrgDelete).RequireUser();
        org.MapGet("/activity", Activity).RequireAuthorization(OrgPermissions.ActivityRead);

        var deleted = app.MapGroup("/api/me/deleted-orgs").WithTags("Organizations").RequireAuthorization();
        deleted.MapGet("", ListDeleted);
        deleted.MapPost("/{id:guid}/restore", Restore);
    }

    /// <summary>The group every org-scoped route hangs from: signed in, then the org permission on each endpoint.</summary>
    public static RouteGroupBuilder Org(IEndpointRouteBuilder app) => app.MapGroup("/api/orgs/{orgId:guid}").RequireAuthorization();

    static async Task<Ok<List<OrgResponse>>> List(ClaimsPrincipal user, AppDbContext db, CancellationToken ct)
    {
        var userId = user.UserId()!.Value;
        var rows = await (from m in db.Memberships
                          join o in db.Organizations on m.OrganizationId equals o.Id
                          where m.UserId == userId && o.DeletedAt == null
                          orderby o.IsPersonal descending, o.Name
                          select new { o, m.Role }).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(r => Describe(r.o, r.Role)).ToList());
    }

    static async Task<Created<OrgResponse>> Create(OrgRequest body, ClaimsPrincipal user, Orgs orgs, AppDbContext db, CancellationToken ct)
    {
        var org = orgs.Create(user.UserId()!.Value, RequireName(body.Name));
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/orgs/{org.Id}", Describe(org, OrgRole.Owner));
    }

    static async Task<Ok<OrgResponse>> Get(Guid orgId, HttpContext http, Orgs orgs, CancellationToken ct) =>
        TypedResults.Ok(Describe(await orgs.FindAsync(orgId, ct), http.Grant()));

    static async Task<Ok<OrgResponse>> Update(Guid orgId, OrgRequest body, HttpContext http, ClaimsPrincipal user, Orgs orgs, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var org = await orgs.FindAsync(orgId, ct);
        org.Name = RequireName(body.Name);
        audit.Add(AuditKinds.OrgUpdated, user.UserId(), new { org.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(Describe(org, http.Grant()));
    }

    /// <remarks>Soft: the org answers 404 at once, can be restored for 30 days, and is purged by a job after that.</remarks>
    static async Task<NoContent> Delete(Guid orgId, ClaimsPrincipal user, Orgs orgs, OrgAccess access, AuditLog audit, AppDbContext db, TimeProvider clock, CancellationToken ct)
    {
        var org = await orgs.FindAsync(orgId, ct);
        if (org.IsPersonal)
            throw Orgs.Conflict("A personal organisation cannot be deleted.", "It goes when the account does.");
        org.DeletedAt = clock.GetUtcNow();
        audit.Add(AuditKinds.OrgDeleted, user.UserId(), null, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        var members = await db.Memberships.Where(m => m.OrganizationId == orgId).Select(m => m.UserId).ToListAsync(ct);
        await access.InvalidateOrgAsync(orgId, members, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<List<MemberResponse>>> Members(Guid orgId, AppDbContext db, CancellationToken ct)
    {
        var rows = await (from m in db.Memberships
                          join u in db.Users on m.UserId equals u.Id
                          where m.OrganizationId == orgId
                          orderby u.NormalizedEmail
                          select new { m, u.Email, u.DisplayName }).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(r => new MemberResponse(r.m.UserId, r.Email!, r.DisplayName, r.m.Role.ToString(), r.m.JoinedAt))
            .OrderByDescending(r => Enum.Parse<OrgRole>(r.Role)).ToList());
    }

    static async Task<Ok<MemberResponse>> ChangeRole(Guid orgId, Guid userId, RoleRequest body, HttpContext http, ClaimsPrincipal user, Orgs orgs, AppDbContext db, CancellationToken ct)
    {
        var member = await orgs.ChangeRoleAsync(http.Grant(), user.UserId()!.Value, userId, ParseRole(body.Role), ct);
        var account = await db.Users.AsNoTracking().FirstAsync(u => u.Id == userId, ct);
        return TypedResults.Ok(new MemberResponse(userId, account.Email!, account.DisplayName, member.Role.ToString(), member.JoinedAt));
    }

    static async Task<NoContent> Remove(Guid orgId, Guid userId, HttpContext http, ClaimsPrincipal user, Orgs orgs, CancellationToken ct)
    {
        await orgs.RemoveAsync(http.Grant(), user.UserId()!.Value, userId, ct);
        return TypedResults.NoContent();
    }

    static async Task<NoContent> Leave(Guid orgId, HttpContext http, ClaimsPrincipal user, Orgs orgs, CancellationToken ct)
    {
        var me = user.UserId()!.Value;
        await orgs.RemoveAsync(http.Grant(), me, me, ct);
        return TypedResults.NoContent();
    }

    static async Task<NoContent> Transfer(Guid orgId, TransferRequest body, HttpContext http, ClaimsPrincipal user, Orgs orgs, CancellationToken ct)
    {
        await orgs.TransferOwnershipAsync(http.Grant(), user.UserId()!.Value, body.UserId, ct);
        return TypedResults.NoContent();
    }

    /// <remarks>Newest first, paged by time (<c>before</c>), so that new events never shift a page being read.</remarks>
    static async Task<Ok<AuditPage>> Activity(Guid orgId, AppDbContext db, CancellationToken ct, DateTimeOffset? before = null, int limit = 50)
    {
        if (limit is < 1 or > 200)
            throw Orgs.Invalid("limit", "limit is between 1 and 200.");
        return TypedResults.Ok(await AuditQueries.PageAsync(db.AuditEvents.Where(e => e.OrganizationId == orgId), before, limit, ct));
    }

    static async Task<Ok<List<DeletedOrg>>> ListDeleted(ClaimsPrincipal user, AppDbContext db, CancellationToken ct)
    {
        var userId = user.UserId()!.Value;
        var rows = await (from m in db.Memberships
                          join o in db.Organizations on m.OrganizationId equals o.Id
                          where m.UserId == userId && m.Role == OrgRole.Owner && o.DeletedAt != null
                          select o).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(o => new DeletedOrg(o.Id, o.Name, o.DeletedAt!.Value, o.DeletedAt.Value + RestoreWindow)).ToList());
    }

    static async Task<Ok<OrgResponse>> Restore(Guid id, ClaimsPrincipal user, AppDbContext db, OrgAccess access, AuditLog audit, CancellationToken ct)
    {
        var userId = user.UserId()!.Value;
        var org = await (from o in db.Organizations
                         join m in db.Memberships on o.Id equals m.OrganizationId
                         where o.Id == id && o.DeletedAt != null && m.UserId == userId && m.Role == OrgRole.Owner
                         select o).FirstOrDefaultAsync(ct)
            ?? throw Orgs.NotFound("No such deleted organisation.", "Only an Owner can restore it, within 30 days of its deletion.");
        org.DeletedAt = null;
        audit.Add(AuditKinds.OrgRestored, userId, null, organizationId: id);
        await db.SaveChangesAsync(ct);
        var members = await db.Memberships.Where(m => m.OrganizationId == id).Select(m => m.UserId).ToListAsync(ct);
        await access.InvalidateOrgAsync(id, members, ct);
        return TypedResults.Ok(Describe(org, OrgRole.Owner));
    }

    /// <remarks>An API key's permissions are its own, not those of the role it counts as.</remarks>
    static OrgResponse Describe(Organization org, OrgGrant grant) =>
        new(org.Id, org.Name, org.IsPersonal, grant.Role.ToString(), grant.Permissions.Select(OrgPermissions.Name).ToList(), org.CreatedAt);

    static OrgResponse Describe(Organization org, OrgRole role) =>
        new(org.Id, org.Name, org.IsPersonal, role.ToString(), OrgPermissions.ByRole[role].Select(OrgPermissions.Name).ToList(), org.CreatedAt);

    internal static string RequireName(string? name)
    {
        var trimmed = name?.Trim();
        if (string.IsNullOrEmpty(trimmed) || trimmed.Length > 100)
            throw Orgs.Invalid("name", "Give a name of 1 to 100 characters.");
        return trimmed;
    }

    internal static OrgRole ParseRole(string? role) =>
        Enum.TryParse<OrgRole>(role, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(role, out _)
            ? parsed
            : throw Orgs.Invalid("role", $"'{role}' is not a role; expected one of {string.Join(", ", Enum.GetNames<OrgRole>())}.");
}
