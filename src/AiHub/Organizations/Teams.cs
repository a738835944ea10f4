using AiHub.Infrastructure.Audit;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

/// <summary>Teams inside an org: Admins create and delete them and choose leads; a Manager manages the teams they lead.</summary>
internal sealed class Teams(AppDbContext db, AuditLog audit, TimeProvider clock)
{
    public async Task<List<TeamResponse>> ListAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.TeamsRead);
        var orgId = caller.OrganizationId;
        var teams = await db.Teams.AsNoTracking().Where(t => t.OrganizationId == orgId).OrderBy(t => t.Name).ToListAsync(ct);
        var members = await MembersAsync(orgId, null, ct);
        return teams.Select(t => Describe(t, members)).ToList();
    }

    public async Task<TeamResponse> GetAsync(OrgGrant caller, Guid id, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.TeamsRead);
        var team = await FindAsync(caller.OrganizationId, id, ct);
        return Describe(team, await MembersAsync(caller.OrganizationId, id, ct));
    }

    public async Task<TeamResponse> CreateAsync(OrgGrant caller, Guid actorId, string? name, CancellationToken ct)
    {
        RequireAdmin(caller);
        var orgId = caller.OrganizationId;
        var now = clock.GetUtcNow();
        var team = new Team { Id = Guid.CreateVersion7(now), OrganizationId = orgId, Name = Orgs.RequireName(name), CreatedAt = now };
        await RequireUniqueNameAsync(orgId, team.Name, null, ct);
        db.Teams.Add(team);
        audit.Add(AuditKinds.TeamCreated, actorId, new { team.Id, team.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return Describe(team, []);
    }

    public async Task<TeamResponse> RenameAsync(OrgGrant caller, Guid actorId, Guid id, string? name, CancellationToken ct)
    {
        var orgId = caller.OrganizationId;
        var team = await FindAsync(orgId, id, ct);
        await RequireManagerOfAsync(caller, actorId, team, ct);
        team.Name = Orgs.RequireName(name);
        await RequireUniqueNameAsync(orgId, team.Name, id, ct);
        audit.Add(AuditKinds.TeamUpdated, actorId, new { team.Id, team.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return Describe(team, await MembersAsync(orgId, id, ct));
    }

    public async Task DeleteAsync(OrgGrant caller, Guid actorId, Guid id, CancellationToken ct)
    {
        RequireAdmin(caller);
        var team = await FindAsync(caller.OrganizationId, id, ct);
        db.Teams.Remove(team);
        audit.Add(AuditKinds.TeamDeleted, actorId, new { team.Id, team.Name }, organizationId: caller.OrganizationId);
        await db.SaveChangesAsync(ct);
    }

    public async Task<TeamResponse> AddMemberAsync(OrgGrant caller, Guid actorId, Guid id, Guid userId, bool lead, CancellationToken ct)
    {
        var orgId = caller.OrganizationId;
        var team = await FindAsync(orgId, id, ct);
        await RequireManagerOfAsync(caller, actorId, team, ct);
        if (lead && caller.Role < OrgRole.Admin)
            throw Orgs.Forbidden("Only an Admin or Owner chooses a team's leads.");
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == orgId && m.UserId == userId, ct))
            throw Orgs.NotFound("No such member.", $"User {userId} is not a member of this organisation.");
        var existing = await db.TeamMembers.FirstOrDefaultAsync(m => m.OrganizationId == orgId && m.TeamId == id && m.UserId == userId, ct);
        if (existing is null)
            db.TeamMembers.Add(new TeamMember { TeamId = id, OrganizationId = orgId, UserId = userId, IsLead = lead });
        else
            existing.IsLead = lead;
        audit.Add(AuditKinds.TeamMemberAdded, userId, new { team = id, teamName = team.Name, lead }, actorId, orgId);
        await db.SaveChangesAsync(ct);
        return Describe(team, await MembersAsync(orgId, id, ct));
    }

    public async Task RemoveMemberAsync(OrgGrant caller, Guid actorId, Guid id, Guid userId, CancellationToken ct)
    {
        var orgId = caller.OrganizationId;
        var team = await FindAsync(orgId, id, ct);
        await RequireManagerOfAsync(caller, actorId, team, ct);
        var member = await db.TeamMembers.FirstOrDefaultAsync(m => m.OrganizationId == orgId && m.TeamId == id && m.UserId == userId, ct)
            ?? throw Orgs.NotFound("No such team member.", $"User {userId} is not in this team.");
        db.TeamMembers.Remove(member);
        audit.Add(AuditKinds.TeamMemberRemoved, userId, new { team = id, teamName = team.Name }, actorId, orgId);
        await db.SaveChangesAsync(ct);
    }

    static void RequireAdmin(OrgGrant grant)
    {
        if (grant.Role < OrgRole.Admin)
            throw Orgs.Forbidden("Only an Admin or Owner creates or deletes teams.");
    }

    /// <summary>Admins manage every team; a Manager only the teams they lead.</summary>
    async Task RequireManagerOfAsync(OrgGrant grant, Guid userId, Team team, CancellationToken ct)
    {
        Orgs.Require(grant, OrgPermissions.TeamsManage);
        if (grant.Role >= OrgRole.Admin)
            return;
        if (!await db.TeamMembers.AnyAsync(m => m.OrganizationId == team.OrganizationId && m.TeamId == team.Id && m.UserId == userId && m.IsLead, ct))
            throw Orgs.Forbidden("A Manager manages only the teams they lead.");
    }

    async Task RequireUniqueNameAsync(Guid orgId, string name, Guid? except, CancellationToken ct)
    {
        if (await db.Teams.AnyAsync(t => t.OrganizationId == orgId && t.Name == name && t.Id != except, ct))
            throw Orgs.Conflict("A team with that name exists.", $"Choose another name than '{name}'.");
    }

    async Task<Team> FindAsync(Guid orgId, Guid id, CancellationToken ct) =>
        await db.Teams.FirstOrDefaultAsync(t => t.OrganizationId == orgId && t.Id == id, ct)
        ?? throw Orgs.NotFound("No such team.", $"There is no team {id} in this organisation.");

    async Task<List<(Guid TeamId, TeamMemberResponse Member)>> MembersAsync(Guid orgId, Guid? teamId, CancellationToken ct)
    {
        var rows = await (from m in db.TeamMembers
                          join u in db.Users on m.UserId equals u.Id
                          where m.OrganizationId == orgId && (teamId == null || m.TeamId == teamId)
                          select new { m.TeamId, m.UserId, u.Email, m.IsLead }).ToListAsync(ct);
        return rows.Select(r => (r.TeamId, new TeamMemberResponse(r.UserId, r.Email!, r.IsLead))).ToList();
    }

    static TeamResponse Describe(Team team, List<(Guid TeamId, TeamMemberResponse Member)> members) =>
        new(team.Id, team.Name, members.Where(m => m.TeamId == team.Id).Select(m => m.Member).OrderBy(m => m.Email, StringComparer.Ordinal).ToList(), team.CreatedAt);
}
