using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits;

/// <summary>One movement of <see cref="Ledger.PostAllAsync"/>; <paramref name="Refuse"/> words the answer, from what is free, when taking would overdraw.</summary>
/// <param name="MayOverdraw">A <see cref="CreditKind.Refund"/> that takes back bought credits already spent: the balance may go below zero, and the account is marked overdrawn.</param>
internal sealed record Posting(Guid AccountId, CreditKind Kind, long Amount, string Reference, Guid? ActorId, string IdempotencyKey,
    Func<long, ProblemException>? Refuse = null, bool MayOverdraw = false);

/// <summary>An account a hold draws on, and the refusal to give, from what is free, when it is short.</summary>
internal sealed record AccountLeg(Guid AccountId, Func<long, ProblemException> Short);

/// <summary>The API key's monthly budget a hold counts against; <paramref name="Exceeded"/> gets what is spent and held.</summary>
internal sealed record BudgetLeg(Guid ApiKeyId, string Month, long Budget, Func<long, long, ProblemException> Exceeded);

/// <summary>The plan quota a hold counts against (one chat question); <paramref name="Exceeded"/> gets what is used.</summary>
internal sealed record QuotaLeg(Guid OrganizationId, QuotaKind Kind, DateTimeOffset PeriodStart, long Amount, long? Limit, Func<long, ProblemException> Exceeded);

/// <summary>Everything one AI call holds, decided together: all legs stand or none does.</summary>
/// <param name="Lifetime">How long the hold may stay pending before the expiry job voids it; <see cref="Ledger.HoldLifetime"/> when null.</param>
internal sealed record HoldRequest(string IdempotencyKey, long Amount, string Reference, Guid? OrganizationId, Guid? UserId, Guid? ApiKeyId, Guid? WorkspaceId,
    AccountLeg Payer, AccountLeg? Allocation, BudgetLeg? Budget, QuotaLeg? Quota, TimeSpan? Lifetime = null);

/// <summary>
/// The one API that moves credits. Every movement (grants, purchases, promo codes, adjustments, allocations, and the
/// holds of AI calls with their posting or voiding) is decided by <see cref="LedgerBatch"/> under the rows' locks, and
/// carries an idempotency key: the same key again returns the first result and writes nothing.
/// </summary>
/// <remarks>
/// With the node's <see cref="LedgerWriter"/> (as in the app) operations are group-committed; an operation that writes
/// rows of its own in the same transaction (a promo redemption, a credit request's decision) runs alone, on this
/// ledger's unit of work, through the same code.
/// </remarks>
internal sealed class Ledger(AppDbContext db, TimeProvider clock, LedgerWriter? writer = null, BalanceCache? balances = null)
{
    /// <summary>How long a hold may stay pending before the expiry job voids it.</summary>
    public static readonly TimeSpan HoldLifetime = TimeSpan.FromMinutes(30);

    /// <summary>The longest a hold may be asked to live: long work (a video) holds its worst case for as long as it may run.</summary>
    public static readonly TimeSpan MaxHoldLifetime = TimeSpan.FromDays(7);

    /// <summary>
    /// The account of a user or an org, made on first use. Its id is the owner's, so two requests opening it at once
    /// make one account: the second insert loses on the primary key and reads the first.
    /// </summary>
    public async Task<CreditAccount> OpenAsync(CreditOwner owner, Guid? userId, Guid? organizationId, CancellationToken ct)
    {
        var id = owner switch
        {
            CreditOwner.User => userId ?? throw new ArgumentNullException(nameof(userId)),
            CreditOwner.Organization => organizationId ?? throw new ArgumentNullException(nameof(organizationId)),
            _ => throw new ArgumentException("Member allocations are opened by the org pool.", nameof(owner)),
        };
        if (await db.Set<CreditAccount>().AsNoTracking().FirstOrDefaultAsync(a => a.Id == id, ct) is { } existing)
            return existing;
        var account = new CreditAccount { Id = id, Owner = owner, UserId = userId, OrganizationId = organizationId, CreatedAt = clock.GetUtcNow() };
        db.Add(account);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            return await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == id, ct);
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
        return account;
    }

    /// <summary>
    /// A new user's account with its opening grant, added to the caller's unit of work so that the user, the account
    /// and the grant are saved together or not at all. Only for an account that cannot exist yet.
    /// </summary>
    public void OpenWithGrant(Guid userId, long amount, string reference, string idempotencyKey)
    {
        CreditLimits.RequireEntry(amount, "amount");
        var now = clock.GetUtcNow();
        db.Add(new CreditAccount { Id = userId, Owner = CreditOwner.User, UserId = userId, Balance = amount, CreatedAt = now });
        db.Add(new CreditEntry
        {
            Id = Guid.CreateVersion7(now), AccountId = userId, Kind = CreditKind.Grant, Amount = amount, Reference = reference,
            IdempotencyKey = idempotencyKey, CreatedAt = now,
        });
    }

    /// <summary>Adds (or, with a negative amount, takes) credits: grants, purchases, promo codes, adjustments, refunds.</summary>
    /// <param name="inTransaction">
    /// Runs inside the entry's transaction once the entry is decided, so that what it writes (a promo redemption) commits
    /// with the entry, and what it throws rolls the entry back.
    /// </param>
    public async Task<CreditEntry> PostAsync(Guid accountId, CreditKind kind, long amount, string reference, Guid? actorId, string idempotencyKey, CancellationToken ct,
        Func<CreditEntry, CancellationToken, Task>? inTransaction = null) =>
        (await PostAllAsync([new Posting(accountId, kind, amount, reference, actorId, idempotencyKey)], ct,
            inTransaction is null ? null : (entries, c) => inTransaction(entries[0], c)))[0];

    /// <summary>
    /// Several movements as one: all are written or none is (a bulk file, an approval with its allocation). The first
    /// posting's key identifies the whole: seen before, the entries written then are returned.
    /// </summary>
    public async Task<IReadOnlyList<CreditEntry>> PostAllAsync(IReadOnlyList<Posting> postings, CancellationToken ct,
        Func<IReadOnlyList<CreditEntry>, CancellationToken, Task>? inTransaction = null)
    {
        if (postings.Count == 0)
            throw new ArgumentException("Post at least one movement.", nameof(postings));
        foreach (var posting in postings)
        {
            if (posting.Kind is CreditKind.Reservation or CreditKind.Release or CreditKind.Usage)
                throw new ArgumentException("AI calls pay through holds: HoldAsync, then PostHoldAsync or VoidHoldAsync.", nameof(postings));
            CreditLimits.RequireEntry(posting.Amount, "amount");
            if (posting.MayOverdraw && posting.Kind != CreditKind.Refund)
                throw new ArgumentException("Only a refund may overdraw an account.", nameof(postings));
        }
        var entries = await RunAsync(new PostOperation(postings, inTransaction), ct);
        await ForgetAsync(postings.Select(p => (Guid?)p.AccountId));
        return entries;
    }

    /// <summary>
    /// Holds <see cref="HoldRequest.Amount"/> on every leg of an AI call in one decision, taken under the rows' locks:
    /// two calls racing for the last credit, the last question of the day or the last of a key's budget cannot both get it.
    /// The same key again returns the first hold.
    /// </summary>
    public async Task<LedgerHold> HoldAsync(HoldRequest request, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(request.Amount);
        CreditLimits.RequireEntry(request.Amount, "amount");
        var hold = await RunAsync(new HoldOperation(request), ct);
        await ForgetAsync([hold.PayerAccountId, hold.AllocationAccountId]);
        return hold;
    }

    /// <summary>
    /// Charges the real cost (at most what was held) on every leg and frees the rest; false when the hold was already
    /// closed. A hold is found by (org, id): another org's id is no such hold.
    /// </summary>
    public Task<bool> PostHoldAsync(Guid? organizationId, Guid holdId, long actualCost, CancellationToken ct) =>
        CloseAsync(organizationId, holdId, HoldState.Posted, Math.Max(0, actualCost), ct);

    /// <summary>
    /// Posts a hold that took several quota uses (a credit lease) with the <paramref name="quotaUsed"/> its calls answered;
    /// the others come back. False when the hold was already closed.
    /// </summary>
    public Task<bool> PostHoldAsync(Guid? organizationId, Guid holdId, long actualCost, long quotaUsed, CancellationToken ct) =>
        CloseAsync(organizationId, holdId, HoldState.Posted, Math.Max(0, actualCost), ct, Math.Max(0, quotaUsed));

    /// <summary>Gives every leg back (credits, budget, quota use): the call failed before it cost anything; false when already closed.</summary>
    public Task<bool> VoidHoldAsync(Guid? organizationId, Guid holdId, CancellationToken ct) => CloseAsync(organizationId, holdId, HoldState.Voided, 0, ct);

    async Task<bool> CloseAsync(Guid? organizationId, Guid holdId, HoldState state, long actualCost, CancellationToken ct, long? quotaUsed = null)
    {
        var closed = await RunAsync(new CloseOperation(organizationId, holdId, state, actualCost, quotaUsed), ct);
        if (closed is not null)
            await ForgetAsync([closed.PayerAccountId, closed.AllocationAccountId]);
        return closed is not null;
    }

    /// <summary>
    /// Closes holds left pending past their lifetime, e.g. by a node that died mid-call; the one expiry job of the ledger.
    /// A call's hold is voided; a credit lease is posted at what its calls recorded (<see cref="ReconcileLeaseAsync"/>).
    /// </summary>
    public async Task<int> VoidExpiredAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var expired = await db.Set<LedgerHold>().AsNoTracking().IgnoreQueryFilters()
            .Where(h => h.State == HoldState.Pending && h.ExpiresAt < now).OrderBy(h => h.Id)
            .Select(h => new { h.OrganizationId, h.Id, h.IdempotencyKey }).ToListAsync(ct);
        var closed = 0;
        foreach (var hold in expired)
            closed += await (hold.IdempotencyKey.StartsWith(LeasePrefix, StringComparison.Ordinal)
                ? ReconcileLeaseAsync(hold.OrganizationId, hold.Id, ct)
                : VoidHoldAsync(hold.OrganizationId, hold.Id, ct)) ? 1 : 0;
        return closed;
    }

    /// <summary>The idempotency keys of credit leases start with this, then the node's name: <c>lease:{node}:{id}</c>.</summary>
    public const string LeasePrefix = "lease:";

    /// <summary>
    /// Posts the pending credit leases of <paramref name="node"/> made before <paramref name="before"/>: those a process
    /// of that node left open when it stopped without closing them. Returns how many it posted.
    /// </summary>
    public async Task<int> ReconcileLeasesAsync(string node, DateTimeOffset before, CancellationToken ct)
    {
        var prefix = $"{LeasePrefix}{node}:";
        var left = await db.Set<LedgerHold>().AsNoTracking().IgnoreQueryFilters()
            .Where(h => h.State == HoldState.Pending && h.IdempotencyKey.StartsWith(prefix) && h.CreatedAt < before)
            .OrderBy(h => h.Id).Select(h => new { h.OrganizationId, h.Id }).ToListAsync(ct);
        var posted = 0;
        foreach (var lease in left)
            posted += await ReconcileLeaseAsync(lease.OrganizationId, lease.Id, ct) ? 1 : 0;
        return posted;
    }

    /// <summary>
    /// Posts a credit lease nobody closed at the sum of the usage records that name it, with their answered calls as its
    /// quota uses; never voided, since its calls were answered and recorded. False when it was already closed.
    /// </summary>
    /// <remarks>A usage record is a call's proof of charge: a call settled but not recorded when its process died is not charged.</remarks>
    public async Task<bool> ReconcileLeaseAsync(Guid? organizationId, Guid leaseId, CancellationToken ct)
    {
        var recorded = await db.Set<Usage.UsageRecord>().AsNoTracking().IgnoreQueryFilters().Where(r => r.ReservationId == leaseId)
            .GroupBy(r => 1)
            .Select(g => new
            {
                Cost = g.Sum(r => r.CostMicros),
                Answered = g.LongCount(r => r.Status == Usage.UsageStatus.Succeeded || r.Status == Usage.UsageStatus.Incomplete || r.CostMicros > 0),
            })
            .FirstOrDefaultAsync(ct);
        return await PostHoldAsync(organizationId, leaseId, recorded?.Cost ?? 0, recorded?.Answered ?? 0, ct);
    }

    /// <summary>
    /// Accounts whose balance differs from the sum of their entries, or whose reserved amount differs from the sum of
    /// their pending holds; empty when the ledger is sound.
    /// </summary>
    public async Task<List<(Guid AccountId, long Balance, long Entries, long Reserved, long Held)>> VerifyAsync(CancellationToken ct)
    {
        // One snapshot for every read: a hold closing between them on a live node would otherwise look like a mismatch.
        await using var snapshot = await db.Database.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        // Summed here in 128 bits: a SQL sum of bigints overflows (an error on both databases) on a ledger it should report.
        var sums = new Dictionary<Guid, (Int128 Amount, Int128 Held)>();
        void Add(Guid account, long amount, long held)
        {
            var (a, h) = sums.GetValueOrDefault(account);
            sums[account] = (a + amount, h + held);
        }
        await foreach (var e in db.Set<CreditEntry>().AsNoTracking().Select(e => new { e.AccountId, e.Amount }).AsAsyncEnumerable().WithCancellation(ct))
            Add(e.AccountId, e.Amount, 0);
        await foreach (var h in db.Set<LedgerHold>().AsNoTracking().IgnoreQueryFilters().Where(h => h.State == HoldState.Pending)
            .Select(h => new { h.PayerAccountId, h.AllocationAccountId, h.Amount }).AsAsyncEnumerable().WithCancellation(ct))
        {
            Add(h.PayerAccountId, 0, h.Amount);
            if (h.AllocationAccountId is { } allocation)
                Add(allocation, 0, h.Amount);
        }
        var accounts = await db.Set<CreditAccount>().AsNoTracking().ToListAsync(ct);
        return accounts
            .Select(a => (a.Id, a.Balance, Sum: sums.GetValueOrDefault(a.Id), a.Reserved))
            .Where(r => r.Balance != r.Sum.Amount || r.Reserved != r.Sum.Held)
            .Select(r => (r.Id, r.Balance, Clamp(r.Sum.Amount), r.Reserved, Clamp(r.Sum.Held)))
            .ToList();

        static long Clamp(Int128 sum) => sum > long.MaxValue ? long.MaxValue : sum < long.MinValue ? long.MinValue : (long)sum;
    }

    /// <summary>Grouped through the node's writer, or alone on this unit of work when it writes rows of its own (or there is no writer).</summary>
    async Task<T> RunAsync<T>(LedgerOperation<T> operation, CancellationToken ct)
    {
        if (writer is not null && !operation.WritesOwnRows)
            return await writer.SubmitAsync(operation);
        await LedgerBatch.ApplyAsync(db, [operation], clock, ct);
        return await operation.Result.Task;
    }

    // After the commit: a reader that cached the old balance meanwhile is bounded by the cache's short lifetime.
    async Task ForgetAsync(IEnumerable<Guid?> accounts)
    {
        if (balances is null)
            return;
        foreach (var account in accounts.OfType<Guid>().Distinct())
            await balances.ForgetAsync(account);
    }

    internal static ProblemException NoSuchHold() =>
        new(StatusCodes.Status404NotFound, "No such credit hold.", null, ProblemTypes.NotFound);

    internal static ProblemException NoSuchAccount() =>
        new(StatusCodes.Status404NotFound, "No such credit account.", null, ProblemTypes.NotFound);

    internal static ProblemException Short(long needed, long available) =>
        new(StatusCodes.Status402PaymentRequired, "Not enough credits.",
            $"This needs {Micros.Format(needed)} credits; {Micros.Format(available)} are available.", ProblemTypes.InsufficientCredits);
}
