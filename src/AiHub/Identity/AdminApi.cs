using AiHub.Infrastructure.Errors;

namespace AiHub.Identity;

/// <summary>
/// The groups of the admin API. Each requires its platform permission at the group, so no endpoint under
/// <c>/api/admin</c> can forget it; a test walks every such endpoint to keep it so.
/// </summary>
internal static class AdminApi
{
    public const string Prefix = "/api/admin";

    public static RouteGroupBuilder Group(IEndpointRouteBuilder app, string path, string permission) =>
        app.MapGroup(Prefix + path).RequireAuthorization(permission).WithTags("Admin")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status404NotFound);
}
