using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits;

/// <summary>An operation handed to the ledger; its caller waits on <see cref="LedgerOperation{T}.Result"/>.</summary>
internal abstract class LedgerOperation
{
    /// <summary>It writes rows of its own in the ledger's transaction, so it runs alone on its caller's unit of work.</summary>
    public virtual bool WritesOwnRows => false;

    public abstract void Fail(Exception e);
}

internal abstract class LedgerOperation<T> : LedgerOperation
{
    public TaskCompletionSource<T> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Fail(Exception e) => Result.TrySetException(e);
}

internal sealed class HoldOperation(HoldRequest request) : LedgerOperation<LedgerHold>
{
    public HoldRequest Request => request;
}

/// <summary>Posts or voids a hold of the org; the result is the hold as closed, or null when it had been closed before.</summary>
/// <param name="quotaUsed">For a post: how many of the hold's quota uses were answered; the rest come back. Null keeps them all.</param>
internal sealed class CloseOperation(Guid? organizationId, Guid holdId, HoldState state, long cost, long? quotaUsed = null) : LedgerOperation<LedgerHold?>
{
    public long? QuotaUsed => quotaUsed;

    public Guid? OrganizationId => organizationId;

    public Guid HoldId => holdId;

    public HoldState State => state;

    public long Cost => cost;
}

internal sealed class PostOperation(IReadOnlyList<Posting> postings, Func<IReadOnlyList<CreditEntry>, CancellationToken, Task>? inTransaction)
    : LedgerOperation<IReadOnlyList<CreditEntry>>
{
    public IReadOnlyList<Posting> Postings => postings;

    public Func<IReadOnlyList<CreditEntry>, CancellationToken, Task>? InTransaction => inTransaction;

    public override bool WritesOwnRows => inTransaction is not null;
}

/// <summary>
/// The one write path of the ledger: a list of operations decided in order in one transaction, under the locks of every
/// row they touch, then committed once. Callers hear their outcome only after the commit.
/// </summary>
/// <remarks>
/// Locks are always taken in one order, each table by key: holds, accounts, API key budgets, quota counters
/// (PostgreSQL <c>SELECT … ORDER BY … FOR UPDATE</c>; SQLite's write transaction is exclusive), so two batches on two
/// nodes cannot deadlock. Decisions are taken against the locked rows as they stand after the operations before them,
/// so no balance, budget or quota goes past its bound however the batch is made up.
/// </remarks>
internal static class LedgerBatch
{
    public static async Task ApplyAsync(AppDbContext db, IReadOnlyList<LedgerOperation> batch, TimeProvider clock, CancellationToken ct)
    {
        var outcomes = await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            var rows = await LockedRows.LockAsync(db, batch, ct);
            var decide = new Decisions(db, rows, clock.GetUtcNow());
            var outcomes = new List<Action>(batch.Count);
            foreach (var operation in batch)
                outcomes.Add(await decide.OneAsync(operation, ct));
            await db.SaveChangesAsync(ct);
            await transaction.CommitAsync(ct);
            return outcomes;
        });
        db.ChangeTracker.Clear();
        foreach (var outcome in outcomes)
            outcome();
    }

    sealed class Decisions(AppDbContext db, LockedRows rows, DateTimeOffset now)
    {
        public async Task<Action> OneAsync(LedgerOperation operation, CancellationToken ct)
        {
            try
            {
                return operation switch
                {
                    HoldOperation hold => Succeed(hold, Hold(hold.Request)),
                    CloseOperation close => Succeed(close, Close(close)),
                    PostOperation post => Succeed(post, await PostAsync(post, ct)),
                    _ => throw new ArgumentOutOfRangeException(nameof(operation)),
                };
            }
            catch (ProblemException refused) when (!operation.WritesOwnRows)
            {
                return () => operation.Fail(refused);
            }
        }

        LedgerHold Hold(HoldRequest r)
        {
            if (rows.HoldsByKey.GetValueOrDefault(r.IdempotencyKey) is { } earlier)
                return earlier;
            // Every leg is checked before any changes, so a refused hold leaves nothing behind.
            var quota = r.Quota is { } q ? rows.Quota(db, q.OrganizationId, q.Kind, q.PeriodStart) : null;
            if (r.Quota is { Limit: { } limit } leg && quota!.Used + leg.Amount > limit)
                throw leg.Exceeded(quota.Used);
            var payer = Available(r.Payer, r.Amount);
            var allocation = r.Allocation is null ? null : Available(r.Allocation, r.Amount);
            var spend = r.Budget is { } b ? rows.Spend(db, b.ApiKeyId, b.Month) : null;
            if (r.Budget is { } budget && spend!.Spent + spend.Held + r.Amount > budget.Budget)
                throw budget.Exceeded(spend.Spent, spend.Held);

            if (quota is not null)
                quota.Used += r.Quota!.Amount;
            payer.Reserved = checked(payer.Reserved + r.Amount);
            if (allocation is not null)
                allocation.Reserved = checked(allocation.Reserved + r.Amount);
            if (spend is not null)
                spend.Held = checked(spend.Held + r.Amount);
            var hold = new LedgerHold
            {
                Id = Guid.CreateVersion7(now), IdempotencyKey = r.IdempotencyKey, OrganizationId = r.OrganizationId, UserId = r.UserId,
                ApiKeyId = r.ApiKeyId, WorkspaceId = r.WorkspaceId, Reference = r.Reference, PayerAccountId = payer.Id,
                AllocationAccountId = allocation?.Id, BudgetMonth = r.Budget?.Month, QuotaKind = r.Quota?.Kind,
                QuotaPeriodStart = r.Quota?.PeriodStart, QuotaAmount = r.Quota?.Amount ?? 0, Amount = r.Amount, State = HoldState.Pending,
                CreatedAt = now, ExpiresAt = now + (r.Lifetime ?? Ledger.HoldLifetime),
            };
            db.Add(hold);
            rows.HoldsByKey[hold.IdempotencyKey] = hold;
            return hold;
        }

        CreditAccount Available(AccountLeg leg, long amount)
        {
            var account = rows.Accounts.GetValueOrDefault(leg.AccountId) ?? throw Ledger.NoSuchAccount();
            return account.Balance - account.Reserved >= amount ? account : throw leg.Short(account.Balance - account.Reserved);
        }

        LedgerHold? Close(CloseOperation c)
        {
            var hold = rows.Holds.GetValueOrDefault(c.HoldId) is { } found && found.OrganizationId == c.OrganizationId ? found : throw Ledger.NoSuchHold();
            // The hold closes once: a retry, a late settle or the expiry job that comes second changes nothing.
            if (hold.State != HoldState.Pending)
                return null;
            var charge = c.State == HoldState.Posted ? Math.Clamp(c.Cost, 0, hold.Amount) : 0;
            Charge(hold, hold.PayerAccountId, charge, "payer");
            if (hold.AllocationAccountId is { } allocation)
                Charge(hold, allocation, charge, "allocation");
            if (hold is { ApiKeyId: { } key, BudgetMonth: { } month })
            {
                var spend = rows.Spend(db, key, month);
                spend.Held -= hold.Amount;
                spend.Spent = checked(spend.Spent + charge);
            }
            // A void gives every quota use back; a post of a credit lease gives back the uses its calls never answered.
            var unused = c.State == HoldState.Voided ? hold.QuotaAmount : hold.QuotaAmount - Math.Clamp(c.QuotaUsed ?? hold.QuotaAmount, 0, hold.QuotaAmount);
            if (unused > 0 && hold is { QuotaKind: { } kind, QuotaPeriodStart: { } period, OrganizationId: { } org })
            {
                var quota = rows.Quota(db, org, kind, period);
                quota.Used -= Math.Min(quota.Used, unused);
            }
            hold.State = c.State;
            hold.ActualCost = charge;
            hold.ClosedAt = now;
            return hold;
        }

        void Charge(LedgerHold hold, Guid accountId, long charge, string leg)
        {
            var account = rows.Accounts[accountId];
            account.Reserved -= hold.Amount;
            if (charge == 0)
                return;
            account.Balance -= charge;
            db.Add(new CreditEntry
            {
                Id = Guid.CreateVersion7(now), AccountId = accountId, Kind = CreditKind.Usage, Amount = -charge, Reference = hold.Reference,
                IdempotencyKey = $"{hold.Id:N}:{leg}", HoldId = hold.Id, BalanceAfter = account.Balance, CreatedAt = now,
            });
        }

        async Task<IReadOnlyList<CreditEntry>> PostAsync(PostOperation p, CancellationToken ct)
        {
            if (rows.EntriesByKey.GetValueOrDefault(p.Postings[0].IdempotencyKey) is not null)
                return p.Postings.Select(x => rows.EntriesByKey.GetValueOrDefault(x.IdempotencyKey)).OfType<CreditEntry>().ToList();
            // Checked as a whole first: the movements stand together or none does.
            var after = new Dictionary<Guid, long>();
            foreach (var posting in p.Postings)
            {
                var account = rows.Accounts.GetValueOrDefault(posting.AccountId) ?? throw Ledger.NoSuchAccount();
                var balance = after.GetValueOrDefault(account.Id, account.Balance);
                // Taking never reaches into what is held for calls; adding never passes the largest balance.
                if (posting.Amount >= 0 && balance > CreditLimits.MaxBalanceMicros - posting.Amount)
                    throw CreditLimits.OutOfRange("amount", CreditLimits.BalanceRule);
                if (posting.Amount < 0 && !posting.MayOverdraw && balance - account.Reserved + posting.Amount < 0)
                    throw posting.Refuse?.Invoke(balance - account.Reserved) ?? Ledger.Short(-posting.Amount, balance - account.Reserved);
                after[account.Id] = balance + posting.Amount;
            }
            var running = after.Keys.ToDictionary(id => id, id => rows.Accounts[id].Balance);
            foreach (var (id, balance) in after)
            {
                var account = rows.Accounts[id];
                account.Balance = balance;
                account.Overdrawn = balance - account.Reserved < 0;
            }
            var entries = p.Postings.Select(posting => new CreditEntry
            {
                Id = Guid.CreateVersion7(now), AccountId = posting.AccountId, Kind = posting.Kind, Amount = posting.Amount,
                Reference = posting.Reference, ActorId = posting.ActorId, IdempotencyKey = posting.IdempotencyKey, CreatedAt = now,
                BalanceAfter = running[posting.AccountId] += posting.Amount,
            }).ToList();
            foreach (var entry in entries)
            {
                db.Add(entry);
                rows.EntriesByKey[entry.IdempotencyKey] = entry;
            }
            if (p.InTransaction is not null)
                await p.InTransaction(entries, ct);
            return entries;
        }

        static Action Succeed<T>(LedgerOperation<T> operation, T result) => () => operation.Result.TrySetResult(result);
    }

    /// <summary>The rows a batch touches, locked in the one order, and the keys it has seen.</summary>
    sealed class LockedRows
    {
        public required Dictionary<Guid, LedgerHold> Holds { get; init; }

        public required Dictionary<string, LedgerHold> HoldsByKey { get; init; }

        public required Dictionary<Guid, CreditAccount> Accounts { get; init; }

        public required Dictionary<(Guid, string), ApiKeySpend> Spends { get; init; }

        public required Dictionary<(Guid, QuotaKind, DateTimeOffset), QuotaUsage> Quotas { get; init; }

        public required Dictionary<string, CreditEntry> EntriesByKey { get; init; }

        /// <summary>The key's month, made at zero on first use; a concurrent maker on another node fails this batch, which then runs each alone.</summary>
        public ApiKeySpend Spend(AppDbContext db, Guid apiKeyId, string month)
        {
            if (!Spends.TryGetValue((apiKeyId, month), out var spend))
                db.Add(Spends[(apiKeyId, month)] = spend = new ApiKeySpend { ApiKeyId = apiKeyId, Month = month });
            return spend;
        }

        public QuotaUsage Quota(AppDbContext db, Guid orgId, QuotaKind kind, DateTimeOffset periodStart)
        {
            if (!Quotas.TryGetValue((orgId, kind, periodStart), out var quota))
                db.Add(Quotas[(orgId, kind, periodStart)] = quota = new QuotaUsage { OrganizationId = orgId, Kind = kind, PeriodStart = periodStart });
            return quota;
        }

        public static async Task<LockedRows> LockAsync(AppDbContext db, IReadOnlyList<LedgerOperation> batch, CancellationToken ct)
        {
            var postgres = db.Database.IsNpgsql();
            var requests = batch.OfType<HoldOperation>().Select(h => h.Request).ToList();
            var posts = batch.OfType<PostOperation>().SelectMany(p => p.Postings).ToList();

            var holdIds = batch.OfType<CloseOperation>().Select(c => c.HoldId).Distinct().Order().ToArray();
            var holds = holdIds.Length == 0 ? [] : await (postgres
                    ? db.Set<LedgerHold>().FromSql($"SELECT * FROM credit_holds WHERE id = ANY({holdIds}) ORDER BY id FOR UPDATE")
                    : db.Set<LedgerHold>().Where(h => holdIds.Contains(h.Id)))
                .IgnoreQueryFilters().ToDictionaryAsync(h => h.Id, ct);

            var accountIds = requests.SelectMany(r => new[] { r.Payer.AccountId, r.Allocation?.AccountId })
                .Concat(holds.Values.SelectMany(h => new[] { h.PayerAccountId, h.AllocationAccountId }))
                .Concat(posts.Select(p => (Guid?)p.AccountId))
                .OfType<Guid>().Distinct().Order().ToArray();
            var accounts = accountIds.Length == 0 ? [] : await (postgres
                    ? db.Set<CreditAccount>().FromSql($"SELECT * FROM credit_accounts WHERE id = ANY({accountIds}) ORDER BY id FOR UPDATE")
                    : db.Set<CreditAccount>().Where(a => accountIds.Contains(a.Id)))
                .IgnoreQueryFilters().ToDictionaryAsync(a => a.Id, ct);

            var budgets = requests.Where(r => r.Budget is not null).Select(r => (r.Budget!.ApiKeyId, r.Budget.Month))
                .Concat(holds.Values.Where(h => h is { ApiKeyId: not null, BudgetMonth: not null }).Select(h => (h.ApiKeyId!.Value, h.BudgetMonth!)))
                .Distinct().ToList();
            var keyIds = budgets.Select(b => b.Item1).Distinct().ToArray();
            var months = budgets.Select(b => b.Item2).Distinct().ToArray();
            var spends = budgets.Count == 0 ? [] : (await (postgres
                    ? db.Set<ApiKeySpend>().FromSql($"SELECT * FROM api_key_spend WHERE api_key_id = ANY({keyIds}) AND month = ANY({months}) ORDER BY api_key_id, month FOR UPDATE")
                    : db.Set<ApiKeySpend>().Where(s => keyIds.Contains(s.ApiKeyId) && months.Contains(s.Month)))
                .IgnoreQueryFilters().ToListAsync(ct)).ToDictionary(s => (s.ApiKeyId, s.Month));

            var counters = requests.Where(r => r.Quota is not null).Select(r => (r.Quota!.OrganizationId, r.Quota.Kind, r.Quota.PeriodStart))
                .Concat(holds.Values.Where(h => h is { OrganizationId: not null, QuotaKind: not null, QuotaPeriodStart: not null })
                    .Select(h => (h.OrganizationId!.Value, h.QuotaKind!.Value, h.QuotaPeriodStart!.Value)))
                .Distinct().ToList();
            var orgIds = counters.Select(c => c.Item1).Distinct().ToArray();
            var periods = counters.Select(c => c.Item3).Distinct().ToArray();
            var quotas = counters.Count == 0 ? [] : (await (postgres
                    ? db.Set<QuotaUsage>().FromSql($"SELECT * FROM quota_usage WHERE organization_id = ANY({orgIds}) AND period_start = ANY({periods}) ORDER BY organization_id, kind, period_start FOR UPDATE")
                    : db.Set<QuotaUsage>().Where(u => orgIds.Contains(u.OrganizationId) && periods.Contains(u.PeriodStart)))
                .IgnoreQueryFilters().ToListAsync(ct)).ToDictionary(u => (u.OrganizationId, u.Kind, u.PeriodStart));

            // Looked up under the locks, so a key another node has just committed is seen: it answers with the first result.
            var holdKeys = requests.Select(r => r.IdempotencyKey).Distinct().ToArray();
            var earlierHolds = holdKeys.Length == 0 ? [] : await db.Set<LedgerHold>().AsNoTracking().IgnoreQueryFilters()
                .Where(h => holdKeys.Contains(h.IdempotencyKey)).ToDictionaryAsync(h => h.IdempotencyKey, ct);
            var entryKeys = posts.Select(p => p.IdempotencyKey).Distinct().ToArray();
            var earlierEntries = entryKeys.Length == 0 ? [] : await db.Set<CreditEntry>().AsNoTracking()
                .Where(e => entryKeys.Contains(e.IdempotencyKey)).ToDictionaryAsync(e => e.IdempotencyKey, ct);

            return new LockedRows
            {
                Holds = holds, HoldsByKey = earlierHolds, Accounts = accounts, Spends = spends, Quotas = quotas, EntriesByKey = earlierEntries,
            };
        }
    }
}
