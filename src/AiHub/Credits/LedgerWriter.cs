using System.Threading.Channels;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits;

/// <summary>
/// Group commit for reservations and settlements: what callers hand in while one transaction runs goes into the
/// next, so a busy node pays one commit (and one lock on a hot account) for many AI calls instead of one each.
/// Every caller still returns only after its own entry is committed (docs/decisions/0006).
/// </summary>
/// <remarks>
/// Decisions are taken under the accounts' row locks (PostgreSQL <c>FOR UPDATE</c>; SQLite's write transaction is
/// exclusive), so they are as safe as the single conditional update. If a batch fails as a whole, for instance on an
/// idempotency key another node wrote at the same moment, each of its operations is run again on its own.
/// </remarks>
internal sealed class LedgerWriter : IAsyncDisposable
{
    const int MaxBatch = 256;

    readonly IServiceScopeFactory _scopes;
    readonly TimeProvider _clock;
    readonly ILogger<LedgerWriter> _log;
    readonly Channel<Operation> _queue = Channel.CreateUnbounded<Operation>(new UnboundedChannelOptions { SingleReader = true });
    readonly Task _loop;

    public LedgerWriter(IServiceScopeFactory scopes, TimeProvider clock, ILogger<LedgerWriter> log)
    {
        _scopes = scopes;
        _clock = clock;
        _log = log;
        _loop = Task.Run(RunAsync);
    }

    public Task<Reservation> ReserveAsync(Guid accountId, long maxCost, string reference, string idempotencyKey) =>
        Enqueue(new Reserve(accountId, maxCost, reference, idempotencyKey));

    public Task<CreditEntry> CloseAsync(Guid reservationId, ReservationState state, long actualCost, string reference) =>
        Enqueue(new Close(reservationId, state, actualCost, reference));

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }

    Task<T> Enqueue<T>(Operation<T> operation)
    {
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite(operation), this);
        return operation.Result.Task;
    }

    async Task RunAsync()
    {
        var batch = new List<Operation>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
                batch.Add(next);
            try
            {
                await WriteBatchAsync(batch);
            }
            catch (Exception e)
            {
                _log.LogWarning(e, "A batch of {Count} ledger operations failed as a whole; running each on its own", batch.Count);
                await WriteEachAsync(batch);
            }
            batch.Clear();
        }
    }

    async Task WriteEachAsync(List<Operation> batch)
    {
        foreach (var operation in batch)
        {
            await using var scope = _scopes.CreateAsyncScope();
            var ledger = new Ledger(scope.ServiceProvider.GetRequiredService<AppDbContext>(), _clock);
            try
            {
                switch (operation)
                {
                    case Reserve r:
                        r.Result.TrySetResult(await ledger.ReserveNowAsync(r.AccountId, r.Amount, r.Reference, r.Key, CancellationToken.None));
                        break;
                    case Close c:
                        c.Result.TrySetResult(await ledger.CloseNowAsync(c.ReservationId, c.State, c.Cost, c.Reference, CancellationToken.None));
                        break;
                }
            }
            catch (Exception e)
            {
                operation.Fail(e);
            }
        }
    }

    async Task WriteBatchAsync(List<Operation> batch)
    {
        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var postgres = db.Database.IsNpgsql();
        var now = _clock.GetUtcNow();
        var reserves = batch.OfType<Reserve>().ToList();
        var closes = batch.OfType<Close>().ToList();

        await using var transaction = await db.Database.BeginTransactionAsync();

        var reservationIds = closes.Select(c => c.ReservationId).Distinct().ToArray();
        // Batches are often all reservations or all settlements: a query for nothing is a round trip saved.
        var reservations = reservationIds.Length == 0 ? [] : await (postgres
                ? db.Set<CreditReservation>().FromSql($"SELECT * FROM credit_reservations WHERE id = ANY({reservationIds}) ORDER BY id FOR UPDATE")
                : db.Set<CreditReservation>().Where(r => reservationIds.Contains(r.Id)))
            .ToDictionaryAsync(r => r.Id);
        var accountIds = reserves.Select(r => r.AccountId).Concat(reservations.Values.Select(r => r.AccountId)).Distinct().ToArray();
        var accounts = await (postgres
                ? db.Set<CreditAccount>().FromSql($"SELECT * FROM credit_accounts WHERE id = ANY({accountIds}) ORDER BY id FOR UPDATE")
                : db.Set<CreditAccount>().Where(a => accountIds.Contains(a.Id)))
            .ToDictionaryAsync(a => a.Id);

        // Looked up under the locks, so a key another node has just committed is seen: it answers with the first result.
        var reserveKeys = reserves.Select(r => r.Key).Distinct().ToList();
        var earlierReservations = reserveKeys.Count == 0 ? [] : await db.Set<CreditReservation>().AsNoTracking()
            .Where(r => reserveKeys.Contains(r.IdempotencyKey)).ToDictionaryAsync(r => r.IdempotencyKey);
        var closeKeys = closes.Select(c => Ledger.CloseKey(c.ReservationId)).Distinct().ToList();
        var earlierCloses = closeKeys.Count == 0 ? [] : await db.Set<CreditEntry>().AsNoTracking()
            .Where(e => closeKeys.Contains(e.IdempotencyKey)).ToDictionaryAsync(e => e.IdempotencyKey);

        var outcomes = new List<Action>(batch.Count);
        var reservedNow = new Dictionary<string, CreditReservation>();
        var closedNow = new Dictionary<string, CreditEntry>();
        foreach (var operation in batch)
        {
            if (operation is Reserve r)
            {
                if ((earlierReservations.GetValueOrDefault(r.Key) ?? reservedNow.GetValueOrDefault(r.Key)) is { } earlier)
                    outcomes.Add(Succeed(r, Ledger.Describe(earlier)));
                else if (!accounts.TryGetValue(r.AccountId, out var account))
                    outcomes.Add(Fail(r, Ledger.NoSuchAccount()));
                else if (account.Balance - account.Reserved < r.Amount)
                    outcomes.Add(Fail(r, Ledger.Short(r.Amount, account.Balance - account.Reserved)));
                else
                {
                    account.Reserved = checked(account.Reserved + r.Amount);
                    var (reservation, entry) = Ledger.HoldRows(r.AccountId, r.Amount, r.Reference, r.Key, NewId(), NewId(), now);
                    db.AddRange(reservation, entry);
                    reservedNow[r.Key] = reservation;
                    outcomes.Add(Succeed(r, Ledger.Describe(reservation)));
                }
            }
            else if (operation is Close c)
            {
                var key = Ledger.CloseKey(c.ReservationId);
                if ((earlierCloses.GetValueOrDefault(key) ?? closedNow.GetValueOrDefault(key)) is { } earlier)
                    outcomes.Add(Succeed(c, earlier));
                else if (!reservations.TryGetValue(c.ReservationId, out var reservation))
                    outcomes.Add(Fail(c, Ledger.NoSuchReservation()));
                else if (reservation.State != ReservationState.Open)
                    outcomes.Add(Fail(c, Ledger.AlreadyClosed()));
                else
                {
                    var account = accounts[reservation.AccountId];
                    var charge = Math.Min(c.Cost, reservation.Amount);
                    reservation.State = c.State;
                    account.Balance = checked(account.Balance - charge);
                    account.Reserved = checked(account.Reserved - reservation.Amount);
                    var entry = Ledger.CloseEntry(Ledger.Describe(reservation), c.State, charge, c.Reference, NewId(), now);
                    db.Add(entry);
                    closedNow[key] = entry;
                    outcomes.Add(Succeed(c, entry));
                }
            }
        }

        await db.SaveChangesAsync();
        await transaction.CommitAsync();
        foreach (var outcome in outcomes)
            outcome();
    }

    // Callers hear their outcome only after the commit: a success before it could still be rolled back.
    static Action Succeed<T>(Operation<T> operation, T result) => () => operation.Result.TrySetResult(result);

    static Action Fail(Operation operation, Exception problem) => () => operation.Fail(problem);

    Guid NewId() => Guid.CreateVersion7(_clock.GetUtcNow());

    abstract record Operation
    {
        public abstract void Fail(Exception e);
    }

    abstract record Operation<T> : Operation
    {
        public TaskCompletionSource<T> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Fail(Exception e) => Result.TrySetException(e);
    }

    sealed record Reserve(Guid AccountId, long Amount, string Reference, string Key) : Operation<Reservation>;

    sealed record Close(Guid ReservationId, ReservationState State, long Cost, string Reference) : Operation<CreditEntry>;
}
