using System.Security.Claims;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using AiHub.Infrastructure.Errors;

namespace AiHub.Organizations;

internal sealed record OrgResponse(Guid Id, string Name, bool Personal, OrgRole Role, IReadOnlyList<string> Permissions, DateTimeOffset CreatedAt);

internal sealed record OrgRequest(string? Name);

internal sealed record MemberResponse(Guid UserId, string Email, string? DisplayName, OrgRole Role, DateTimeOffset JoinedAt);

internal sealed record RoleRequest(string? Role);

internal sealed record TransferRequest(Guid UserId);

internal sealed record DeletedOrg(Guid Id, string Name, DateTimeOffset DeletedAt, DateTimeOffset PurgedAfter);

internal static class OrgEndpoints
{
    public static void MapOrgEndpoints(this IEndpointRouteBuilder app)
    {
        var orgs = app.MapGroup("/api/orgs").WithTags("Organizations").RequireAuthorization()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden);
        orgs.MapGet("", List).WithSummary("Lists the organisations you are a member of, with your role and permissions in each.");
        orgs.MapPost("", Create).WithSummary("Creates an organisation; you become its Owner.").RequireAuthorization(Permissions.OrgsCreate);

        var org = Org(app).WithTags("Organizations");
        org.MapGet("", Get).WithSummary("An organisation, with your role and permissions in it.").RequireAuthorization(OrgPermissions.OrgRead);
        org.MapPatch("", Update).WithSummary("Renames an organisation.").RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapDelete("", Delete).WithSummary("Deletes an organisation; its Owner can restore it for a while.").RequireAuthorization(OrgPermissions.OrgDelete).RequireUser();
        org.MapGet("/members", Members).WithSummary("Lists the organisation's members and their roles.").RequireAuthorization(OrgPermissions.MembersRead);
        org.MapPatch("/members/{userId:guid}", ChangeRole).WithSummary("Changes a member's role.").RequireAuthorization(OrgPermissions.MembersManage).RequireUser();
        org.MapDelete("/members/{userId:guid}", Remove).WithSummary("Removes a member from the organisation.").RequireAuthorization(OrgPermissions.MembersManage).RequireUser();
        org.MapPost("/leave", Leave).WithSummary("Leaves the organisation.").RequireAuthorization(OrgPermissions.OrgRead).RequireUser();
        org.MapPost("/transfer-ownership", Transfer).WithSummary("Makes another member the Owner.").RequireAuthorization(OrgPermissions.OrgDelete).RequireUser();
        org.MapGet("/activity", Activity).WithSummary("The organisation's activity log, newest first.").RequireAuthorization(OrgPermissions.ActivityRead);

        var deleted = app.MapGroup("/api/me/deleted-orgs").WithTags("Organizations").RequireAuthorization()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        deleted.MapGet("", ListDeleted).WithSummary("Lists the deleted organisations you own that can still be restored.");
        deleted.MapPost("/{id:guid}/restore", Restore).WithSummary("Restores a deleted organisation.");
    }

    /// <summary>The group every org-scoped route hangs from: signed in, then the org permission on each endpoint.</summary>
    public static RouteGroupBuilder Org(IEndpointRouteBuilder app) => app.MapGroup("/api/orgs/{orgId:guid}").RequireAuthorization()
        .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);

    static async Task<Ok<List<OrgResponse>>> List(ClaimsPrincipal user, Orgs orgs, CancellationToken ct) =>
        TypedResults.Ok(await orgs.ListAsync(user.UserId()!.Value, ct));

    static async Task<Created<OrgResponse>> Create(OrgRequest body, ClaimsPrincipal user, Orgs orgs, CancellationToken ct)
    {
        var org = await orgs.CreateAsync(user.UserId()!.Value, body.Name, ct);
        return TypedResults.Created($"/api/orgs/{org.Id}", Orgs.Describe(org, OrgRole.Owner));
    }

    static async Task<Ok<OrgResponse>> Get(Guid orgId, HttpContext http, Orgs orgs, CancellationToken ct) =>
        TypedResults.Ok(Orgs.Describe(await orgs.FindAsync(orgId, ct), http.Grant()));

    static async Task<Ok<OrgResponse>> Update(Guid orgId, OrgRequest body, HttpContext http, ClaimsPrincipal user, Orgs orgs, CancellationToken ct)
    {
        var org = await orgs.RenameAsync(http.Grant(), user.UserId()!.Value, body.Name, ct);
        return TypedResults.Ok(Orgs.Describe(org, http.Grant()));
    }

    static async Task<NoContent> Delete(Guid orgId, HttpContext http, ClaimsPrincipal user, Orgs orgs, CancellationToken ct)
    {
        await orgs.DeleteAsync(http.Grant(), user.UserId()!.Value, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<List<MemberResponse>>> Members(Guid orgId, HttpContext http, Orgs orgs, CancellationToken ct) =>
        TypedResults.Ok(await orgs.MembersAsync(http.Grant(), ct));

    static async Task<Ok<MemberResponse>> ChangeRole(Guid orgId, Guid userId, RoleRequest body, HttpContext http, ClaimsPrincipal user, Orgs orgs, AppDbContext db, CancellationToken ct)
    {
        var member = await orgs.ChangeRoleAsync(http.Grant(), user.UserId()!.Value, userId, Orgs.ParseRole(body.Role), ct);
        var account = await db.Users.AsNoTracking().FirstAsync(u => u.Id == userId, ct);
        return TypedResults.Ok(new MemberResponse(userId, account.Email!, account.DisplayName, member.Role, member.JoinedAt));
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

    static async Task<Ok<AuditPage>> Activity(Guid orgId, HttpContext http, Orgs orgs, CancellationToken ct, DateTimeOffset? before = null, int limit = 50) =>
        TypedResults.Ok(await orgs.ActivityAsync(http.Grant(), before, limit, ct));

    static async Task<Ok<List<DeletedOrg>>> ListDeleted(ClaimsPrincipal user, Orgs orgs, CancellationToken ct) =>
        TypedResults.Ok(await orgs.ListDeletedAsync(user.UserId()!.Value, ct));

    static async Task<Ok<OrgResponse>> Restore(Guid id, ClaimsPrincipal user, Orgs orgs, CancellationToken ct) =>
        TypedResults.Ok(Orgs.Describe(await orgs.RestoreAsync(user.UserId()!.Value, id, ct), OrgRole.Owner));
}
