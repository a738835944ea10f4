using System.Globalization;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Pools;

/// <summary>Who makes an AI call: the org of the request, the person, and the API key and workspace when there are.</summary>
/// <param name="UserId">The person; for a call made with an API key, the key's creator (<c>ApiKey.CreatedBy</c>).</param>
internal sealed record Spender(Guid OrganizationId, Guid UserId, Guid? ApiKeyId, Guid? WorkspaceId)
{
    /// <summary>The surface the call came through when it is not the app or the key's own API (<see cref="UsageChannels"/>); kept on its usage record.</summary>
    public string? Channel { get; init; }

    /// <summary>The OAuth client that made the call on the person's behalf, if one did; kept on its usage record.</summary>
    public string? ClientId { get; init; }
}

/// <summary>Where a call came from, as a usage record names it.</summary>
internal static class UsageChannels
{
    public const string Mcp = "mcp";

    public const int MaxLength = 16;

    public const int MaxClientIdLength = 100;
}

/// <summary>The credits held for one AI call; hand it back to <see cref="CreditGate.SettleAsync"/> or <see cref="CreditGate.ReleaseAsync"/>.</summary>
/// <param name="PayerAccountId">The user's own account in their personal org, the org pool elsewhere.</param>
/// <param name="AllocationAccountId">The member's allocation that caps this call, if any.</param>
/// <param name="ApiKeyId">The key whose monthly budget holds this call, if it has one.</param>
internal sealed record CreditHold(
    Guid Id, Guid OrganizationId, Guid PayerAccountId, Guid? AllocationAccountId, Guid? ApiKeyId, long AmountMicros, string IdempotencyKey);

/// <summary>Whether a payer could afford an amount now, all legs considered; nothing is held.</summary>
/// <param name="AvailableMicros">The least that the payer, the member's allocation and the key's budget each have free.</param>
/// <param name="BalanceMicros">The payer's balance (pending holds included).</param>
/// <param name="Personal">The user's own credits pay (a personal org), not the org's pool.</param>
/// <param name="Reason">The problem type a hold would be refused with, when it would be.</param>
internal sealed record Affordability(bool Allowed, long AvailableMicros, long BalanceMicros, bool Personal, string? Reason);

/// <summary>An API key's month so far, for budget warnings.</summary>
internal sealed record ApiKeyBudgetPeriod(long SpentMicros, long HeldMicros, long BudgetMicros, DateTimeOffset PeriodStart, DateTimeOffset ResetsAt);

/// <summary>
/// Who pays for an AI call, and the hold that makes sure they can: every AI call (chat, the OpenAI-compatible API,
/// knowledge answers) holds its maximum cost here first, then settles the real cost or releases the hold.
/// </summary>
/// <remarks>
/// The payer is the user's own account in their personal org, and the org pool in any other org: personal credits
/// never pay for an org and the pool never pays for a personal org. In an org the call also holds the member's
/// allocation (when the member has one) and the key's monthly budget (when a key with a budget makes it), and a call
/// that counts against the plan's quota holds one use of it. These are the legs of one ledger hold, decided together:
/// they all stand or none does, and voiding the hold gives every one back (ADR 0006).
/// </remarks>
internal sealed class CreditGate(AppDbContext db, Ledger ledger, IQuotaService quotas, TimeProvider clock, BudgetWarnings? budgetWarnings = null)
{
    public Task<CreditHold> HoldAsync(Spender spender, long maxCostMicros, string idempotencyKey, CancellationToken ct) =>
        HoldAsync(spender, maxCostMicros, idempotencyKey, null, ct);

    /// <param name="quota">The plan quota this call uses one of (chat questions), or null.</param>
    public Task<CreditHold> HoldAsync(Spender spender, long maxCostMicros, string idempotencyKey, QuotaKind? quota, CancellationToken ct) =>
        HoldAsync(spender, maxCostMicros, idempotencyKey, quota, 1, ct);

    /// <param name="quotaUses">How many uses of <paramref name="quota"/> to hold: one for a call, more for a credit lease that serves many.</param>
    public Task<CreditHold> HoldAsync(Spender spender, long maxCostMicros, string idempotencyKey, QuotaKind? quota, long quotaUses, CancellationToken ct) =>
        HoldAsync(spender, maxCostMicros, idempotencyKey, quota, quotaUses, null, ct);

    /// <param name="lifetime">How long the hold may stay pending (long work: a video job, an outside service's hold); 30 minutes when null.</param>
    public async Task<CreditHold> HoldAsync(Spender spender, long maxCostMicros, string idempotencyKey, QuotaKind? quota, long quotaUses, TimeSpan? lifetime,
        CancellationToken ct)
    {
        if (lifetime is { } life && (life <= TimeSpan.Zero || life > Ledger.MaxHoldLifetime))
            throw new ArgumentOutOfRangeException(nameof(lifetime), $"A hold lives more than zero and at most {Ledger.MaxHoldLifetime.TotalDays:0} days.");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(quotaUses);
        ArgumentOutOfRangeException.ThrowIfNegative(maxCostMicros);
        ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
        if (idempotencyKey.Length > 150)
            throw new ArgumentException("An idempotency key has at most 150 characters.", nameof(idempotencyKey));
        // A key seen before needs no check of its own: the ledger answers it with the first hold, and SameCall says whose it is.
        var org = await RequireSpenderAsync(spender, ct);
        var (payer, allocation) = await LegsAsync(org, spender, maxCostMicros, ct);
        var budget = await BudgetLegAsync(org.Id, spender.ApiKeyId, maxCostMicros, ct);
        var quotaLeg = quota is { } kind ? await quotas.LegAsync(org.Id, kind, quotaUses, ct) : null;
        var hold = await ledger.HoldAsync(new HoldRequest(idempotencyKey, maxCostMicros, Reference(spender), org.Id, spender.UserId, spender.ApiKeyId,
            spender.WorkspaceId, payer, allocation, budget, quotaLeg, lifetime), ct);
        if (quotaLeg is not null)
            await quotas.CountedAsync(quotaLeg, ct);
        return SameCall(hold, spender);
    }

    /// <summary>
    /// Whether a hold of <paramref name="amountMicros"/> would stand now, by the rules of <see cref="HoldAsync(Spender, long, string, QuotaKind?, long, TimeSpan?, CancellationToken)"/>:
    /// the payer, the member's allocation (or the rule that members need one) and the key's monthly budget. Reads only.
    /// </summary>
    /// <remarks>An answer for the moment it is read: a hold made after it is decided again under the rows' locks.</remarks>
    public async Task<Affordability> CheckAsync(Spender spender, long amountMicros, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amountMicros);
        var org = await RequireSpenderAsync(spender, ct);
        string? reason = null;
        var accounts = db.Set<CreditAccount>().AsNoTracking();
        var payer = org.IsPersonal ? await PersonalOwnerAsync(org.Id, ct) : org.Id;
        var account = await accounts.Where(a => a.Id == payer).Select(a => new { a.Balance, a.Reserved }).FirstOrDefaultAsync(ct);
        var balance = account?.Balance ?? 0;
        var available = Math.Max(0, balance - (account?.Reserved ?? 0));
        if (available < amountMicros)
            reason = ProblemTypes.InsufficientCredits;
        if (!org.IsPersonal)
        {
            var allocation = await db.Set<MemberAllocation>().AsNoTracking()
                .Where(a => a.OrganizationId == org.Id && a.UserId == spender.UserId).Select(a => (Guid?)a.AccountId).FirstOrDefaultAsync(ct);
            if (allocation is { } allocationId)
            {
                var allowance = await accounts.Where(a => a.Id == allocationId).Select(a => new { a.Balance, a.Reserved }).FirstOrDefaultAsync(ct);
                var free = Math.Max(0, (allowance?.Balance ?? 0) - (allowance?.Reserved ?? 0));
                if (free < amountMicros)
                    reason ??= ProblemTypes.AllowanceExceeded;
                available = Math.Min(available, free);
            }
            else if (await db.Set<PoolSettings>().AnyAsync(s => s.OrganizationId == org.Id && s.MembersNeedAllocation, ct))
            {
                reason ??= ProblemTypes.AllowanceExceeded;
                available = 0;
            }
        }
        if (spender.ApiKeyId is { } keyId && await BudgetAsync(org.Id, keyId, ct) is { } period)
        {
            var left = Math.Max(0, period.BudgetMicros - period.SpentMicros - period.HeldMicros);
            if (left < amountMicros)
                reason ??= ProblemTypes.ApiKeyBudgetExceeded;
            available = Math.Min(available, left);
        }
        return new Affordability(reason is null, available, balance, org.IsPersonal, reason);
    }

    /// <summary>Charges the real cost (at most what was held) to the payer and the allocation, counts it against the key's budget, and frees the rest.</summary>
    public async Task SettleAsync(CreditHold hold, long actualCostMicros, CancellationToken ct)
    {
        if (await ledger.PostHoldAsync(hold.OrganizationId, hold.Id, actualCostMicros, ct) && hold.ApiKeyId is { } key && budgetWarnings is not null
            && await BudgetAsync(hold.OrganizationId, key, ct) is { } period)
            await budgetWarnings.CheckAsync(hold.OrganizationId, key, period, ct);
    }

    /// <summary>Settles a hold known by its id (long work that kept only the id, such as a generation job); false when it was already closed.</summary>
    public async Task<bool> SettleAsync(Guid organizationId, Guid holdId, Guid? apiKeyId, long actualCostMicros, CancellationToken ct)
    {
        var posted = await ledger.PostHoldAsync(organizationId, holdId, actualCostMicros, ct);
        if (posted && apiKeyId is { } key && budgetWarnings is not null && await BudgetAsync(organizationId, key, ct) is { } period)
            await budgetWarnings.CheckAsync(organizationId, key, period, ct);
        return posted;
    }

    /// <summary>Voids a hold known by its id; false when it was already closed.</summary>
    public Task<bool> ReleaseAsync(Guid organizationId, Guid holdId, CancellationToken ct) => ledger.VoidHoldAsync(organizationId, holdId, ct);

    /// <summary>
    /// Closes a credit lease: charges what its calls cost and keeps the <paramref name="quotaUsed"/> uses they answered,
    /// giving the rest back; then warns about the key's budget as a call's settlement does.
    /// </summary>
    public async Task SettleLeaseAsync(Guid organizationId, Guid holdId, Guid? apiKeyId, long actualCostMicros, long quotaUsed, CancellationToken ct)
    {
        if (await ledger.PostHoldAsync(organizationId, holdId, actualCostMicros, quotaUsed, ct) && apiKeyId is { } key && budgetWarnings is not null
            && await BudgetAsync(organizationId, key, ct) is { } period)
            await budgetWarnings.CheckAsync(organizationId, key, period, ct);
    }

    /// <summary>Gives every leg of the hold back, the quota use included: the call failed before it cost anything.</summary>
    public async Task ReleaseAsync(CreditHold hold, CancellationToken ct)
    {
        await ledger.VoidHoldAsync(hold.OrganizationId, hold.Id, ct);
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

    /// <summary>The org, and the key and workspace when there are, all of the same org; the person a member unless a key acts.</summary>
    async Task<Organization> RequireSpenderAsync(Spender spender, CancellationToken ct)
    {
        var org = await db.Organizations.AsNoTracking().FirstOrDefaultAsync(o => o.Id == spender.OrganizationId && o.DeletedAt == null, ct)
            ?? throw Orgs.NotFound("No such organisation.", "It does not exist or was deleted.");
        if (spender.ApiKeyId is { } keyId
            && !await db.ApiKeys.IgnoreQueryFilters().AnyAsync(k => k.Id == keyId && k.OrganizationId == org.Id, ct))
            throw Orgs.NotFound("No such API key.", $"The key {keyId} does not belong to this organisation.");
        if (spender.WorkspaceId is { } workspaceId
            && !await db.Workspaces.IgnoreQueryFilters().AnyAsync(w => w.Id == workspaceId && w.OrganizationId == org.Id, ct))
            throw Orgs.NotFound("No such workspace.", $"The workspace {workspaceId} does not belong to this organisation.");
        if (spender.ApiKeyId is null && !await db.Memberships.AnyAsync(m => m.OrganizationId == org.Id && m.UserId == spender.UserId, ct))
            throw Orgs.NotFound("No such member.", $"User {spender.UserId} is not a member of this organisation.");
        return org;
    }

    /// <summary>The payer (own credits in a personal org, the pool elsewhere) and the member's allocation if capped.</summary>
    async Task<(AccountLeg Payer, AccountLeg? Allocation)> LegsAsync(Organization org, Spender spender, long needed, CancellationToken ct)
    {
        if (org.IsPersonal)
        {
            var own = await ledger.OpenAsync(CreditOwner.User, await PersonalOwnerAsync(org.Id, ct), null, ct);
            return (new AccountLeg(own.Id, available => PayerShort(personal: true, needed, available)), null);
        }
        var pool = await ledger.OpenAsync(CreditOwner.Organization, null, org.Id, ct);
        var allocation = await db.Set<MemberAllocation>().AsNoTracking()
            .FirstOrDefaultAsync(a => a.OrganizationId == org.Id && a.UserId == spender.UserId, ct);
        if (allocation is null && await db.Set<PoolSettings>().AnyAsync(s => s.OrganizationId == org.Id && s.MembersNeedAllocation, ct))
            throw new ProblemException(StatusCodes.Status402PaymentRequired, "You have no allowance in this organisation.",
                "Its members need an allocation to use its credits; ask an Owner or Admin for one, or send a credit request.",
                ProblemTypes.AllowanceExceeded);
        return (new AccountLeg(pool.Id, available => PayerShort(personal: false, needed, available)),
            allocation is null ? null : new AccountLeg(allocation.AccountId, available => AllowanceShort(needed, available)));
    }

    /// <summary>Whose own credits pay in a personal organisation: its one Owner.</summary>
    Task<Guid> PersonalOwnerAsync(Guid orgId, CancellationToken ct) =>
        db.Memberships.AsNoTracking().Where(m => m.OrganizationId == orgId && m.Role == OrgRole.Owner).Select(m => m.UserId).FirstAsync(ct);

    /// <summary>The key's monthly budget leg, when the call is made with a key that has one.</summary>
    async Task<BudgetLeg?> BudgetLegAsync(Guid orgId, Guid? apiKeyId, long needed, CancellationToken ct)
    {
        if (apiKeyId is not { } keyId)
            return null;
        var credits = await db.ApiKeys.IgnoreQueryFilters().AsNoTracking().Where(k => k.Id == keyId && k.OrganizationId == orgId)
            .Select(k => k.MonthlyBudgetCredits).FirstOrDefaultAsync(ct);
        if (credits is not { } whole)
            return null;
        var now = clock.GetUtcNow();
        var budget = BudgetMicros(whole);
        return new BudgetLeg(keyId, Month(now), budget, (spent, held) => BudgetExceeded(budget, needed, spent, held, now));
    }

    static ProblemException BudgetExceeded(long budget, long needed, long spent, long held, DateTimeOffset now)
    {
        var resets = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        return new ProblemException(StatusCodes.Status402PaymentRequired, "The API key's monthly budget is used up.",
            $"This call needs up to {Micros.Format(needed)} credits; the key has spent {Micros.Format(spent)} and holds {Micros.Format(held)} " +
            $"of its {Micros.Format(budget)} credits this month. The budget resets on {resets:yyyy-MM-dd} (UTC).",
            ProblemTypes.ApiKeyBudgetExceeded)
        {
            Extensions = new Dictionary<string, object?>
            {
                ["budget"] = budget / (decimal)Micros.PerCredit,
                ["budgetMicros"] = budget,
                ["spent"] = spent / (decimal)Micros.PerCredit,
                ["spentMicros"] = spent,
                ["heldMicros"] = held,
                ["resetsAt"] = resets,
            },
        };
    }

    static ProblemException PayerShort(bool personal, long needed, long available) => new(
        StatusCodes.Status402PaymentRequired, "Not enough credits.",
        $"This call needs up to {Micros.Format(needed)} credits; {(personal ? "your account has" : "the organisation's pool has")} " +
        $"{Micros.Format(available)} available.",
        ProblemTypes.InsufficientCredits)
    {
        Extensions = Available(available),
    };

    static ProblemException AllowanceShort(long needed, long available) => new(
        StatusCodes.Status402PaymentRequired, "Your allowance in this organisation is used up.",
        $"This call needs up to {Micros.Format(needed)} credits; your allowance has {Micros.Format(available)} left. " +
        "Send a credit request to the organisation's Owners and Admins.",
        ProblemTypes.AllowanceExceeded)
    {
        Extensions = Available(available),
    };

    // A program retrying with less needs the figure, not the sentence.
    static Dictionary<string, object?> Available(long available) => new()
    {
        ["available"] = Micros.ToCredits(Math.Max(0, available)),
        ["availableMicros"] = Math.Max(0, available),
    };

    static CreditHold SameCall(LedgerHold hold, Spender spender) =>
        hold.OrganizationId == spender.OrganizationId && hold.UserId == spender.UserId
            ? new(hold.Id, spender.OrganizationId, hold.PayerAccountId, hold.AllocationAccountId, hold.BudgetMonth is null ? null : hold.ApiKeyId, hold.Amount, hold.IdempotencyKey)
            : throw new ProblemException(StatusCodes.Status409Conflict, "That idempotency key belongs to another call.", null, ProblemTypes.Conflict);

    static string Reference(Spender s) =>
        $"AI call by user {s.UserId:N}" + (s.ApiKeyId is { } key ? $" with key {key:N}" : "");

    /// <summary>The budget is set in whole credits; one too large to count in micro-credits is no limit at all.</summary>
    static long BudgetMicros(long credits) => Micros.FromWholeCredits(credits, long.MaxValue / 2);

    public static string Month(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);
}
