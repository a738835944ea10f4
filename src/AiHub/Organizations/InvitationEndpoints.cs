using System.Security.Claims;
using AiHub.Identity;
using Microsoft.AspNetCore.Http.HttpResults;
using AiHub.Infrastructure.Errors;

namespace AiHub.Organizations;

internal sealed record InviteRequest(string? Email, string? Role);

internal sealed record InvitationResponse(Guid Id, string Email, string Role, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

internal sealed record InvitationPreview(Guid OrganizationId, string OrganizationName, string Role, string Email, DateTimeOffset ExpiresAt, bool Open, string? InvitedBy, bool CanAnswer);

internal static class InvitationEndpoints
{
    public static void MapInvitationEndpoints(this IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("Invitations");
        org.MapGet("/invitations", List).RequireAuthorization(OrgPermissions.MembersManage);
        org.MapPost("/invitations", Invite).RequireAuthorization(OrgPermissions.MembersManage).RequireUser();
        org.MapDelete("/invitations/{id:guid}", Revoke).RequireAuthorization(OrgPermissions.MembersManage).RequireUser();

        var invitations = app.MapGroup("/api/invitations/{token}").WithTags("Invitations")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        invitations.MapGet("", Preview).AllowAnonymous();
        invitations.MapPost("/accept", Accept).RequireAuthorization();
        invitations.MapPost("/decline", Decline).RequireAuthorization();
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
