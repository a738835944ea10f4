using AiHub.Admin;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

/// <summary>Creating organisations and changing who belongs to them; every change is audited under the org.</summary>
internal sealed class Orgs(AppDbContext db, AuditLog audit, OrgAccess access, TimeProvider clock) : IAccountEvents
{
    public Task UserCreatedAsync(AppUser user, CancellationToken ct)
    {
        Create(user.Id, string.IsNullOrWhiteSpace(user.DisplayName) ? "Personal" : $"{user.DisplayName.Trim()}'s org", personal: true);
        return Task.CompletedTask;
    }

    public Organization Create(Guid ownerId, string name, bool personal = false)
    {
        var now = clock.GetUtcNow();
        var org = new Organization { Id = Guid.CreateVersion7(now), Name = name, IsPersonal = personal, CreatedAt = now };
        db.Organizations.Add(org);
        db.Memberships.Add(new Membership { OrganizationId = org.Id, UserId = ownerId, Role = OrgRole.Owner, JoinedAt = now });
        audit.Add(AuditKinds.OrgCreated, ownerId, new { org.Name, personal }, organizationId: org.Id);
        return org;
    }

    public async Task<Membership> MemberAsync(Guid orgId, Guid userId, CancellationToken ct) =>
        await db.Memberships.FirstOrDefaultAsync(m => m.OrganizationId == orgId && m.UserId == userId, ct)
        ?? throw NotFound("No such member.", $"User {userId} is not a member of this organisation.");

    /// <summary>Changes a member's role within the caller's reach: nobody hands out, or takes from, more than they hold.</summary>
    public async Task<Membership> ChangeRoleAsync(OrgGrant caller, Guid actorId, Guid userId, OrgRole role, CancellationToken ct)
    {
        var member = await MemberAsync(caller.OrganizationId, userId, ct);
        RequireWithinReach(caller, role);
        RequireWithinReach(caller, member.Role);
        if (member.Role == OrgRole.Owner && role != OrgRole.Owner)
            await RequireAnotherOwnerAsync(caller.OrganizationId, userId, ct);
        var from = member.Role;
        member.Role = role;
        audit.Add(AuditKinds.MemberRoleChanged, userId, new { from = from.ToString(), to = role.ToString() }, actorId, caller.OrganizationId);
        await db.SaveChangesAsync(ct);
        await access.InvalidateAsync(caller.OrganizationId, userId, ct);
        return member;
    }

    public async Task RemoveAsync(OrgGrant caller, Guid actorId, Guid userId, CancellationToken ct)
    {
        var member = await MemberAsync(caller.OrganizationId, userId, ct);
        if (userId != actorId)
            RequireWithinReach(caller, member.Role);
        if (member.Role == OrgRole.Owner)
            await RequireAnotherOwnerAsync(caller.OrganizationId, userId, ct);
        if (userId == actorId && await db.Organizations.AnyAsync(o => o.Id == caller.OrganizationId && o.IsPersonal, ct))
            throw Conflict("A personal organisation cannot be left.", "Delete it instead, or keep it.");
        db.Memberships.Remove(member);
        audit.Add(userId == actorId ? AuditKinds.MemberLeft : AuditKinds.MemberRemoved, userId, null, actorId, caller.OrganizationId);
        await db.SaveChangesAsync(ct);
        await access.InvalidateAsync(caller.OrganizationId, userId, ct);
    }

    public async Task TransferOwnershipAsync(OrgGrant caller, Guid actorId, Guid newOwnerId, CancellationToken ct)
    {
        if (caller.Role != OrgRole.Owner)
            throw Forbidden("Only an Owner can hand over ownership.");
        var target = await MemberAsync(caller.OrganizationId, newOwnerId, ct);
        var me = await MemberAsync(caller.OrganizationId, actorId, ct);
        if (target.UserId == me.UserId)
            throw Conflict("You already own this organisation.", null);
        target.Role = OrgRole.Owner;
        me.Role = OrgRole.Admin;
        audit.Add(AuditKinds.OwnershipTransferred, newOwnerId, new { from = actorId }, actorId, caller.OrganizationId);
        await db.SaveChangesAsync(ct);
        await access.InvalidateOrgAsync(caller.OrganizationId, [actorId, newOwnerId], ct);
    }

    public async Task<Organization> FindAsync(Guid orgId, CancellationToken ct) =>
        await db.Organizations.FirstOrDefaultAsync(o => o.Id == orgId && o.DeletedAt == null, ct)
        ?? throw NotFound("No such organisation.", "It does not exist, was deleted, or you are not a member.");

    async Task RequireAnotherOwnerAsync(Guid orgId, Guid leaving, CancellationToken ct)
    {
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == orgId && m.Role == OrgRole.Owner && m.UserId != leaving, ct))
            throw Conflict("The last Owner cannot leave.", "Make someone else Owner first, or delete the organisation.");
    }

    public static void RequireWithinReach(OrgGrant caller, OrgRole role)
    {
        if (role > caller.Role)
            throw Forbidden($"The role {role} is above yours ({caller.Role}).");
    }

    public static ProblemException NotFound(string title, string detail) =>
        new(StatusCodes.Status404NotFound, title, detail, ProblemTypes.NotFound);

    public static ProblemException Conflict(string title, string? detail) =>
        new(StatusCodes.Status409Conflict, title, detail, ProblemTypes.Conflict);

    public static ProblemException Forbidden(string detail) =>
        new(StatusCodes.Status403Forbidden, "That is beyond your role in this organisation.", detail, ProblemTypes.Forbidden);

    public static ProblemException Invalid(string field, string message) => Accounts.Invalid(field, message);
}
