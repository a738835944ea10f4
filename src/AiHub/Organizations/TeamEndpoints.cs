using System.Security.Claims;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

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
        teams.MapGet("", List).WithSummary("Lists the organisation's teams.").RequireAuthorization(OrgPermissions.TeamsRead);
        teams.MapPost("", Create).WithSummary("Creates a team.").RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
        teams.MapGet("/{id:guid}", Get).WithSummary("A team and its members.").RequireAuthorization(OrgPermissions.TeamsRead);
        teams.MapPatch("/{id:guid}", Rename).WithSummary("Renames a team.").RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
        teams.MapDelete("/{id:guid}", Delete).WithSummary("Deletes a team; its members stay in the organisation.").RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
        teams.MapPost("/{id:guid}/members", AddMember).WithSummary("Adds a member of the organisation to a team.").RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
        teams.MapDelete("/{id:guid}/members/{userId:guid}", RemoveMember).WithSummary("Removes a member from a team.").RequireAuthorization(OrgPermissions.TeamsManage).RequireUser();
    }

    static async Task<Ok<List<TeamResponse>>> List(Guid orgId, HttpContext http, Teams teams, CancellationToken ct) =>
        TypedResults.Ok(await teams.ListAsync(http.Grant(), ct));

    static async Task<Created<TeamResponse>> Create(Guid orgId, TeamRequest body, HttpContext http, ClaimsPrincipal user, Teams teams, CancellationToken ct)
    {
        var team = await teams.CreateAsync(http.Grant(), user.UserId()!.Value, body.Name, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/teams/{team.Id}", team);
    }

    static async Task<Ok<TeamResponse>> Get(Guid orgId, Guid id, HttpContext http, Teams teams, CancellationToken ct) =>
        TypedResults.Ok(await teams.GetAsync(http.Grant(), id, ct));

    static async Task<Ok<TeamResponse>> Rename(Guid orgId, Guid id, TeamRequest body, HttpContext http, ClaimsPrincipal user, Teams teams, CancellationToken ct) =>
        TypedResults.Ok(await teams.RenameAsync(http.Grant(), user.UserId()!.Value, id, body.Name, ct));

    static async Task<NoContent> Delete(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, Teams teams, CancellationToken ct)
    {
        await teams.DeleteAsync(http.Grant(), user.UserId()!.Value, id, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<TeamResponse>> AddMember(Guid orgId, Guid id, TeamMemberRequest body, HttpContext http, ClaimsPrincipal user, Teams teams, CancellationToken ct) =>
        TypedResults.Ok(await teams.AddMemberAsync(http.Grant(), user.UserId()!.Value, id, body.UserId, body.Lead, ct));

    static async Task<NoContent> RemoveMember(Guid orgId, Guid id, Guid userId, HttpContext http, ClaimsPrincipal user, Teams teams, CancellationToken ct)
    {
        await teams.RemoveMemberAsync(http.Grant(), user.UserId()!.Value, id, userId, ct);
        return TypedResults.NoContent();
    }
}
