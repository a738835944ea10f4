using System.Security.Claims;
using System.Security.Cryptography;
using AiHub.Admin;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Notifications;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.Organizations;

internal sealed record InviteRequest(string? Email, string? Role);

internal sealed record InvitationResponse(Guid Id, string Email, string Role, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

internal sealed record InvitationPreview(Guid OrganizationId, string OrganizationName, string Role, string Email, DateTimeOffset ExpiresAt, bool Open);

internal static class InvitationEndpoints
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(7);

    public static void MapInvitationEndpoints(this IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("Invitations");
        org.MapGet("/invitations", List).RequireAuthorization(OrgPermissions.MembersManage);
        org.MapPost("/invitations", Invite).RequireAuthorization(OrgPermissions.MembersManage).RequireUser();
        org.MapDelete("/invitations/{id:guid}", Revoke).RequireAuthorization(OrgPermissions.MembersManage);

        var invitations = app.MapGroup("/api/invitations/{token}").WithTags("Invitations");
        invitations.MapGet("", Preview).AllowAnonymous();
        invitations.MapPost("/accept", Accept).RequireAuthorization();
        invitations.MapPost("/decline", Decline).RequireAuthorization();
    }

    static async Task<Ok<List<InvitationResponse>>> List(Guid orgId, AppDbContext db, TimeProvider clock, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var open = await db.Invitations.AsNoTracking()
            .Where(i => i.OrganizationId == orgId && i.AcceptedAt == null && i.DeclinedAt == null && i.RevokedAt == null && i.ExpiresAt > now)
            .OrderByDescending(i => i.CreatedAt).ToListAsync(ct);
        return TypedResults.Ok(open.Select(Describe).ToList());
    }

    /// <remarks>Inviting the same address again replaces the earlier invitation, whose link stops working.</remarks>
    static async Task<Created<InvitationResponse>> Invite(Guid orgId, InviteRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db,
        UserManager<AppUser> users, Orgs orgs, AuditLog audit, Mailer mailer, TimeProvider clock, IOptions<IdentitySettings> settings, CancellationToken ct)
    {
        var email = body.Email?.Trim();
        if (string.IsNullOrEmpty(email) || !new System.ComponentModel.DataAnnotations.EmailAddressAttribute().IsValid(email) || email.Length > 254)
            throw Orgs.Invalid("email", "Enter a valid email address, like name@example.com.");
        var role = body.Role is null ? OrgRole.Member : OrgEndpoints.ParseRole(body.Role);
        Orgs.RequireWithinReach(http.Grant(), role);
        var normalized = users.NormalizeEmail(email);
        if (await (from m in db.Memberships join u in db.Users on m.UserId equals u.Id
                   where m.OrganizationId == orgId && u.NormalizedEmail == normalized select m).AnyAsync(ct))
            throw Orgs.Conflict("That person is already a member.", $"{email} belongs to this organisation.");
        var now = clock.GetUtcNow();
        await db.Invitations.Where(i => i.OrganizationId == orgId && i.NormalizedEmail == normalized && i.AcceptedAt == null && i.DeclinedAt == null && i.RevokedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(i => i.RevokedAt, now), ct);
        var token = "inv_" + Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        var inviterId = user.UserId()!.Value;
        var invitation = new Invitation
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = orgId,
            Email = email,
            NormalizedEmail = normalized,
            Role = role,
            TokenHash = Sessions.Hash(token),
            InvitedBy = inviterId,
            CreatedAt = now,
            ExpiresAt = now + Lifetime,
        };
        db.Invitations.Add(invitation);
        audit.Add(AuditKinds.InvitationSent, inviterId, new { email, role = role.ToString() }, organizationId: orgId);
        var org = await orgs.FindAsync(orgId, ct);
        var inviter = await db.Users.AsNoTracking().Where(u => u.Id == inviterId).Select(u => u.DisplayName ?? u.Email).FirstAsync(ct);
        await mailer.SendInvitationAsync(email, inviter!, org.Name, role.ToString(), new Uri(settings.Value.PublicUrl, "/invitations/" + token), ct);
        return TypedResults.Created($"/api/orgs/{orgId}/invitations/{invitation.Id}", Describe(invitation));
    }

    static async Task<NoContent> Revoke(Guid orgId, Guid id, ClaimsPrincipal user, AppDbContext db, AuditLog audit, TimeProvider clock, CancellationToken ct)
    {
        var invitation = await db.Invitations.FirstOrDefaultAsync(i => i.OrganizationId == orgId && i.Id == id, ct);
        if (invitation is null || !invitation.IsOpen(clock.GetUtcNow()))
            throw Orgs.NotFound("No such open invitation.", $"Invitation {id} is not open in this organisation.");
        invitation.RevokedAt = clock.GetUtcNow();
        audit.Add(AuditKinds.InvitationRevoked, user.UserId(), new { invitation.Email }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<InvitationPreview>> Preview(string token, AppDbContext db, TimeProvider clock, CancellationToken ct)
    {
        var (invitation, org) = await FindAsync(token, db, ct);
        return TypedResults.Ok(new InvitationPreview(org.Id, org.Name, invitation.Role.ToString(), invitation.Email, invitation.ExpiresAt, invitation.IsOpen(clock.GetUtcNow())));
    }

    /// <summary>Joins the org, when the signed-in account's verified address is the one invited.</summary>
    static async Task<Ok<OrgResponse>> Accept(string token, ClaimsPrincipal user, AppDbContext db, UserManager<AppUser> users, OrgAccess access, AuditLog audit, TimeProvider clock, CancellationToken ct)
    {
        var (invitation, org) = await OpenForCallerAsync(token, user, db, users, clock, ct);
        var userId = user.UserId()!.Value;
        var now = clock.GetUtcNow();
        invitation.AcceptedAt = now;
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == org.Id && m.UserId == userId, ct))
            db.Memberships.Add(new Membership { OrganizationId = org.Id, UserId = userId, Role = invitation.Role, JoinedAt = now });
        audit.Add(AuditKinds.MemberJoined, userId, new { role = invitation.Role.ToString(), invitedBy = invitation.InvitedBy }, organizationId: org.Id);
        await db.SaveChangesAsync(ct);
        await access.InvalidateAsync(org.Id, userId, ct);
        var role = (await access.GetAsync(org.Id, userId, ct))!.Role;
        return TypedResults.Ok(new OrgResponse(org.Id, org.Name, org.IsPersonal, role.ToString(), OrgPermissions.ByRole[role].Select(OrgPermissions.Name).ToList(), org.CreatedAt));
    }

    static async Task<NoContent> Decline(string token, ClaimsPrincipal user, AppDbContext db, UserManager<AppUser> users, AuditLog audit, TimeProvider clock, CancellationToken ct)
    {
        var (invitation, org) = await OpenForCallerAsync(token, user, db, users, clock, ct);
        invitation.DeclinedAt = clock.GetUtcNow();
        audit.Add(AuditKinds.InvitationDeclined, user.UserId(), new { invitation.Email }, organizationId: org.Id);
        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    static async Task<(Invitation, Organization)> OpenForCallerAsync(string token, ClaimsPrincipal user, AppDbContext db, UserManager<AppUser> users, TimeProvider clock, CancellationToken ct)
    {
        var (invitation, org) = await FindAsync(token, db, ct);
        if (!invitation.IsOpen(clock.GetUtcNow()))
            throw Orgs.Conflict("The invitation is no longer open.", "It was accepted, declined, replaced or has expired; ask for a new one.");
        var account = await users.FindByIdAsync(user.UserId()!.Value.ToString());
        if (account is null || !account.EmailConfirmed || account.NormalizedEmail != invitation.NormalizedEmail)
            throw Orgs.Forbidden($"The invitation is for {invitation.Email}; sign in with that verified address.");
        return (invitation, org);
    }

    static async Task<(Invitation, Organization)> FindAsync(string token, AppDbContext db, CancellationToken ct)
    {
        var hash = Sessions.Hash(token.Trim());
        var found = await (from i in db.Invitations.IgnoreQueryFilters()
                           join o in db.Organizations on i.OrganizationId equals o.Id
                           where i.TokenHash == hash && o.DeletedAt == null
                           select new { i, o }).FirstOrDefaultAsync(ct);
        return found is null
            ? throw Orgs.NotFound("No such invitation.", "The link is wrong, or the organisation no longer exists.")
            : (found.i, found.o);
    }

    static InvitationResponse Describe(Invitation i) => new(i.Id, i.Email, i.Role.ToString(), i.CreatedAt, i.ExpiresAt);
}
