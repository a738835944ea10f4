using AiHub.Organizations.ApiKeys;
using System.Security.Claims;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Chat.Tools;

internal static class ToolEndpoints
{
    public static void MapToolRoutes(IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("Chat");
        org.MapGet("/tools", List).WithSummary("Lists the tools (such as web search) a model may call in this organisation.").RequireAuthorization(OrgPermissions.ChatUse);
    }

    /// <summary>The tools a chat call by this caller would offer the model.</summary>
    static async Task<Ok<IReadOnlyList<ToolDescription>>> List(Guid orgId, HttpContext http, ClaimsPrincipal user, ChatTools tools, AppDbContext db, CancellationToken ct) =>
        TypedResults.Ok(await tools.DescribeAsync(await ContextOfAsync(http.Grant(), user, db, ct), ct));

    /// <summary>The context of a call made by the caller; an API key acts for the person who created it.</summary>
    /// <remarks>The key is fetched by (org, id), from the grant the org check produced.</remarks>
    public static async Task<ToolContext> ContextOfAsync(OrgGrant grant, ClaimsPrincipal user, AppDbContext db, CancellationToken ct)
    {
        var userId = user.UserId() ?? await OrgApiKeys.CreatorAsync(db, grant.OrganizationId, grant.ApiKeyId!.Value, ct);
        return new ToolContext(grant.OrganizationId, userId, grant.WorkspaceId, grant.ApiKeyId);
    }
}
