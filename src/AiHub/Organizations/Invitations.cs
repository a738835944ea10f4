using System.Security.Cryptography;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Notifications;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.Organizations;

/// <summary>Inviting people by email into an org, and answering an invitation from its link.</summary>
internal sealed class Invitations(
    AppDbContext db,
    UserManager<AppUser> users,
    Orgs orgs,
    OrgAccess access,
    AuditLog audit,
    Mailer mailer,
    TimeProvider clock,
    IOptions<PublicUrlSettings> settings)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(7);

    public async Task<List<InvitationResponse>> ListOpenAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.MembersManage);
        var now = clock.GetUtcNow();
        var open = await db.Invitations.AsNoTracking()
            .Where(i => i.OrganizationId == caller.OrganizationId && i.AcceptedAt == null && i.DeclinedAt == null && i.RevokedAt == null && i.ExpiresAt > now)
            .ToListAsync(ct);
        return open.OrderByDescending(i => i.CreatedAt).Select(Describe).ToList();
    }

    /// <remarks>Inviting the same address again replaces the earlier invitation, whose link stops working.</remarks>
    public async Task<InvitationResponse> InviteAsync(OrgGrant caller, Guid inviterId, string? email, string? roleName, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.MembersManage);
        var orgId = caller.OrganizationId;
        email = Accounts.RequireEmail(email);
        var role = roleName is null ? OrgRole.Member : Orgs.ParseRole(roleName);
        Orgs.RequireWithinReach(caller, role);
        var normalized = users.NormalizeEmail(email);
        if (await (from m in db.Memberships join u in db.Users on m.UserId equals u.Id
                   where m.OrganizationId == orgId && u.NormalizedEmail == normalized select m).AnyAsync(ct))
            throw Orgs.Conflict("That person is already a member.", $"{email} belongs to this organisation.");
        var now = clock.GetUtcNow();
        // Tracked, not ExecuteUpdate: the earlier links die in the same save as the new invitation and its mail, or not at all.
        foreach (var earlier in await db.Invitations.Where(i => i.OrganizationId == orgId && i.NormalizedEmail == normalized && i.AcceptedAt == null && i.DeclinedAt == null && i.RevokedAt == null).ToListAsync(ct))
            earlier.RevokedAt = now;
        var token = "inv_" + Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
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
        await mailer.SendInvitationAsync(email, inviter!, org.Name, role.ToString(), new Uri(settings.Value.PublicUrl, "/invitations/" + token), Lifetime, ct);
        return Describe(invitation);
    }

    public async Task RevokeAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.MembersManage);
        var invitation = await db.Invitations.FirstOrDefaultAsync(i => i.OrganizationId == caller.OrganizationId && i.Id == id, ct);
        if (invitation is null || !invitation.IsOpen(clock.GetUtcNow()))
            throw Orgs.NotFound("No such open invitation.", $"Invitation {id} is not open in this organisation.");
        invitation.RevokedAt = clock.GetUtcNow();
        audit.Add(AuditKinds.InvitationRevoked, actorId, new { invitation.Email }, organizationId: caller.OrganizationId);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>What the link's page shows, signed in or not: the org, the role, the address, who sent it, and whether this user may answer.</summary>
    public async Task<InvitationPreview> PreviewAsync(string token, Guid? userId, CancellationToken ct)
    {
        var (invitation, org) = await FindAsync(token, ct);
        var inviter = await db.Users.AsNoTracking().Where(u => u.Id == invitation.InvitedBy).Select(u => u.DisplayName ?? u.Email).FirstOrDefaultAsync(ct);
        var open = invitation.IsOpen(clock.GetUtcNow());
        var canAnswer = open && userId is { } id && await IsInviteeAsync(invitation, id);
        return new InvitationPreview(org.Id, org.Name, invitation.Role, invitation.Email, invitation.ExpiresAt, open, inviter, canAnswer);
    }

    /// <summary>Joins the org, when the signed-in account's verified address is the one invited.</summary>
    public async Task<OrgResponse> AcceptAsync(string token, Guid userId, CancellationToken ct)
    {
        var (invitation, org) = await OpenForAsync(token, userId, ct);
        var now = clock.GetUtcNow();
        invitation.AcceptedAt = now;
        var membership = await db.Memberships.FirstOrDefaultAsync(m => m.OrganizationId == org.Id && m.UserId == userId, ct);
        var joined = membership is null;
        if (membership is null)
        {
            membership = new Membership { OrganizationId = org.Id, UserId = userId, Role = invitation.Role, JoinedAt = now };
            db.Memberships.Add(membership);
            audit.Add(AuditKinds.MemberJoined, userId, new { role = invitation.Role.ToString(), invitedBy = invitation.InvitedBy }, organizationId: org.Id);
        }
        await db.SaveChangesAsync(ct);
        if (joined)
            await access.InvalidateAsync(org.Id, userId, ct);
        return Orgs.Describe(org, membership.Role);
    }

    public async Task DeclineAsync(string token, Guid userId, CancellationToken ct)
    {
        var (invitation, org) = await OpenForAsync(token, userId, ct);
        invitation.DeclinedAt = clock.GetUtcNow();
        audit.Add(AuditKinds.InvitationDeclined, userId, new { invitation.Email }, organizationId: org.Id);
        await db.SaveChangesAsync(ct);
    }

    async Task<(Invitation, Organization)> OpenForAsync(string token, Guid userId, CancellationToken ct)
    {
        var (invitation, org) = await FindAsync(token, ct);
        if (!invitation.IsOpen(clock.GetUtcNow()))
            throw Orgs.Conflict("The invitation is no longer open.", "It was accepted, declined, replaced or has expired; ask for a new one.");
        if (!await IsInviteeAsync(invitation, userId))
            throw Orgs.Forbidden($"The invitation is for {invitation.Email}; sign in with that verified address.");
        return (invitation, org);
    }

    /// <summary>Only the account whose verified address is the invited one answers an invitation.</summary>
    async Task<bool> IsInviteeAsync(Invitation invitation, Guid userId) =>
        await users.FindByIdAsync(userId.ToString()) is { EmailConfirmed: true } account && account.NormalizedEmail == invitation.NormalizedEmail;

    async Task<(Invitation, Organization)> FindAsync(string token, CancellationToken ct)
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

    static InvitationResponse Describe(Invitation i) => new(i.Id, i.Email, i.Role, i.CreatedAt, i.ExpiresAt);
}
