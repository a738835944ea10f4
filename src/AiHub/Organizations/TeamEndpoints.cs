using System.Security.Claims;
using AiHub.Admin;
using AiHub.Data;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Organizations;

internal sealed record TeamRequest(string? Name);

internal sealed record TeamMemberRequest(Guid UserId, bool Lead = false);

internal sealed record TeamResponse(Guid Id, string Name, IReadOnlyList<TeamMemberResponse> Members, DateTimeOffset CreatedAt);

internal sealed record TeamMemberResponse(Guid UserId, string Email, bool Lead);

internal static class TeamEndpoints
{
    public static void MapTeamEndpoints(this IEndpointRouteBuilder app)
    {
        var teams = OrgEndpoints.Org(app).MapGroup("/teams").WithTags("Teams");
        teams.MapGet("", List).RequireAuthorization(OrgPermissions.TeamsRead);
        teams.MapPost("", Create).RequireAuthorization(OrgPermissions.TeamsManage);
        teams.MapGet("/{id:guid}", Get).RequireAuthorization(OrgPermissions.TeamsRead);
        teams.MapPatch("/{id:guid}", Rename).RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
        teams.MapDelete("/{id:guid}", Delete).RequireAuthorization(OrgPermissions.TeamsManage);
        teams.MapPost("/{id:guid}/members", AddMember).RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
        teams.MapDelete("/{id:guid}/members/{userId:guid}", RemoveMember).RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
    }

    static async Task<Ok<List<TeamResponse>>> List(Guid orgId, AppDbContext db, CancellationToken ct)
    {
        var teams = await db.Teams.AsNoTracking().Where(t => t.OrganizationId == orgId).OrderBy(t => t.Name).ToListAsync(ct);
        var members = await MembersAsync(db, orgId, null, ct);
        return TypedResults.Ok(teams.Select(t => Describe(t, members)).ToList());
    }

    static async Task<Created<TeamResponse>> Create(Guid orgId, TeamRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db, AuditLog audit, TimeProvider clock, CancellationToken ct)
    {
        RequireAdmin(http.Grant());
        var now = clock.GetUtcNow();
        var team = new Team { Id = Guid.CreateVersion7(now), OrganizationId = orgId, Name = OrgEndpoints.RequireName(body.Name), CreatedAt = now };
        if (await db.Teams.AnyAsync(t => t.OrganizationId == orgId && t.Name == team.Name, ct))
            throw Orgs.Conflict("A team with that name exists.", $"Choose another name than '{team.Name}'.");
        db.Teams.Add(team);
        audit.Add(AuditKinds.TeamCreated, user.UserId(), new { team.Id, team.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/orgs/{orgId}/teams/{team.Id}", Describe(team, []));
    }

    static async Task<Ok<TeamResponse>> Get(Guid orgId, Guid id, AppDbContext db, CancellationToken ct)
    {
        var team = await FindAsync(db, orgId, id, ct);
        return TypedResults.Ok(Describe(team, await MembersAsync(db, orgId, id, ct)));
    }

    static async Task<Ok<TeamResponse>> Rename(Guid orgId, Guid id, TeamRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db, AuditLog audit, CancellationToken ct)
    {
        var team = await FindAsync(db, orgId, id, ct);
        await RequireManagerOfAsync(db, http.Grant(), user.UserId()!.Value, team, ct);
        team.Name = OrgEndpoints.RequireName(body.Name);
        if (await db.Teams.AnyAsync(t => t.OrganizationId == orgId && t.Name == team.Name && t.Id != id, ct))
            throw Orgs.Conflict("A team with that name exists.", $"Choose another name than '{team.Name}'.");
        audit.Add(AuditKinds.TeamUpdated, user.UserId(), new { team.Id, team.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(Describe(team, await MembersAsync(db, orgId, id, ct)));
    }

    static async Task<NoContent> Delete(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, AppDbContext db, AuditLog audit, CancellationToken ct)
    {
        RequireAdmin(http.Grant());
        var team = await FindAsync(db, orgId, id, ct);
        db.Teams.Remove(team);
        audit.Add(AuditKinds.TeamDeleted, user.UserId(), new { team.Id, team.Name }, organizationId: orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<TeamResponse>> AddMember(Guid orgId, Guid id, TeamMemberRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db, AuditLog audit, CancellationToken ct)
    {
        var team = await FindAsync(db, orgId, id, ct);
        var grant = http.Grant();
        await RequireManagerOfAsync(db, grant, user.UserId()!.Value, team, ct);
        if (body.Lead && grant.Role < OrgRole.Admin)
            throw Orgs.Forbidden("Only an Admin or Owner chooses a team's leads.");
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == orgId && m.UserId == body.UserId, ct))
            throw Orgs.NotFound("No such member.", $"User {body.UserId} is not a member of this organisation.");
        var existing = await db.TeamMembers.FirstOrDefaultAsync(m => m.OrganizationId == orgId && m.TeamId == id && m.UserId == body.UserId, ct);
        if (existing is null)
            db.TeamMembers.Add(new TeamMember { TeamId = id, OrganizationId = orgId, UserId = body.UserId, IsLead = body.Lead });
        else
            existing.IsLead = body.Lead;
        audit.Add(AuditKinds.TeamMemberAdded, body.UserId, new { team = id, lead = body.Lead }, user.UserId(), orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(Describe(team, await MembersAsync(db, orgId, id, ct)));
    }

    static async Task<NoContent> RemoveMember(Guid orgId, Guid id, Guid userId, HttpContext http, ClaimsPrincipal user, AppDbContext db, AuditLog audit, CancellationToken ct)
    {
        var team = await FindAsync(db, orgId, id, ct);
        await RequireManagerOfAsync(db, http.Grant(), user.UserId()!.Value, team, ct);
        var member = await db.TeamMembers.FirstOrDefaultAsync(m => m.OrganizationId == orgId && m.TeamId == id && m.UserId == userId, ct)
            ?? throw Orgs.NotFound("No such team member.", $"User {userId} is not in this team.");
        db.TeamMembers.Remove(member);
        audit.Add(AuditKinds.TeamMemberRemoved, userId, new { team = id }, user.UserId(), orgId);
        await db.SaveChangesAsync(ct);
        return TypedResults.NoContent();
    }

    static void RequireAdmin(OrgGrant grant)
    {
        if (grant.Role < OrgRole.Admin)
            throw Orgs.Forbidden("Only an Admin or Owner creates or deletes teams.");
    }

    /// <summary>Admins manage every team; a Manager only the teams they lead.</summary>
    static async Task RequireManagerOfAsync(AppDbContext db, OrgGrant grant, Guid userId, Team team, CancellationToken ct)
    {
        if (grant.Role >= OrgRole.Admin)
            return;
        if (!await db.TeamMembers.AnyAsync(m => m.OrganizationId == team.OrganizationId && m.TeamId == team.Id && m.UserId == userId && m.IsLead, ct))
            throw Orgs.Forbidden("A Manager manages only the teams they lead.");
    }

    static async Task<Team> FindAsync(AppDbContext db, Guid orgId, Guid id, CancellationToken ct) =>
        await db.Teams.FirstOrDefaultAsync(t => t.OrganizationId == orgId && t.Id == id, ct)
        ?? throw Orgs.NotFound("No such team.", $"There is no team {id} in this organisation.");

    static async Task<List<(Guid TeamId, TeamMemberResponse Member)>> MembersAsync(AppDbContext db, Guid orgId, Guid? teamId, CancellationToken ct)
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
