using System.Security.Claims;
using AiHub.Identity;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Credits.Plans;

internal static class PlanEndpoints
{
    public static void MapPlanRoutes(IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/plans").WithTags("Plans").AllowAnonymous().MapGet("", ListActive);

        OrgEndpoints.Org(app).WithTags("Plans").MapGet("/plan", OfOrg).RequireAuthorization(OrgPermissions.OrgRead);

        var plans = AdminApi.Group(app, "/plans", Permissions.SettingsManage);
        plans.MapGet("", ListAll);
        plans.MapPut("/{code}", Save);
        AdminApi.Group(app, "/orgs", Permissions.OrgsManageAll).MapPut("/{orgId:guid}/plan", Assign);
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
