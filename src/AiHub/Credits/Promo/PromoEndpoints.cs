using System.Security.Claims;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Credits.Promo;

internal static class PromoEndpoints
{
    public static void MapPromoRoutes(IEndpointRouteBuilder app)
    {
        var adjust = AdminApi.Group(app, "/promo-codes", Permissions.CreditsAdjust);
        adjust.MapPost("", Create).WithSummary("Creates a promo code worth a number of credits.");
        adjust.MapDelete("/{code}", Deactivate).WithSummary("Deactivates a promo code; what was redeemed stays.");
        AdminApi.Group(app, "/promo-codes", Permissions.CreditsRead).MapGet("", List).WithSummary("Lists promo codes and how often each was redeemed.");

        app.MapPost("/api/credits/redeem", Redeem).WithTags("Credits").WithSummary("Redeems a promo code: its credits join your own account.").RequireAuthorization()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
    }

    static async Task<Created<PromoCodeResponse>> Create(PromoCodeRequest body, ClaimsPrincipal user, PromoCodes promos, CancellationToken ct)
    {
        var created = await promos.CreateAsync(body, user.UserId()!.Value, ct);
        return TypedResults.Created($"/api/admin/promo-codes/{created.Code}", created);
    }

    static async Task<Ok<List<PromoCodeResponse>>> List(PromoCodes promos, CancellationToken ct) =>
        TypedResults.Ok(await promos.ListAsync(ct));

    /// <remarks>Deactivates rather than deletes: redemptions keep pointing at the code.</remarks>
    static async Task<Ok<PromoCodeResponse>> Deactivate(string code, ClaimsPrincipal user, PromoCodes promos, CancellationToken ct) =>
        TypedResults.Ok(await promos.DeactivateAsync(code, user.UserId()!.Value, ct));

    /// <remarks>An <c>Idempotency-Key</c> header makes a retry return the first redemption instead of "already redeemed".</remarks>
    static async Task<Ok<RedemptionResponse>> Redeem(RedeemRequest body, HttpContext http, ClaimsPrincipal user, PromoCodes promos, CancellationToken ct)
    {
        return TypedResults.Ok(await promos.RedeemAsync(user.UserId()!.Value, body.Code, IdempotencyKeys.Read(http.Request, required: false), ct));
    }
}
