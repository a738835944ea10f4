using System.Security.Claims;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Credits.Services;

/// <summary>Check, deduct and hold credits for outside services, with an org API key that has <c>credits:spend</c>.</summary>
internal static class ServiceCreditEndpoints
{
    public static void AddServiceCredits(IServiceCollection services) => services.AddScoped<ServiceCredits>();

    public static void MapServiceCreditRoutes(IEndpointRouteBuilder app)
    {
        // Not an org route: the org is the key's. The filter refuses everyone but a key with credits:spend before any work.
        var credits = app.MapGroup("/api/credits").WithTags("Credits for services").RequireAuthorization()
            .WithMetadata(ApiKeysAllowedMetadata.Instance, ApiKeysOnlyMetadata.Instance)
            .AddEndpointFilter(async (context, next) =>
            {
                ServiceCredits.Key(context.HttpContext.User);
                return await next(context);
            })
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden);

        credits.MapPost("/check", Check).WithName("checkCredits")
            .WithSummary("Whether the payer can afford an amount now; nothing is held.")
            .WithDescription("Considers the organisation's pool (or, in a personal organisation, the owner's own credits), the member's allowance when `userId` names a capped member, and the API key's monthly budget. `available` is the most that could be spent now.")
            .ProducesProblems(StatusCodes.Status404NotFound);
        credits.MapPost("/deduct", Deduct).WithName("deductCredits")
            .WithSummary("Charges credits at once and answers the ledger entry; the same idempotencyKey again answers the same entry.")
            .WithDescription("201 with the entry the first time; 200 with the same entry for a retry with the same `idempotencyKey`; 409 when that key was used for a different amount, service or user. 402 when the payer, the member's allowance or the key's budget is short (with `available`).")
            .ProducesProblems(StatusCodes.Status402PaymentRequired, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        credits.MapPost("/holds", CreateHold).WithName("createCreditHold")
            .WithSummary("Holds credits for long work; settle the real cost or release it later.")
            .WithDescription("The hold keeps the credits from other spending until it is settled, released, or expires (`expiresInSeconds`, default 3600, at most 604800); an expired hold gives its credits back. The same `idempotencyKey` again answers the same hold.")
            .ProducesProblems(StatusCodes.Status402PaymentRequired, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        credits.MapGet("/holds/{id:guid}", GetHold).WithName("getCreditHold")
            .WithSummary("A credit hold of the key's organisation: amount, state and expiry.")
            .WithDescription("`state` is held, settled, released or expired.")
            .ProducesProblems(StatusCodes.Status404NotFound);
        credits.MapPost("/holds/{id:guid}/settle", Settle).WithName("settleCreditHold")
            .WithSummary("Charges the real cost of held work (at most what was held) and frees the rest; answers the ledger entry.")
            .WithDescription("Settling again with the same amount answers the same entry; a different amount, or a hold that was released or has expired, is 409.")
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        credits.MapPost("/holds/{id:guid}/release", Release).WithName("releaseCreditHold")
            .WithSummary("Gives a hold's credits back without charging; releasing again changes nothing.")
            .WithDescription("409 when the hold was settled.")
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
    }

    static async Task<Ok<CreditCheckResponse>> Check(CreditCheckRequest body, ClaimsPrincipal user, ServiceCredits service, CancellationToken ct) =>
        TypedResults.Ok(await service.CheckAsync(user, body, ct));

    static async Task<Results<Created<CreditChargeResponse>, Ok<CreditChargeResponse>>> Deduct(CreditDeductRequest body, ClaimsPrincipal user, ServiceCredits service,
        CancellationToken ct)
    {
        var (entry, created) = await service.DeductAsync(user, body, ct);
        return created ? TypedResults.Created((string?)null, entry) : TypedResults.Ok(entry);
    }

    static async Task<Results<Created<CreditHoldResponse>, Ok<CreditHoldResponse>>> CreateHold(CreditHoldRequest body, ClaimsPrincipal user, ServiceCredits service,
        CancellationToken ct)
    {
        var (hold, created) = await service.HoldAsync(user, body, ct);
        return created ? TypedResults.Created($"/api/credits/holds/{hold.Id}", hold) : TypedResults.Ok(hold);
    }

    static async Task<Ok<CreditHoldResponse>> GetHold(Guid id, ClaimsPrincipal user, ServiceCredits service, CancellationToken ct) =>
        TypedResults.Ok(await service.GetHoldAsync(user, id, ct));

    static async Task<Ok<CreditChargeResponse>> Settle(Guid id, CreditSettleRequest body, ClaimsPrincipal user, ServiceCredits service, CancellationToken ct) =>
        TypedResults.Ok(await service.SettleAsync(user, id, body, ct));

    static async Task<Ok<CreditHoldResponse>> Release(Guid id, ClaimsPrincipal user, ServiceCredits service, CancellationToken ct) =>
        TypedResults.Ok(await service.ReleaseAsync(user, id, ct));
}
