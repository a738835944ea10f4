using System.Security.Claims;
using AiHub.Identity;
using AiHub.Organizations;
using AiHub.Infrastructure.Jobs;
using Hangfire;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Credits.Pools;

internal static class PoolEndpoints
{
    public static void AddPools(IServiceCollection services)
    {
        services.AddScoped<CreditGate>();
        services.AddScoped<BudgetWarnings>();
        services.AddScoped<PoolMembers>();
        services.AddScoped<Allowances>();
        services.AddScoped<CreditRequests>();
    }

    public static void MapPoolRoutes(IEndpointRouteBuilder app)
    {
        var credits = OrgEndpoints.Org(app).MapGroup("/credits").WithTags("Credits");
        credits.MapGet("/allocations", List).WithSummary("Lists each member's allowance from the organisation's pool and what they spent this month.").RequireAuthorization(OrgPermissions.CreditsManage);
        credits.MapPost("/allocations/{userId:guid}", Change).WithSummary("Sets or changes a member's allowance from the pool.").RequireAuthorization(OrgPermissions.CreditsManage).RequireUser();
        credits.MapDelete("/allocations/{userId:guid}", Remove).WithSummary("Removes a member's allowance; unspent credits return to the pool.").RequireAuthorization(OrgPermissions.CreditsManage).RequireUser();
        credits.MapGet("/allocation", Mine).WithSummary("Your own allowance in this organisation and what is left of it.").RequireAuthorization(OrgPermissions.OrgRead).RequireUser();
        credits.MapGet("/settings", Settings).WithSummary("The pool's settings: whether members need an allowance to use AI.").RequireAuthorization(OrgPermissions.CreditsManage);
        credits.MapPut("/settings", ChangeSettings).WithSummary("Changes the pool's settings.").RequireAuthorization(OrgPermissions.CreditsManage).RequireUser();
        credits.MapPost("/requests", Request).WithSummary("Asks the organisation's managers for more credits.").RequireAuthorization(OrgPermissions.OrgRead).RequireUser();
        credits.MapGet("/requests", Requests).WithSummary("Lists credit requests: all of them for a manager, your own otherwise.").RequireAuthorization(OrgPermissions.OrgRead);
        credits.MapPost("/requests/{requestId:guid}/approve", Approve).WithSummary("Approves a credit request; the amount joins the member's allowance.").RequireAuthorization(OrgPermissions.CreditsManage).RequireUser();
        credits.MapPost("/requests/{requestId:guid}/deny", Deny).WithSummary("Denies a credit request, with a reason the member is sent.").RequireAuthorization(OrgPermissions.CreditsManage).RequireUser();
    }

    static async Task<Ok<AllocationList>> List(Guid orgId, HttpContext http, Allowances allowances, CancellationToken ct) =>
        TypedResults.Ok(await allowances.ListAsync(http.Grant(), ct));

    /// <remarks>An <c>Idempotency-Key</c> header makes a retried change harmless.</remarks>
    static async Task<Ok<AllocationResponse>> Change(Guid orgId, Guid userId, AllocationChange body, HttpContext http, ClaimsPrincipal user, Allowances allowances, CancellationToken ct) =>
        TypedResults.Ok(await allowances.ChangeAsync(http.Grant(), user.UserId()!.Value, userId, body, IdempotencyKeys.Read(http.Request, required: false), ct));

    static async Task<NoContent> Remove(Guid orgId, Guid userId, HttpContext http, ClaimsPrincipal user, Allowances allowances, CancellationToken ct)
    {
        await allowances.RemoveAsync(http.Grant(), user.UserId()!.Value, userId, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<MyAllocation>> Mine(Guid orgId, HttpContext http, ClaimsPrincipal user, Allowances allowances, CancellationToken ct) =>
        TypedResults.Ok(await allowances.MineAsync(http.Grant(), user.UserId()!.Value, ct));

    static async Task<Ok<PoolSettingsResponse>> Settings(Guid orgId, HttpContext http, Allowances allowances, CancellationToken ct) =>
        TypedResults.Ok(await allowances.SettingsAsync(http.Grant(), ct));

    static async Task<Ok<PoolSettingsResponse>> ChangeSettings(Guid orgId, PoolSettingsBody body, HttpContext http, ClaimsPrincipal user, Allowances allowances, CancellationToken ct) =>
        TypedResults.Ok(await allowances.ChangeSettingsAsync(http.Grant(), user.UserId()!.Value, body, ct));

    static async Task<Created<CreditRequestResponse>> Request(Guid orgId, CreditRequestBody body, HttpContext http, ClaimsPrincipal user, CreditRequests requests, CancellationToken ct)
    {
        var request = await requests.RequestAsync(http.Grant(), user.UserId()!.Value, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/credits/requests/{request.Id}", request);
    }

    static async Task<Ok<List<CreditRequestResponse>>> Requests(Guid orgId, HttpContext http, ClaimsPrincipal user, CreditRequests requests, CancellationToken ct, string? status = null) =>
        TypedResults.Ok(await requests.RequestsAsync(http.Grant(), user.UserId(), status, ct));

    static async Task<Ok<CreditRequestResponse>> Approve(Guid orgId, Guid requestId, ApproveBody? body, HttpContext http, ClaimsPrincipal user, CreditRequests requests, CancellationToken ct) =>
        TypedResults.Ok(await requests.ApproveAsync(http.Grant(), user.UserId()!.Value, requestId, body ?? new ApproveBody(null), ct));

    static async Task<Ok<CreditRequestResponse>> Deny(Guid orgId, Guid requestId, DenyBody body, HttpContext http, ClaimsPrincipal user, CreditRequests requests, CancellationToken ct) =>
        TypedResults.Ok(await requests.DenyAsync(http.Grant(), user.UserId()!.Value, requestId, body, ct));
}
