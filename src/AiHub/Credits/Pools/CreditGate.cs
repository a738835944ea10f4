using System.Globalization;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Pools;

/// <summary>Who makes an AI call: the org of the request, the person, and the API key and workspace when there are.</summary>
/// <param name="UserId">The person; for a call made with an API key, the key's creator (<c>ApiKey.CreatedBy</c>).</param>
internal sealed record Spender(Guid OrganizationId, Guid UserId, Guid? ApiKeyId, Guid? WorkspaceId);

/// <summary>The credits held for one AI call; hand it back to <see cref="CreditGate.SettleAsync"/> or <see cref="CreditGate.ReleaseAsync"/>.</summary>
/// <param name="PayerAccountId">The user's own account in their personal org, the org pool elsewhere.</param>
/// <param name="AllocationAccountId">The member's allocation that caps this call, if any.</param>
/// <param name="ApiKeyId">The key whose monthly budget holds this call, if it has one.</param>
internal sealed record CreditHold(
    Guid Id, Guid OrganizationId, Guid PayerAccountId, Guid? AllocationAccountId, Guid? ApiKeyId, long AmountMicros, string IdempotencyKey);

/// <summary>An API key's month so far, for budget warnings.</summary>
internal sealed record ApiKeyBudgetPeriod(long SpentMicros, long HeldMicros, long BudgetMicros, DateTimeOffset PeriodStart, DateTimeOffset ResetsAt);

/// <summary>
/// Who pays for an AI call, and the holds that make sure they can: every AI call (chat, the OpenAI-compatible API,
/// knowledge answers) holds its maximum cost here first, then settles the real cost or releases the hold.
/// </summary>
/// <remarks>
/// The payer is the user's own account in their personal org, and the org pool in any other org: personal credits
/// never pay for an org and the pool never pays for a personal org. In an org the call also holds the member's
/// allocation (when the member has one) and the key's monthly budget (when a key with a budget makes it). All holds of
/// one call are taken in one transaction of conditional updates, so they all stand or none does (ADR 0006).
/// </remarks>
internal sealed class CreditGate(AppDbContext db, Ledger ledger, TimeProvider clock, BudgetWarnings? budgetWarnings = null)
{
    public async Task<CreditHold> HoldAsync(Spender spender, long maxCostMicros, string idempotencyKey, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCostMicros);
        ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
        if (idempotencyKey.Length > 150)
            throw new ArgumentException("An idempotency key has at most 150 characters.", nameof(idempotencyKey));
        if (await FindAsync(idempotencyKey, ct) is { } earlier)
            return SameCall(earlier, spender);

        var org = await db.Organizations.AsNoTracking().FirstOrDefaultAsync(o => o.Id == spender.OrganizationId && o.DeletedAt == null, ct)
            ?? throw Orgs.NotFound("No such organisation.", "It does not exist or was deleted.");
        var apiKey = spender.ApiKeyId is { } keyId
            ? await db.ApiKeys.IgnoreQueryFilters().AsNoTracking().FirstOrDefaultAsync(k => k.Id == keyId && k.OrganizationId == org.Id, ct)
                ?? throw Orgs.NotFound("No such API key.", $"The key {keyId} does not belong to this organisation.")
            : null;
        if (spender.WorkspaceId is { } workspaceId
            && !await db.Workspaces.IgnoreQueryFilters().AnyAsync(w => w.Id == workspaceId && w.OrganizationId == org.Id, ct))
            throw Orgs.NotFound("No such workspace.", $"The workspace {workspaceId} does not belong to this organisation.");
        if (apiKey is null && !await db.Memberships.AnyAsync(m => m.OrganizationId == org.Id && m.UserId == spender.UserId, ct))
            throw Orgs.NotFound("No such member.", $"User {spender.UserId} is not a member of this organisation.");

        CreditAccount payer;
        MemberAllocation? allocation = null;
        if (org.IsPersonal)
        {
            // A personal org is paid by its owner's own credits, never by a pool.
            var owner = await db.Memberships.AsNoTracking().Where(m => m.OrganizationId == org.Id && m.Role == OrgRole.Owner)
                .Select(m => m.UserId).FirstAsync(ct);
            payer = await ledger.OpenAsync(CreditOwner.User, owner, null, ct);
        }
        else
        {
            payer = await ledger.OpenAsync(CreditOwner.Organization, null, org.Id, ct);
            allocation = await db.Set<MemberAllocation>().AsNoTracking()
                .FirstOrDefaultAsync(a => a.OrganizationId == org.Id && a.UserId == spender.UserId, ct);
            if (allocation is null && await db.Set<PoolSettings>().AnyAsync(s => s.OrganizationId == org.Id && s.MembersNeedAllocation, ct))
                throw new ProblemException(StatusCodes.Status402PaymentRequired, "You have no allowance in this organisation.",
                    "Its members need an allocation to use its credits; ask an Owner or Admin for one, or send a credit request.",
                    ProblemTypes.AllowanceExceeded);
        }

        var now = clock.GetUtcNow();
        var budget = apiKey?.MonthlyBudgetCredits is { } credits ? BudgetMicros(credits) : (long?)null;
        var month = budget is null ? null : Month(now);
        if (month is not null)
            await OpenSpendAsync(apiKey!.Id, month, ct);

        var reference = Reference(spender);
        try
        {
            return await ledger.AtomicallyAsync(async () =>
            {
                var paid = await ledger.ReserveWithinAsync(payer.Id, maxCostMicros, reference, idempotencyKey + "/payer",
                    account => PayerShort(org.IsPersonal, maxCostMicros, account), ct);
                var capped = allocation is null
                    ? null
                    : await ledger.ReserveWithinAsync(allocation.AccountId, maxCostMicros, reference, idempotencyKey + "/allowance",
                        account => AllowanceShort(maxCostMicros, account), ct);
                if (month is not null)
                {
                    var within = await db.Set<ApiKeySpend>()
                        .Where(s => s.ApiKeyId == apiKey!.Id && s.Month == month && s.Spent + s.Held + maxCostMicros <= budget!.Value)
                        .ExecuteUpdateAsync(u => u.SetProperty(s => s.Held, s => s.Held + maxCostMicros), ct);
                    if (within == 0)
                        throw await BudgetExceededAsync(apiKey!.Id, month, budget!.Value, maxCostMicros, now, ct);
                }
                var hold = new GateHold
                {
                    Id = Guid.CreateVersion7(now), OrganizationId = org.Id, UserId = spender.UserId, ApiKeyId = spender.ApiKeyId,
                    WorkspaceId = spender.WorkspaceId, PayerAccountId = payer.Id, PayerReservationId = paid.Id,
                    AllocationAccountId = allocation?.AccountId, AllocationReservationId = capped?.Id, BudgetMonth = month,
                    Amount = maxCostMicros, State = ReservationState.Open, IdempotencyKey = idempotencyKey,
                    CreatedAt = now, ExpiresAt = now + Ledger.ReservationLifetime,
                };
                db.Add(hold);
                return Describe(hold);
            }, ct);
        }
        catch (DbUpdateException)
        {
            // The same call raced itself: the first hold is the hold.
            if (await FindAsync(idempotencyKey, ct) is not { } winner)
                throw;
            return SameCall(winner, spender);
        }
    }

    /// <summary>Charges the real cost (at most what was held) to the payer and the allocation, counts it against the key's budget, and frees the rest.</summary>
    public Task SettleAsync(CreditHold hold, long actualCostMicros, CancellationToken ct) =>
        CloseAsync(hold, ReservationState.Settled, Math.Max(0, actualCostMicros), ct);

    /// <summary>Frees every part of the hold: the call failed before it cost anything.</summary>
    public Task ReleaseAsync(CreditHold hold, CancellationToken ct) => CloseAsync(hold, ReservationState.Released, 0, ct);

    /// <summary>Releases holds left open past their lifetime by a call that never came back.</summary>
    public async Task<int> ReleaseExpiredAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var expired = await db.Set<GateHold>().AsNoTracking().Where(h => h.State == ReservationState.Open && h.ExpiresAt < now).ToListAsync(ct);
        foreach (var hold in expired)
            await CloseAsync(Describe(hold), ReservationState.Released, 0, ct);
        return expired.Count;
    }

    /// <summary>An API key's current month: spent, held and budget, and when it resets; null when the key has no budget.</summary>
    public async Task<ApiKeyBudgetPeriod?> BudgetAsync(Guid organizationId, Guid apiKeyId, CancellationToken ct)
    {
        var credits = await db.ApiKeys.IgnoreQueryFilters().AsNoTracking()
            .Where(k => k.Id == apiKeyId && k.OrganizationId == organizationId).Select(k => new { k.MonthlyBudgetCredits }).FirstOrDefaultAsync(ct)
            ?? throw Orgs.NotFound("No such API key.", $"There is no key {apiKeyId} in this organisation.");
        if (credits.MonthlyBudgetCredits is not { } budget)
            return null;
        var now = clock.GetUtcNow();
        var month = Month(now);
        var spend = await db.Set<ApiKeySpend>().AsNoTracking().FirstOrDefaultAsync(s => s.ApiKeyId == apiKeyId && s.Month == month, ct);
        var start = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return new ApiKeyBudgetPeriod(spend?.Spent ?? 0, spend?.Held ?? 0, BudgetMicros(budget), start, start.AddMonths(1));
    }

    async Task CloseAsync(CreditHold given, ReservationState state, long actualCost, CancellationToken ct)
    {
        // Read before the transaction: on SQLite a transaction that reads first and writes later can deadlock with another writer.
        var hold = await db.Set<GateHold>().AsNoTracking().FirstOrDefaultAsync(h => h.Id == given.Id && h.OrganizationId == given.OrganizationId, ct)
            ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such credit hold.", null, ProblemTypes.NotFound);
        if (hold.State != ReservationState.Open)
            return;
        var reservations = await ledger.ReservationsAsync(new[] { hold.PayerReservationId, hold.AllocationReservationId }.OfType<Guid>(), ct);
        var charge = Math.Clamp(actualCost, 0, hold.Amount);
        var reference = state == ReservationState.Settled ? "AI call settled" : "AI call released";
        var closed = await ledger.AtomicallyAsync(async () =>
        {
            // The hold closes once: a retry, a late settle or the expiry job that loses here changes nothing.
            var moved = await db.Set<GateHold>().Where(h => h.Id == hold.Id && h.State == ReservationState.Open)
                .ExecuteUpdateAsync(u => u.SetProperty(h => h.State, state).SetProperty(h => h.ActualCost, charge).SetProperty(h => h.ClosedAt, clock.GetUtcNow()), ct);
            if (moved == 0)
                return false;
            foreach (var reservation in reservations.Values)
                await ledger.CloseWithinAsync(reservation, state, charge, reference, ct);
            if (hold is { ApiKeyId: { } keyId, BudgetMonth: { } month })
                await db.Set<ApiKeySpend>().Where(s => s.ApiKeyId == keyId && s.Month == month)
                    .ExecuteUpdateAsync(u => u.SetProperty(s => s.Held, s => s.Held - hold.Amount).SetProperty(s => s.Spent, s => s.Spent + charge), ct);
            return true;
        }, ct);
        if (closed && state == ReservationState.Settled && hold.ApiKeyId is { } key && budgetWarnings is not null
            && await BudgetAsync(hold.OrganizationId, key, ct) is { } period)
            await budgetWarnings.CheckAsync(hold.OrganizationId, key, period, ct);
    }

    /// <summary>The month's row, made on first use: two calls making it at once make one.</summary>
    async Task OpenSpendAsync(Guid apiKeyId, string month, CancellationToken ct)
    {
        if (await db.Set<ApiKeySpend>().AnyAsync(s => s.ApiKeyId == apiKeyId && s.Month == month, ct))
            return;
        db.Add(new ApiKeySpend { ApiKeyId = apiKeyId, Month = month });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException)
        {
            // Another call made it first.
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }

    async Task<ProblemException> BudgetExceededAsync(Guid apiKeyId, string month, long budget, long needed, DateTimeOffset now, CancellationToken ct)
    {
        var spend = await db.Set<ApiKeySpend>().AsNoTracking().FirstAsync(s => s.ApiKeyId == apiKeyId && s.Month == month, ct);
        var resets = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        return new ProblemException(StatusCodes.Status402PaymentRequired, "The API key's monthly budget is used up.",
            $"This call needs up to {Micros.Format(needed)} credits; the key has spent {Micros.Format(spend.Spent)} and holds {Micros.Format(spend.Held)} " +
            $"of its {Micros.Format(budget)} credits this month. The budget resets on {resets:yyyy-MM-dd} (UTC).",
            ProblemTypes.ApiKeyBudgetExceeded)
        {
            Extensions = new Dictionary<string, object?>
            {
                ["budget"] = budget / (decimal)Micros.PerCredit,
                ["budgetMicros"] = budget,
                ["spent"] = spend.Spent / (decimal)Micros.PerCredit,
                ["spentMicros"] = spend.Spent,
                ["heldMicros"] = spend.Held,
                ["resetsAt"] = resets,
            },
        };
    }

    static ProblemException PayerShort(bool personal, long needed, CreditAccount account) => new(
        StatusCodes.Status402PaymentRequired, "Not enough credits.",
        $"This call needs up to {Micros.Format(needed)} credits; {(personal ? "your account has" : "the organisation's pool has")} " +
        $"{Micros.Format(account.Balance - account.Reserved)} available.",
        ProblemTypes.InsufficientCredits);

    static ProblemException AllowanceShort(long needed, CreditAccount account) => new(
        StatusCodes.Status402PaymentRequired, "Your allowance in this organisation is used up.",
        $"This call needs up to {Micros.Format(needed)} credits; your allowance has {Micros.Format(account.Balance - account.Reserved)} left. " +
        "Send a credit request to the organisation's Owners and Admins.",
        ProblemTypes.AllowanceExceeded);

    async Task<GateHold?> FindAsync(string idempotencyKey, CancellationToken ct) =>
        await db.Set<GateHold>().AsNoTracking().FirstOrDefaultAsync(h => h.IdempotencyKey == idempotencyKey, ct);

    static CreditHold SameCall(GateHold hold, Spender spender) =>
        hold.OrganizationId == spender.OrganizationId && hold.UserId == spender.UserId
            ? Describe(hold)
            : throw new ProblemException(StatusCodes.Status409Conflict, "That idempotency key belongs to another call.", null, ProblemTypes.Conflict);

    static CreditHold Describe(GateHold h) => new(h.Id, h.OrganizationId, h.PayerAccountId, h.AllocationAccountId, h.BudgetMonth is null ? null : h.ApiKeyId, h.Amount, h.IdempotencyKey);

    static string Reference(Spender s) =>
        $"AI call by user {s.UserId:N}" + (s.ApiKeyId is { } key ? $" with key {key:N}" : "");

    /// <summary>The budget is set in whole credits; one too large to count in micro-credits is no limit at all.</summary>
    static long BudgetMicros(long credits) => Micros.FromWholeCredits(credits, long.MaxValue / 2);

    public static string Month(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);
}
