using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits;

internal sealed record Reservation(Guid Id, Guid AccountId, long Amount, ReservationState State);

/// <summary>
/// The only code that moves credits. Every operation writes one entry and changes the account in one transaction,
/// and carries an idempotency key: the same key again returns the first result and writes nothing.
/// </summary>
/// <remarks>With a <see cref="LedgerWriter"/> (as in the app), reservations and settlements are group-committed.</remarks>
internal sealed class Ledger(AppDbContext db, TimeProvider clock, LedgerWriter? writer = null, BalanceCache? balances = null)
{
    /// <summary>How long an unsettled reservation may stay open before the expiry job releases it.</summary>
    public static readonly TimeSpan ReservationLifetime = TimeSpan.FromMinutes(30);

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
        catch (DbUpdateException)
        {
            db.ChangeTracker.Clear();
            return await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == id, ct);
        }
        db.ChangeTracker.Clear();
        return account;
    }

    /// <summary>Adds (or, with a negative amount, takes) credits: grants, purchases, promo codes, adjustments, refunds.</summary>
    /// <param name="inTransaction">
    /// Runs inside the entry's transaction once the entry is added, so that what it writes (a promo redemption) commits
    /// with the entry, and what it throws rolls the entry back.
    /// </param>
    public async Task<CreditEntry> PostAsync(Guid accountId, CreditKind kind, long amount, string reference, Guid? actorId, string idempotencyKey, CancellationToken ct,
        Func<CreditEntry, CancellationToken, Task>? inTransaction = null)
    {
        if (kind is CreditKind.Reservation or CreditKind.Release or CreditKind.Usage)
            throw new ArgumentException("Reservations, releases and usage go through Reserve, Release and Settle.", nameof(kind));
        CreditLimits.RequireEntry(amount, "amount");
        return await OnceAsync(idempotencyKey, async () =>
        {
            var entry = await PostRowsAsync(accountId, kind, amount, reference, actorId, idempotencyKey, null, ct);
            if (inTransaction is not null)
                await inTransaction(entry, ct);
            return entry;
        }, ct);
    }

    /// <summary>
    /// Holds <paramref name="maxCost"/> for a call. The hold is one conditional update
    /// (<c>balance - reserved &gt;= maxCost</c>), so two calls racing for the last credit cannot both get it.
    /// </summary>
    public Task<Reservation> ReserveAsync(Guid accountId, long maxCost, string reference, string idempotencyKey, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCost);
        CreditLimits.RequireEntry(maxCost, "amount");
        return writer is null ? ReserveNowAsync(accountId, maxCost, reference, idempotencyKey, ct) : GroupedAsync(writer.ReserveAsync(accountId, maxCost, reference, idempotencyKey), r => r.AccountId);
    }

    /// <summary>The reservation in a transaction of its own, without waiting for a batch.</summary>
    internal async Task<Reservation> ReserveNowAsync(Guid accountId, long maxCost, string reference, string idempotencyKey, CancellationToken ct)
    {
        if (await db.Set<CreditReservation>().AsNoTracking().FirstOrDefaultAsync(r => r.IdempotencyKey == idempotencyKey, ct) is { } earlier)
            return Describe(earlier);
        var entry = await OnceAsync(idempotencyKey, async () => (await HoldRowsAsync(accountId, maxCost, reference, idempotencyKey, null, ct)).Entry, ct);
        return Describe(await db.Set<CreditReservation>().AsNoTracking().FirstAsync(r => r.Id == entry.ReservationId, ct));
    }

    /// <summary>Charges the real cost (never more than was held) and frees the rest of the hold.</summary>
    public Task<CreditEntry> SettleAsync(Guid reservationId, long actualCost, string reference, CancellationToken ct) =>
        CloseAsync(reservationId, ReservationState.Settled, Math.Max(0, actualCost), reference, ct);

    Task<CreditEntry> CloseAsync(Guid reservationId, ReservationState state, long actualCost, string reference, CancellationToken ct) =>
        writer is null ? CloseNowAsync(reservationId, state, actualCost, reference, ct) : GroupedAsync(writer.CloseAsync(reservationId, state, actualCost, reference), e => e.AccountId);

    async Task<T> GroupedAsync<T>(Task<T> committed, Func<T, Guid> account)
    {
        var result = await committed;
        await ForgetBalanceAsync(account(result));
        return result;
    }

    /// <summary>Frees the whole hold: the call never happened or failed before it cost anything.</summary>
    public Task<CreditEntry> ReleaseAsync(Guid reservationId, string reference, CancellationToken ct) =>
        CloseAsync(reservationId, ReservationState.Released, 0, reference, ct);

    /// <summary>Releases reservations left open past their lifetime, e.g. by a node that died mid-call.</summary>
    public async Task<int> ReleaseExpiredAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        // An AI call's holds expire together through CreditGate, which also frees the key budget's part.
        var expired = await db.Set<CreditReservation>().AsNoTracking()
            .Where(r => r.State == ReservationState.Open && r.ExpiresAt < now)
            .Where(r => !db.Set<Pools.GateHold>().Any(h => h.State == ReservationState.Open && (h.PayerReservationId == r.Id || h.AllocationReservationId == r.Id)))
            .Select(r => r.Id).ToListAsync(ct);
        foreach (var id in expired)
            await ReleaseAsync(id, "expired", ct);
        return expired.Count;
    }

    /// <summary>Accounts whose balance or reserved amount differs from the sum of their entries; empty when the ledger is sound.</summary>
    public async Task<List<(Guid AccountId, long Balance, long Entries, long Reserved, long ReservedEntries)>> VerifyAsync(CancellationToken ct)
    {
        // Summed here in 128 bits: a SQL sum of bigints overflows (an error on both databases) on a ledger it should report.
        var sums = new Dictionary<Guid, (Int128 Amount, Int128 Reserved)>();
        await foreach (var e in db.Set<CreditEntry>().AsNoTracking().Select(e => new { e.AccountId, e.Amount, e.ReservedAmount }).AsAsyncEnumerable().WithCancellation(ct))
        {
            var (amount, reserved) = sums.GetValueOrDefault(e.AccountId);
            sums[e.AccountId] = (amount + e.Amount, reserved + e.ReservedAmount);
        }
        var accounts = await db.Set<CreditAccount>().AsNoTracking().ToListAsync(ct);
        return accounts
            .Select(a => (a.Id, a.Balance, Sum: sums.GetValueOrDefault(a.Id), a.Reserved))
            .Where(r => r.Balance != r.Sum.Amount || r.Reserved != r.Sum.Reserved)
            .Select(r => (r.Id, r.Balance, Clamp(r.Sum.Amount), r.Reserved, Clamp(r.Sum.Reserved)))
            .ToList();

        static long Clamp(Int128 sum) => sum > long.MaxValue ? long.MaxValue : sum < long.MinValue ? long.MinValue : (long)sum;
    }

    /// <summary>The settlement or release in a transaction of its own, without waiting for a batch.</summary>
    internal async Task<CreditEntry> CloseNowAsync(Guid reservationId, ReservationState state, long actualCost, string reference, CancellationToken ct)
    {
        // Read before the transaction: on SQLite a transaction that reads first and writes later can deadlock with another writer.
        var reservation = await db.Set<CreditReservation>().AsNoTracking().FirstOrDefaultAsync(r => r.Id == reservationId, ct)
            ?? throw NoSuchReservation();
        // A close that lost the race to the same key answers with the winner's entry.
        return await OnceAsync(CloseKey(reservationId), async () =>
            await CloseRowsAsync(Describe(reservation), state, actualCost, reference, ct) ?? await FindAsync(CloseKey(reservationId), ct) ?? throw AlreadyClosed(), ct);
    }

    /// <summary>The reservation of a hold and the entry that explains its part of <c>reserved</c>.</summary>
    internal static (CreditReservation Reservation, CreditEntry Entry) HoldRows(Guid accountId, long amount, string reference, string idempotencyKey,
        Guid reservationId, Guid entryId, DateTimeOffset at) =>
        (new CreditReservation
        {
            Id = reservationId, AccountId = accountId, Amount = amount, State = ReservationState.Open, IdempotencyKey = idempotencyKey,
            CreatedAt = at, ExpiresAt = at + ReservationLifetime,
        },
        new CreditEntry
        {
            Id = entryId, AccountId = accountId, Kind = CreditKind.Reservation, ReservedAmount = amount, Reference = reference,
            IdempotencyKey = idempotencyKey, ReservationId = reservationId, CreatedAt = at,
        });

    internal static string CloseKey(Guid reservationId) => $"{reservationId:N}:close";

    /// <summary>The usage (settled) or release entry that closes a reservation: the whole hold goes, the charge stays.</summary>
    internal static CreditEntry CloseEntry(Reservation reservation, ReservationState state, long charge, string reference, Guid id, DateTimeOffset at) => new()
    {
        Id = id, AccountId = reservation.AccountId, Kind = state == ReservationState.Settled ? CreditKind.Usage : CreditKind.Release,
        Amount = -charge, ReservedAmount = -reservation.Amount, Reference = reference, IdempotencyKey = CloseKey(reservation.Id),
        ReservationId = reservation.Id, CreatedAt = at,
    };

    internal static ProblemException NoSuchReservation() =>
        new(StatusCodes.Status404NotFound, "No such reservation.", null, ProblemTypes.NotFound);

    internal static ProblemException AlreadyClosed() =>
        new(StatusCodes.Status409Conflict, "The reservation is already closed.", null, ProblemTypes.Conflict);

    internal static ProblemException NoSuchAccount() =>
        new(StatusCodes.Status404NotFound, "No such credit account.", null, ProblemTypes.NotFound);

    internal static ProblemException Short(long needed, long available) =>
        new(StatusCodes.Status402PaymentRequired, "Not enough credits.",
            $"This needs {Micros.Format(needed)} credits; {Micros.Format(available)} are available.", ProblemTypes.InsufficientCredits);

    /// <summary>Runs <paramref name="write"/> in a transaction unless an entry with the key exists; a concurrent duplicate loses on the unique key.</summary>
    async Task<CreditEntry> OnceAsync(string idempotencyKey, Func<Task<CreditEntry>> write, CancellationToken ct)
    {
        if (await FindAsync(idempotencyKey, ct) is { } earlier)
            return earlier;
        var strategy = db.Database.CreateExecutionStrategy();
        try
        {
            return await strategy.ExecuteAsync(async () =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(ct);
                var entry = await write();
                await db.SaveChangesAsync(ct);
                await transaction.CommitAsync(ct);
                await ForgetBalanceAsync(entry.AccountId);
                return entry;
            });
        }
        catch (DbUpdateException)
        {
            db.ChangeTracker.Clear();
            // A concurrent call with the same key got there first: its result is ours.
            if (await FindAsync(idempotencyKey, ct) is not { } winner)
                throw;
            return winner;
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }

    /// <summary>Accounts changed inside <see cref="AtomicallyAsync"/>, whose cached balances go after its commit.</summary>
    HashSet<Guid>? _batch;

    // After the commit: a reader that cached the old balance meanwhile is bounded by the cache's short lifetime.
    async Task ForgetBalanceAsync(Guid accountId)
    {
        if (balances is not null)
            await balances.ForgetAsync(accountId);
    }

    async Task<CreditEntry?> FindAsync(string idempotencyKey, CancellationToken ct) =>
        await db.Set<CreditEntry>().AsNoTracking().FirstOrDefaultAsync(e => e.IdempotencyKey == idempotencyKey, ct);

    CreditEntry Add(CreditEntry entry)
    {
        db.Add(entry);
        return entry;
    }

    Guid NewId() => Guid.CreateVersion7(clock.GetUtcNow());

    internal static Reservation Describe(CreditReservation r) => new(r.Id, r.AccountId, r.Amount, r.State);

    // Several writes as one: the holds of one AI call (payer, allocation, key budget), a bulk file, an approval with its allocation.

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction: the <c>…WithinAsync</c> writes it makes
    /// and the caller's own updates all commit, or none does. A concurrent duplicate loses on a unique key with a
    /// <see cref="DbUpdateException"/>, which the caller answers by reading the winner.
    /// </summary>
    public async Task<T> AtomicallyAsync<T>(Func<Task<T>> work, CancellationToken ct)
    {
        if (_batch is not null)
            throw new InvalidOperationException("A transaction is already open on this ledger.");
        _batch = [];
        try
        {
            var strategy = db.Database.CreateExecutionStrategy();
            var result = await strategy.ExecuteAsync(async () =>
            {
                db.ChangeTracker.Clear();
                await using var transaction = await db.Database.BeginTransactionAsync(ct);
                var value = await work();
                await db.SaveChangesAsync(ct);
                await transaction.CommitAsync(ct);
                return value;
            });
            foreach (var accountId in _batch)
                await ForgetBalanceAsync(accountId);
            return result;
        }
        finally
        {
            _batch = null;
            db.ChangeTracker.Clear();
        }
    }

    /// <summary>A hold inside <see cref="AtomicallyAsync"/>; <paramref name="refuse"/> words the 402 when the account is short.</summary>
    public async Task<Reservation> ReserveWithinAsync(Guid accountId, long maxCost, string reference, string idempotencyKey,
        Func<CreditAccount, ProblemException>? refuse, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCost);
        CreditLimits.RequireEntry(maxCost, "amount");
        return Describe((await HoldRowsAsync(accountId, maxCost, reference, idempotencyKey, refuse, ct)).Reservation);
    }

    /// <summary>
    /// Settles (<paramref name="actualCost"/>, at most the hold) or releases a reservation inside <see cref="AtomicallyAsync"/>;
    /// null when it was already closed, e.g. by the expiry job. Same key as <see cref="SettleAsync"/>, so the two never both close it.
    /// </summary>
    public Task<CreditEntry?> CloseWithinAsync(Reservation reservation, ReservationState state, long actualCost, string reference, CancellationToken ct)
    {
        if (state == ReservationState.Open)
            throw new ArgumentException("Closing means settled or released.", nameof(state));
        return CloseRowsAsync(reservation, state, actualCost, reference, ct);
    }

    /// <summary><see cref="PostAsync"/> inside <see cref="AtomicallyAsync"/>; <paramref name="refuse"/> words the answer when a negative amount would overdraw.</summary>
    public Task<CreditEntry> PostWithinAsync(Guid accountId, CreditKind kind, long amount, string reference, Guid? actorId, string idempotencyKey,
        Func<CreditAccount, ProblemException>? refuse, CancellationToken ct)
    {
        if (kind is CreditKind.Reservation or CreditKind.Release or CreditKind.Usage)
            throw new ArgumentException("Reservations, releases and usage go through Reserve, Release and Settle.", nameof(kind));
        return PostRowsAsync(accountId, kind, amount, reference, actorId, idempotencyKey, refuse, ct);
    }

    /// <summary>The reservations of <paramref name="ids"/>, for a caller that closes them together.</summary>
    public async Task<Dictionary<Guid, Reservation>> ReservationsAsync(IEnumerable<Guid> ids, CancellationToken ct)
    {
        var wanted = ids.Distinct().ToList();
        return await db.Set<CreditReservation>().AsNoTracking().Where(r => wanted.Contains(r.Id))
            .ToDictionaryAsync(r => r.Id, Describe, ct);
    }

    // The rows each operation writes, inside whichever transaction the caller runs: one copy for every path.

    async Task<CreditEntry> PostRowsAsync(Guid accountId, CreditKind kind, long amount, string reference, Guid? actorId, string idempotencyKey,
        Func<CreditAccount, ProblemException>? refuse, CancellationToken ct)
    {
        RequireTransaction();
        CreditLimits.RequireEntry(amount, "amount");
        // Taking credits is conditional like a reservation: what is reserved is never taken from under a call.
        // Adding is conditional too, written so the database never computes a sum past the maximum.
        var ceiling = CreditLimits.MaxBalanceMicros - amount;
        var account = db.Set<CreditAccount>().Where(a => a.Id == accountId);
        var changed = await (amount >= 0 ? account.Where(a => a.Balance <= ceiling) : account.Where(a => a.Balance - a.Reserved + amount >= 0))
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.Balance, a => a.Balance + amount), ct);
        if (changed == 0)
            throw amount >= 0 && await db.Set<CreditAccount>().AnyAsync(a => a.Id == accountId, ct)
                ? CreditLimits.OutOfRange("amount", CreditLimits.BalanceRule)
                : await RefusalAsync(accountId, -amount, refuse, ct);
        _batch?.Add(accountId);
        return Add(new CreditEntry
        {
            Id = NewId(), AccountId = accountId, Kind = kind, Amount = amount, Reference = reference, ActorId = actorId,
            IdempotencyKey = idempotencyKey, CreatedAt = clock.GetUtcNow(),
        });
    }

    /// <summary>The hold is one conditional update (<c>balance - reserved &gt;= maxCost</c>), so two calls racing for the last credit cannot both get it.</summary>
    async Task<(CreditReservation Reservation, CreditEntry Entry)> HoldRowsAsync(Guid accountId, long maxCost, string reference, string idempotencyKey,
        Func<CreditAccount, ProblemException>? refuse, CancellationToken ct)
    {
        RequireTransaction();
        var held = await db.Set<CreditAccount>()
            .Where(a => a.Id == accountId && a.Balance - a.Reserved >= maxCost)
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.Reserved, a => a.Reserved + maxCost), ct);
        if (held == 0)
            throw await RefusalAsync(accountId, maxCost, refuse, ct);
        _batch?.Add(accountId);
        var rows = HoldRows(accountId, maxCost, reference, idempotencyKey, NewId(), NewId(), clock.GetUtcNow());
        db.AddRange(rows.Reservation, rows.Entry);
        return rows;
    }

    /// <summary>One close per reservation: the state moves from Open exactly once; null when it had already moved.</summary>
    async Task<CreditEntry?> CloseRowsAsync(Reservation reservation, ReservationState state, long actualCost, string reference, CancellationToken ct)
    {
        RequireTransaction();
        var closed = await db.Set<CreditReservation>().Where(r => r.Id == reservation.Id && r.State == ReservationState.Open)
            .ExecuteUpdateAsync(u => u.SetProperty(r => r.State, state), ct);
        if (closed == 0)
            return null;
        var charge = state == ReservationState.Settled ? Math.Clamp(actualCost, 0, reservation.Amount) : 0;
        await db.Set<CreditAccount>().Where(a => a.Id == reservation.AccountId)
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.Balance, a => a.Balance - charge).SetProperty(a => a.Reserved, a => a.Reserved - reservation.Amount), ct);
        _batch?.Add(reservation.AccountId);
        return Add(CloseEntry(reservation, state, charge, reference, NewId(), clock.GetUtcNow()));
    }

    async Task<ProblemException> RefusalAsync(Guid accountId, long needed, Func<CreditAccount, ProblemException>? refuse, CancellationToken ct) =>
        await db.Set<CreditAccount>().AsNoTracking().FirstOrDefaultAsync(a => a.Id == accountId, ct) is not { } account ? NoSuchAccount()
            : refuse?.Invoke(account) ?? Short(needed, account.Balance - account.Reserved);

    void RequireTransaction()
    {
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("Ledger rows are written inside a transaction.");
    }
}
