using AiHub.Infrastructure.Errors;
using System.Security.Claims;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits;

/// <summary>Amounts go out as credits for people and as exact integer micro-credits for programs.</summary>
internal sealed record BalanceResponse(Guid AccountId, decimal Balance, long BalanceMicros, decimal Reserved, long ReservedMicros, decimal Available, long AvailableMicros);

internal sealed record EntryResponse(Guid Id, CreditKind Kind, decimal Amount, long AmountMicros, string Reference, Guid? ActorId, DateTimeOffset CreatedAt,
    CallResponse? Call = null);

/// <summary>The AI call a usage entry paid for: the model, its tokens, and what it was for (a conversation, titled and linked for its owner).</summary>
internal sealed record CallResponse(string? Provider, string? Model, long InputTokens, long OutputTokens, string What, string? Title, string? Url, bool ByApiKey);

internal sealed record HistoryPage(IReadOnlyList<EntryResponse> Items, DateTimeOffset? Before);

internal sealed record AdjustRequest(Guid AccountId, decimal? Amount, string? Reason);

internal static class CreditEndpoints
{
    public static void MapCreditRoutes(IEndpointRouteBuilder app)
    {
        var mine = app.MapGroup("/api/credits").WithTags("Credits").RequireAuthorization()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized);
        mine.MapGet("/balance", MyBalance).WithSummary("Your own credit balance: what you hold and what is reserved by calls under way.");
        mine.MapGet("/history", MyHistory).WithSummary("The entries of your own credit ledger, newest first.");

        var pool = OrgEndpoints.Org(app).MapGroup("/credits").WithTags("Credits");
        pool.MapGet("/balance", PoolBalance).WithSummary("The organisation's credit pool balance.").RequireAuthorization(OrgPermissions.CreditsRead);
        pool.MapGet("/history", PoolHistory).WithSummary("The entries of the organisation's credit ledger, newest first.").RequireAuthorization(OrgPermissions.CreditsRead);

        AdminApi.Group(app, "/credits", Permissions.CreditsAdjust).MapPost("/adjust", Adjust).WithSummary("Adds credits to, or takes them from, a user's or an organisation's account.");
        AdminApi.Group(app, "/credits", Permissions.CreditsRead).MapGet("/{userId:guid}", OfUser).WithSummary("A user's credit balance and ledger entries.");
    }

    static async Task<Ok<BalanceResponse>> MyBalance(ClaimsPrincipal user, Ledger ledger, BalanceCache balances, CancellationToken ct) =>
        TypedResults.Ok(CreditAccounts.Describe(await balances.GetAsync(user.UserId()!.Value, c => ledger.OpenAsync(CreditOwner.User, user.UserId()!.Value, null, c), ct)));

    // An account's id is its owner's, so reading a history needs no account (and a GET opens none).
    static async Task<Ok<HistoryPage>> MyHistory(ClaimsPrincipal user, CreditAccounts accounts, CancellationToken ct, DateTimeOffset? before = null, int limit = 50) =>
        TypedResults.Ok(await accounts.HistoryAsync(user.UserId()!.Value, user.UserId()!.Value, before, limit, ct));

    static async Task<Ok<BalanceResponse>> PoolBalance(Guid orgId, Ledger ledger, BalanceCache balances, CancellationToken ct) =>
        TypedResults.Ok(CreditAccounts.Describe(await balances.GetAsync(orgId, c => ledger.OpenAsync(CreditOwner.Organization, null, orgId, c), ct)));

    // An API key reads the pool too; it is no person, so no conversation is named to it.
    static async Task<Ok<HistoryPage>> PoolHistory(Guid orgId, ClaimsPrincipal user, CreditAccounts accounts, CancellationToken ct, DateTimeOffset? before = null, int limit = 50) =>
        TypedResults.Ok(await accounts.HistoryAsync(orgId, user.UserId(), before, limit, ct));

    /// <remarks>The reason is required and audited; an <c>Idempotency-Key</c> header makes a retried adjustment harmless.</remarks>
    static async Task<Ok<BalanceResponse>> Adjust(AdjustRequest body, HttpContext http, ClaimsPrincipal user, CreditAccounts accounts, CancellationToken ct)
    {
        var key = IdempotencyKeys.Read(http.Request, required: false) ?? Guid.NewGuid().ToString("N");
        return TypedResults.Ok(await accounts.AdjustAsync(body, key, user.UserId()!.Value, ct));
    }

    static async Task<Ok<BalanceResponse>> OfUser(Guid userId, Ledger ledger, AppDbContext db, CancellationToken ct)
    {
        if (!await db.Users.AnyAsync(u => u.Id == userId, ct))
            throw Orgs.NotFound("No such user.", $"There is no user {userId}.");
        return TypedResults.Ok(CreditAccounts.Describe(await ledger.OpenAsync(CreditOwner.User, userId, null, ct)));
    }
}
