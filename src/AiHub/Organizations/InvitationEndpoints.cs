using System.Security.Claims;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using AiHub.Infrastructure.Errors;

namespace AiHub.Organizations;

internal sealed record InviteRequest(string? Email, string? Role);

internal sealed record InvitationResponse(Guid Id, string Email, OrgRole Role, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

internal sealed record InvitationPreview(Guid OrganizationId, string OrganizationName, OrgRole Role, string Email, DateTimeOffset ExpiresAt, bool Open, string? InvitedBy, bool CanAnswer);

internal static class InvitationEndpoints
{
    public static void MapInvitationEndpoints(this IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("Invitations");
        org.MapGet("/invitations", List).WithSummary("Lists the organisation's pending invitations.").RequireAuthorization(OrgPermissions.MembersManage);
        org.MapPost("/invitations", Invite).WithSummary("Invites someone by email, with a role.").RequireAuthorization(OrgPermissions.MembersManage).RequireUser();
        org.MapDelete("/invitations/{id:guid}", Revoke).WithSummary("Withdraws a pending invitation.").RequireAuthorization(OrgPermissions.MembersManage).RequireUser();

        var invitations = app.MapGroup("/api/invitations/{token}").WithTags("Invitations")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        invitations.MapGet("", Preview).WithSummary("What an invitation is for: the organisation, the role and who sent it.").AllowAnonymous();
        invitations.MapPost("/accept", Accept).WithSummary("Accepts an invitation: the signed-in user joins the organisation.").RequireAuthorization();
        invitations.MapPost("/decline", Decline).WithSummary("Declines an invitation.").RequireAuthorization();
    }

    static async Task<Ok<List<InvitationResponse>>> List(Guid orgId, HttpContext http, Invitations invitations, CancellationToken ct) =>
        TypedResults.Ok(await invitations.ListOpenAsync(http.Grant(), ct));

    static async Task<Created<InvitationResponse>> Invite(Guid orgId, InviteRequest body, HttpContext http, ClaimsPrincipal user, Invitations invitations, CancellationToken ct)
    {
        var invitation = await invitations.InviteAsync(http.Grant(), user.UserId()!.Value, body.Email, body.Role, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/invitations/{invitation.Id}", invitation);
    }

    static async Task<NoContent> Revoke(Guid orgId, Guid id, HttpContext http, ClaimsPrincipal user, Invitations invitations, CancellationToken ct)
    {
        await invitations.RevokeAsync(http.Grant(), user.UserId()!.Value, id, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<InvitationPreview>> Preview(string token, ClaimsPrincipal user, Invitations invitations, CancellationToken ct) =>
        TypedResults.Ok(await invitations.PreviewAsync(token, user.UserId(), ct));

    static async Task<Ok<OrgResponse>> Accept(string token, ClaimsPrincipal user, Invitations invitations, CancellationToken ct) =>
        TypedResults.Ok(await invitations.AcceptAsync(token, user.UserId()!.Value, ct));

    static async Task<NoContent> Decline(string token, ClaimsPrincipal user, Invitations invitations, CancellationToken ct)
    {
        await invitations.DeclineAsync(token, user.UserId()!.Value, ct);
        return TypedResults.NoContent();
    }
}
