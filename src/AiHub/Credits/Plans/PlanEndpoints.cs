using System.Security.Claims;
using AiHub.Identity;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Credits.Plans;

internal static class PlanEndpoints
{
    public static void MapPlanRoutes(IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/plans").WithTags("Plans").AllowAnonymous().MapGet("", ListActive).WithSummary("Lists the plans a new organisation can choose, cheapest first.");

        OrgEndpoints.Org(app).WithTags("Plans").MapGet("/plan", OfOrg).WithSummary("Shows the organisation's plan and how much of each quota it has used.").RequireAuthorization(OrgPermissions.OrgRead);

        var plans = AdminApi.Group(app, "/plans", Permissions.SettingsManage);
        plans.MapGet("", ListAll).WithSummary("Lists every plan, active or not.");
        plans.MapPut("/{code}", Save).WithSummary("Creates or replaces a plan by its code.");
        AdminApi.Group(app, "/orgs", Permissions.OrgsManageAll).MapPut("/{orgId:guid}/plan", Assign).WithSummary("Moves an organisation to another plan.");
    }

    static async Task<Ok<List<PlanResponse>>> ListActive(PlanCatalog plans, CancellationToken ct) =>
        TypedResults.Ok(await plans.ListAsync(includeInactive: false, ct));

    static async Task<Ok<OrgPlanResponse>> OfOrg(Guid orgId, PlanCatalog plans, CancellationToken ct) =>
        TypedResults.Ok(await plans.OfOrgAsync(orgId, ct));

    static async Task<Ok<List<PlanResponse>>> ListAll(PlanCatalog plans, CancellationToken ct) =>
        TypedResults.Ok(await plans.ListAsync(includeInactive: true, ct));

    static async Task<Results<Ok<PlanResponse>, Created<PlanResponse>>> Save(string code, PlanRequest body, ClaimsPrincipal user, PlanCatalog plans, CancellationToken ct)
    {
        var (plan, created) = await plans.SaveAsync(code, body, user.UserId()!.Value, ct);
        return created ? TypedResults.Created($"/api/admin/plans/{plan.Code}", plan) : TypedResults.Ok(plan);
    }

    static async Task<Ok<OrgPlanResponse>> Assign(Guid orgId, AssignPlanRequest body, ClaimsPrincipal user, PlanCatalog plans, CancellationToken ct) =>
        TypedResults.Ok(await plans.AssignAsync(orgId, body.Code, user.UserId()!.Value, ct));
}
