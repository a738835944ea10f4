using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

/// <summary>Creating organisations and changing who belongs to them; every change is audited under the org.</summary>
internal sealed class Orgs(AppDbContext db, AuditLog audit, OrgAccess access, Workspaces workspaces, TimeProvider clock) : IAccountEvents
{
    /// <summary>How long a deleted organisation can be restored before its data is purged.</summary>
    public static readonly TimeSpan RestoreWindow = TimeSpan.FromDays(30);

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
        // In the same unit of work: an API client can start a conversation as soon as the org exists.
        workspaces.AddFirst(org.Id, ownerId);
        return org;
    }

    public async Task<List<OrgResponse>> ListAsync(Guid userId, CancellationToken ct)
    {
        var rows = await (from m in db.Memberships
                          join o in db.Organizations on m.OrganizationId equals o.Id
                          where m.UserId == userId && o.DeletedAt == null
                          orderby o.IsPersonal descending, o.Name
                          select new { o, m.Role }).ToListAsync(ct);
        return rows.Select(r => Describe(r.o, r.Role)).ToList();
    }

    public async Task<Organization> CreateAsync(Guid ownerId, string? name, CancellationToken ct)
    {
        var org = Create(ownerId, RequireName(name));
        await db.SaveChangesAsync(ct);
        return org;
    }

    public async Task<Organization> RenameAsync(OrgGrant caller, Guid actorId, string? name, CancellationToken ct)
    {
        Require(caller, OrgPermissions.OrgManage);
        var org = await FindAsync(caller.OrganizationId, ct);
        org.Name = RequireName(name);
        audit.Add(AuditKinds.OrgUpdated, actorId, new { org.Name }, organizationId: org.Id);
        await db.SaveChangesAsync(ct);
        return org;
    }

    /// <remarks>Soft: the org answers 404 at once, can be restored for 30 days, and is purged by a job after that.</remarks>
    public async Task DeleteAsync(OrgGrant caller, Guid actorId, CancellationToken ct)
    {
        Require(caller, OrgPermissions.OrgDelete);
        var org = await FindAsync(caller.OrganizationId, ct);
        if (org.IsPersonal)
            throw Conflict("A personal organisation cannot be deleted.", "It goes when the account does.");
        org.DeletedAt = clock.GetUtcNow();
        audit.Add(AuditKinds.OrgDeleted, actorId, null, organizationId: org.Id);
        await db.SaveChangesAsync(ct);
        await InvalidateMembersAsync(org.Id, ct);
    }

    public async Task<List<DeletedOrg>> ListDeletedAsync(Guid userId, CancellationToken ct)
    {
        var rows = await (from m in db.Memberships
                          join o in db.Organizations on m.OrganizationId equals o.Id
                          where m.UserId == userId && m.Role == OrgRole.Owner && o.DeletedAt != null && o.DeletedAt > RestorableSince
                          select o).ToListAsync(ct);
        return rows.OrderByDescending(o => o.DeletedAt).Select(o => new DeletedOrg(o.Id, o.Name, o.DeletedAt!.Value, o.DeletedAt.Value + RestoreWindow)).ToList();
    }

    // Past the window an org waits only for the daily purge; it is no longer the Owner's to restore.
    DateTimeOffset RestorableSince => clock.GetUtcNow() - RestoreWindow;

    public async Task<Organization> RestoreAsync(Guid userId, Guid orgId, CancellationToken ct)
    {
        var org = await (from o in db.Organizations
                         join m in db.Memberships on o.Id equals m.OrganizationId
                         where o.Id == orgId && o.DeletedAt != null && o.DeletedAt > RestorableSince && m.UserId == userId && m.Role == OrgRole.Owner
                         select o).FirstOrDefaultAsync(ct)
            ?? throw NotFound("No such deleted organisation.", "Only an Owner can restore it, within 30 days of its deletion.");
        org.DeletedAt = null;
        audit.Add(AuditKinds.OrgRestored, userId, null, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        await InvalidateMembersAsync(orgId, ct);
        return org;
    }

    public async Task<List<MemberResponse>> MembersAsync(OrgGrant caller, CancellationToken ct)
    {
        Require(caller, OrgPermissions.MembersRead);
        var rows = await (from m in db.Memberships
                          join u in db.Users on m.UserId equals u.Id
                          where m.OrganizationId == caller.OrganizationId
                          orderby u.NormalizedEmail
                          select new { m, u.Email, u.DisplayName }).ToListAsync(ct);
        return rows.OrderByDescending(r => r.m.Role)
            .Select(r => new MemberResponse(r.m.UserId, r.Email!, r.DisplayName, r.m.Role, r.m.JoinedAt)).ToList();
    }

    /// <remarks>Newest first, paged by time (<c>before</c>), so that new events never shift a page being read.</remarks>
    public async Task<AuditPage> ActivityAsync(OrgGrant caller, DateTimeOffset? before, int limit, CancellationToken ct)
    {
        Require(caller, OrgPermissions.ActivityRead);
        if (limit is < 1 or > 200)
            throw ProblemException.Invalid("limit", "limit is between 1 and 200.");
        return await AuditQueries.PageAsync(db.AuditEvents.Where(e => e.OrganizationId == caller.OrganizationId), before, limit, ct);
    }

    /// <summary>Addresses for the user ids a page names; an account that is gone is simply missing.</summary>
    public Task<Dictionary<Guid, string>> EmailsAsync(IEnumerable<Guid> userIds, CancellationToken ct) => EmailsAsync(db, userIds, ct);

    /// <summary>The user's personal org, or null when it was deleted.</summary>
    public static Task<Guid?> PersonalOrgIdAsync(AppDbContext db, Guid userId, CancellationToken ct) =>
        (from m in db.Memberships
         join o in db.Organizations on m.OrganizationId equals o.Id
         where m.UserId == userId && o.IsPersonal && o.DeletedAt == null
         select (Guid?)o.Id).FirstOrDefaultAsync(ct);

    public static async Task<Dictionary<Guid, string>> EmailsAsync(AppDbContext db, IEnumerable<Guid> userIds, CancellationToken ct)
    {
        var ids = userIds.Distinct().ToList();
        return await db.Users.AsNoTracking().Where(u => ids.Contains(u.Id) && u.Email != null).ToDictionaryAsync(u => u.Id, u => u.Email!, ct);
    }

    /// <summary>
    /// Who hears about an org's credits and limits: its Owners and Admins (for a personal org, its user), plus
    /// <paramref name="also"/> when that person is a member, each with an address.
    /// </summary>
    public static async Task<List<OrgRecipient>> ManagersToMailAsync(AppDbContext db, Guid orgId, Guid? also, CancellationToken ct) =>
        await (from m in db.Memberships
               join u in db.Users on m.UserId equals u.Id
               join o in db.Organizations on m.OrganizationId equals o.Id
               where m.OrganizationId == orgId && (m.Role == OrgRole.Owner || m.Role == OrgRole.Admin || m.UserId == also) && u.Email != null
               select new OrgRecipient(u.Email!, u.DisplayName, o.Name, o.IsPersonal)).AsNoTracking().ToListAsync(ct);

    public async Task<Membership> MemberAsync(Guid orgId, Guid userId, CancellationToken ct) =>
        await db.Memberships.FirstOrDefaultAsync(m => m.OrganizationId == orgId && m.UserId == userId, ct)
        ?? throw NotFound("No such member.", $"User {userId} is not a member of this organisation.");

    /// <summary>Changes a member's role within the caller's reach: nobody hands out, or takes from, more than they hold.</summary>
    public async Task<Membership> ChangeRoleAsync(OrgGrant caller, Guid actorId, Guid userId, OrgRole role, CancellationToken ct)
    {
        Require(caller, OrgPermissions.MembersManage);
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
        if (userId != actorId)
            Require(caller, OrgPermissions.MembersManage);
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

    /// <summary>Organisations whose name or owner's email contains <paramref name="query"/>, or whose id it is; for administrators, so across every org.</summary>
    /// <remarks>Only platform administrators reach this (the caller checks the permission); it has no tenant on purpose.</remarks>
    public async Task<List<OrgSearchResult>> SearchAllAsync(string? query, int limit, CancellationToken ct)
    {
        var text = query?.Trim() ?? "";
        if (text.Length == 0)
            return [];
        var lower = text.ToLowerInvariant();
        var id = Guid.TryParse(text, out var parsed) ? parsed : (Guid?)null;
        var memberships = db.Memberships;
        var users = db.Users;
#pragma warning disable CA1862 // The query runs in the database: EF translates ToLower() and Contains, not a StringComparison.
        return await (from o in db.Organizations.AsNoTracking()
                      where o.DeletedAt == null
                      let owner = (from m in memberships
                                   join u in users on m.UserId equals u.Id
                                   where m.OrganizationId == o.Id && m.Role == OrgRole.Owner
                                   orderby u.Email
                                   select u.Email).FirstOrDefault()
                      where o.Id == id || o.Name.ToLower().Contains(lower) || (owner != null && owner.ToLower().Contains(lower))
                      orderby o.Name, o.Id
                      select new OrgSearchResult(o.Id, o.Name, o.IsPersonal, owner)).Take(Math.Clamp(limit, 1, 50)).ToListAsync(ct);
#pragma warning restore CA1862
    }

    public async Task<Organization> FindAsync(Guid orgId, CancellationToken ct) =>
        await db.Organizations.FirstOrDefaultAsync(o => o.Id == orgId && o.DeletedAt == null, ct)
        ?? throw NotFound("No such organisation.", "It does not exist, was deleted, or you are not a member.");

    async Task InvalidateMembersAsync(Guid orgId, CancellationToken ct)
    {
        var members = await db.Memberships.Where(m => m.OrganizationId == orgId).Select(m => m.UserId).ToListAsync(ct);
        await access.InvalidateOrgAsync(orgId, members, ct);
    }

    async Task RequireAnotherOwnerAsync(Guid orgId, Guid leaving, CancellationToken ct)
    {
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == orgId && m.Role == OrgRole.Owner && m.UserId != leaving, ct))
            throw Conflict("The last Owner cannot leave.", "Make someone else Owner first, or delete the organisation.");
    }

    public static OrgResponse Describe(Organization org, OrgRole role) =>
        Describe(org, new OrgGrant(org.Id, role, OrgPermissions.ByRole[role]));

    /// <remarks>An API key's permissions are its own, not those of the role it counts as.</remarks>
    public static OrgResponse Describe(Organization org, OrgGrant grant) =>
        new(org.Id, org.Name, org.IsPersonal, grant.Role, grant.Permissions.Select(OrgPermissions.Name).ToList(), org.CreatedAt);

    public static string RequireName(string? name)
    {
        var trimmed = name?.Trim();
        if (string.IsNullOrEmpty(trimmed) || trimmed.Length > 100)
            throw ProblemException.Invalid("name", "Give a name of 1 to 100 characters.");
        return trimmed;
    }

    public static OrgRole ParseRole(string? role) =>
        Enum.TryParse<OrgRole>(role, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed) && !int.TryParse(role, out _)
            ? parsed
            : throw ProblemException.Invalid("role", $"'{role}' is not a role; expected one of {string.Join(", ", Enum.GetNames<OrgRole>())}.");

    /// <summary>The route policies check this on the API; the pages have no route policy, so every service call checks again.</summary>
    public static void Require(OrgGrant caller, string permission)
    {
        if (!caller.Has(permission))
            throw Forbidden($"Your role ({caller.Role}) does not allow {OrgPermissions.Name(permission)}.");
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

}

/// <summary>An organisation found by an administrator's search, with its first owner's email to tell personal orgs apart.</summary>
internal sealed record OrgSearchResult(Guid Id, string Name, bool Personal, string? OwnerEmail);

internal sealed record OrgRecipient(string Email, string? DisplayName, string OrgName, bool IsPersonal);
