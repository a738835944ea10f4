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

internal sealed record EntryResponse(Guid Id, string Kind, decimal Amount, long AmountMicros, string Reference, Guid? ActorId, DateTimeOffset CreatedAt);

internal sealed record HistoryPage(IReadOnlyList<EntryResponse> Items, DateTimeOffset? Before);

internal sealed record AdjustRequest(Guid AccountId, decimal? Amount, string? Reason);

internal static class CreditEndpoints
{
    public static void MapCreditRoutes(IEndpointRouteBuilder app)
    {
        var mine = app.MapGroup("/api/credits").WithTags("Credits").RequireAuthorization()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status401Unauthorized);
        mine.MapGet("/balance", MyBalance);
        mine.MapGet("/history", MyHistory);

        var pool = OrgEndpoints.Org(app).MapGroup("/credits").WithTags("Credits");
        pool.MapGet("/balance", PoolBalance).RequireAuthorization(OrgPermissions.CreditsRead);
        pool.MapGet("/history", PoolHistory).RequireAuthorization(OrgPermissions.CreditsRead);

        AdminApi.Group(app, "/credits", Permissions.CreditsAdjust).MapPost("/adjust", Adjust);
        AdminApi.Group(app, "/credits", Permissions.CreditsRead).MapGet("/{userId:guid}", OfUser);
    }

    static async Task<Ok<BalanceResponse>> MyBalance(ClaimsPrincipal user, Ledger ledger, BalanceCache balances, CancellationToken ct) =>
        TypedResults.Ok(Describe(await balances.GetAsync(user.UserId()!.Value, c => ledger.OpenAsync(CreditOwner.User, user.UserId()!.Value, null, c), ct)));

    // An account's id is its owner's, so reading a history needs no account (and a GET opens none).
    static async Task<Ok<HistoryPage>> MyHistory(ClaimsPrincipal user, AppDbContext db, CancellationToken ct, DateTimeOffset? before = null, int limit = 50) =>
        TypedResults.Ok(await HistoryAsync(db, user.UserId()!.Value, before, limit, ct));

    static async Task<Ok<BalanceResponse>> PoolBalance(Guid orgId, Ledger ledger, BalanceCache balances, CancellationToken ct) =>
        TypedResults.Ok(Describe(await balances.GetAsync(orgId, c => ledger.OpenAsync(CreditOwner.Organization, null, orgId, c), ct)));

    static async Task<Ok<HistoryPage>> PoolHistory(Guid orgId, AppDbContext db, CancellationToken ct, DateTimeOffset? before = null, int limit = 50) =>
        TypedResults.Ok(await HistoryAsync(db, orgId, before, limit, ct));

    /// <remarks>The reason is required and audited; an <c>Idempotency-Key</c> header makes a retried adjustment harmless.</remarks>
    static async Task<Ok<BalanceResponse>> Adjust(AdjustRequest body, HttpContext http, ClaimsPrincipal user, Ledger ledger, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var key = IdempotencyKeys.Read(http.Request, required: false) ?? Guid.NewGuid().ToString("N");
        return TypedResults.Ok(await AdjustAsync(body, key, user.UserId()!.Value, ledger, audit, db, ct));
    }

    /// <summary>The admin adjustment, for the API and the admin page alike.</summary>
    internal static async Task<BalanceResponse> AdjustAsync(AdjustRequest body, string idempotencyKey, Guid actor, Ledger ledger, AuditLog audit, AppDbContext db, CancellationToken ct)
    {
        var reason = CreditReasons.Require(body.Reason);
        var micros = Micros.Require(body.Amount, "amount", MicrosSign.NotZero, "Give a non-zero amount of credits (negative takes credits away).");
        // Keys are the admin's own, and the audit event commits with the entry: a retry writes neither again.
        var key = $"adjust:{actor:N}:{idempotencyKey}";
        await ledger.PostAsync(body.AccountId, CreditKind.Adjustment, micros, reason, actor, key, ct, async (entry, token) =>
        {
            var owner = await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == entry.AccountId, token);
            audit.Add(AuditKinds.CreditsAdjusted, owner.UserId, new { account = owner.Id, amountMicros = micros, reason, entry = entry.Id }, actor, owner.OrganizationId);
        });
        return Describe(await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == body.AccountId, ct));
    }

    static async Task<Ok<BalanceResponse>> OfUser(Guid userId, Ledger ledger, AppDbContext db, CancellationToken ct)
    {
        if (!await db.Users.AnyAsync(u => u.Id == userId, ct))
            throw Orgs.NotFound("No such user.", $"There is no user {userId}.");
        return TypedResults.Ok(Describe(await ledger.OpenAsync(CreditOwner.User, userId, null, ct)));
    }

    internal static async Task<HistoryPage> HistoryAsync(AppDbContext db, Guid accountId, DateTimeOffset? before, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 200)
            throw ProblemException.Invalid("limit", "limit is between 1 and 200.");
        var query = db.Set<CreditEntry>().AsNoTracking().Where(e => e.AccountId == accountId);
        if (before is { } cursor)
            query = query.Where(e => e.CreatedAt < cursor);
        var entries = await query.OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.Id).Take(limit).ToListAsync(ct);
        if (entries.Count == limit)
        {
            // The cursor is a time and one commit can stamp many entries alike: the page takes all of its last instant.
            var last = entries[^1].CreatedAt;
            var seen = entries.Where(e => e.CreatedAt == last).Select(e => e.Id).ToList();
            entries.AddRange(await db.Set<CreditEntry>().AsNoTracking()
                .Where(e => e.AccountId == accountId && e.CreatedAt == last && !seen.Contains(e.Id)).OrderByDescending(e => e.Id).ToListAsync(ct));
        }
        return new HistoryPage(entries.Select(Describe).ToList(), entries.Count >= limit ? entries[^1].CreatedAt : null);
    }

    internal static EntryResponse Describe(CreditEntry e) =>
        new(e.Id, e.Kind.ToString().ToLowerInvariant(), Micros.ToCredits(e.Amount), e.Amount, e.Reference, e.ActorId, e.CreatedAt);

    internal static BalanceResponse Describe(CreditAccount a) => new(
        a.Id, Micros.ToCredits(a.Balance), a.Balance, Micros.ToCredits(a.Reserved), a.Reserved, Micros.ToCredits(a.Balance - a.Reserved), a.Balance - a.Reserved);
}
