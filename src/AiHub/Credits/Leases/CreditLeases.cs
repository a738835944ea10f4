using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using Microsoft.Extensions.Options;

namespace AiHub.Credits.Leases;

/// <summary>One call's credits, held for it on its spender's legs (the payer, the member's allocation, the key's budget).</summary>
/// <param name="HoldId">The ledger hold the call's cost is posted through (its credit lease); its usage record carries it as <c>ReservationId</c>.</param>
/// <param name="CountsQuota">Whether the call took one use of the plan's chat questions with it.</param>
internal sealed record LeasedHold(Guid HoldId, Spender Spender, long Amount, string CallId, bool CountsQuota)
{
    // Settled or released once: a second settle or release of the same call changes nothing.
    internal int Closed;
}

/// <summary>How credit leases are sized and rotated (docs/decisions/0014).</summary>
internal sealed class LeaseSettings
{
    public const string Section = "Credits:Leases";

    /// <summary>A new lease holds this many times the credits of the call that asked for it.</summary>
    [Range(1, 1024)]
    public int Multiple { get; set; } = 16;

    /// <summary>A spender whose lease runs out within a second gets leases twice as large, up to this many times a call.</summary>
    [Range(1, 65_536)]
    public int MaxMultiple { get; set; } = 1024;

    /// <summary>A new lease for calls that count a plan quota holds this many uses of it (scaled with the lease's size).</summary>
    [Range(1, 100_000)]
    public int QuotaUses { get; set; } = 64;

    /// <summary>A lease takes no call after this age; it is closed once its calls are settled.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A lease with no call for this long is closed, so the credits shown for a quiet key are soon exact.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan IdleAfter { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often leases are checked for age and idling.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan SweepEvery { get; set; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// The money of a high-rate caller (the gateway): hold the most a call can cost, then settle what it cost or release it.
/// Calls hold in memory against a credit lease: one ledger hold this node takes for a spender, sized for many calls, and
/// posted at the sum of their charges when it is closed (docs/decisions/0014).
/// </summary>
/// <remarks>
/// A lease is held through <see cref="CreditGate"/> with every leg of a call (payer, allocation, key budget, quota uses),
/// so no balance, allowance, budget or quota can be passed: a call takes only what its lease still has free. A lease a
/// process never closed is posted from its usage records, at start-up for this node and by the ledger's expiry job for
/// any node; never voided, because its calls were answered.
/// </remarks>
internal sealed partial class CreditLeases(
    IServiceScopeFactory scopes, TimeProvider clock, IOptions<LeaseSettings> options, IOptions<NodeSettings> node, ILogger<CreditLeases> log)
    : BackgroundService
{
    readonly LeaseSettings _settings = options.Value;
    readonly string _node = node.Value.Name;
    readonly DateTimeOffset _startedAt = clock.GetUtcNow();
    readonly ConcurrentDictionary<(Spender, QuotaKind?), Slot> _slots = new();
    readonly ConcurrentDictionary<Guid, Lease> _open = new();
    readonly ConcurrentDictionary<Guid, Task> _closing = new();
    readonly TaskCompletionSource<int> _reconciled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    volatile bool _stopping;

    /// <summary>How many leases of this node a process before this one left open, once they are posted at start-up.</summary>
    public Task<int> Reconciled => _reconciled.Task;

    /// <summary>Holds <paramref name="amount"/> (and one use of <paramref name="quota"/>) for one call; a 402 ProblemException names what is short.</summary>
    public async ValueTask<LeasedHold> HoldAsync(Spender spender, long amount, string callId, QuotaKind? quota, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        CreditLimits.RequireEntry(amount, "amount");
        var key = (spender, quota);
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (_stopping)
                throw new ObjectDisposedException(nameof(CreditLeases), "The node is stopping; it takes no more calls.");
            var slot = _slots.GetOrAdd(key, static (_, first) => new Slot { Multiple = first }, _settings.Multiple);
            Task<Lease>? acquiring = null;
            var mine = false;
            // A slot the sweep dropped since it was looked up is not shared any more: look again.
            lock (slot)
            {
                if (!slot.Removed)
                {
                    if (slot.Current is { } lease)
                    {
                        if (lease.TryTake(amount, quota is not null, clock.GetUtcNow(), _settings))
                            return new LeasedHold(lease.HoldId, spender, amount, callId, quota is not null);
                        // It cannot cover this call (or is too old): it takes no more, and closes once its calls are settled.
                        slot.Current = null;
                        // Used up within a second: a busy spender would otherwise pay a ledger hold and close every few calls.
                        if (clock.GetUtcNow() - lease.CreatedAt < TimeSpan.FromSeconds(1))
                            slot.Multiple = Math.Min(slot.Multiple * 2, Math.Max(_settings.MaxMultiple, _settings.Multiple));
                        CloseWhenDrained(lease);
                    }
                    if (slot.Acquiring is null)
                    {
                        mine = true;
                        // Off the lock: on SQLite the ledger's work may complete synchronously.
                        slot.Acquiring = Task.Run(() => AcquireAsync(slot, spender, amount, quota), CancellationToken.None);
                    }
                    acquiring = slot.Acquiring;
                }
            }
            if (acquiring is null)
                continue;
            try
            {
                // The lease is asked for regardless of this caller's token: another caller may use it, and nothing is taken yet.
                await acquiring.WaitAsync(ct);
            }
            catch (Exception) when (!mine && !ct.IsCancellationRequested)
            {
                // Refused for another caller's need: this caller asks for its own.
            }
        }
    }

    /// <summary>Charges <paramref name="charged"/> (at most what was held) and frees the rest; the quota use stands.</summary>
    public ValueTask SettleAsync(LeasedHold hold, long charged, CancellationToken ct)
    {
        Finish(hold, Math.Clamp(charged, 0, hold.Amount), answered: true);
        return ValueTask.CompletedTask;
    }

    /// <summary>Gives everything back, the quota use included: the call cost nothing.</summary>
    public ValueTask ReleaseAsync(LeasedHold hold, CancellationToken ct)
    {
        Finish(hold, 0, answered: false);
        return ValueTask.CompletedTask;
    }

    void Finish(LeasedHold hold, long charged, bool answered)
    {
        if (Interlocked.Exchange(ref hold.Closed, 1) != 0)
            return;
        if (!_open.TryGetValue(hold.HoldId, out var lease))
        {
            // Only after a stop that could not wait for this call: its lease was posted without it.
            LogLateCall(hold.HoldId);
            return;
        }
        if (lease.Finish(hold.Amount, charged, hold.CountsQuota, answered, clock.GetUtcNow()))
            StartClose(lease);
    }

    /// <summary>Asks the ledger for a lease sized for many calls; when refused, for exactly this one; when refused again, the refusal stands.</summary>
    async Task<Lease> AcquireAsync(Slot slot, Spender spender, long amount, QuotaKind? quota)
    {
        try
        {
            Lease lease;
            int multiple;
            lock (slot)
                multiple = slot.Multiple;
            var many = amount <= CreditLimits.MaxEntryMicros / multiple ? amount * multiple : CreditLimits.MaxEntryMicros;
            var uses = (int)Math.Min(100_000, (long)_settings.QuotaUses * multiple / _settings.Multiple);
            try
            {
                lease = await HoldLeaseAsync(spender, many, quota, uses);
            }
            catch (ProblemException refused) when (refused.Status is StatusCodes.Status402PaymentRequired or StatusCodes.Status403Forbidden
                                                   && (many > amount || (quota is not null && uses > 1)))
            {
                lease = await HoldLeaseAsync(spender, amount, quota, 1);
            }
            lock (slot)
            {
                slot.Acquiring = null;
                if (slot.Current is { } previous)
                    CloseWhenDrained(previous);
                slot.Current = lease;
            }
            return lease;
        }
        catch
        {
            lock (slot)
                slot.Acquiring = null;
            throw;
        }
    }

    async Task<Lease> HoldLeaseAsync(Spender spender, long amount, QuotaKind? quota, long quotaUses)
    {
        await using var scope = scopes.CreateAsyncScope();
        var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
        var hold = await gate.HoldAsync(spender, amount, $"{Ledger.LeasePrefix}{_node}:{Guid.CreateVersion7(clock.GetUtcNow()):N}", quota,
            quota is null ? 1 : quotaUses, CancellationToken.None);
        var lease = new Lease(hold.Id, spender.OrganizationId, hold.ApiKeyId, hold.AmountMicros, quota is null ? 0 : quotaUses, clock.GetUtcNow());
        _open[lease.HoldId] = lease;
        return lease;
    }

    void CloseWhenDrained(Lease lease)
    {
        if (lease.Retire())
            StartClose(lease);
    }

    void StartClose(Lease lease)
    {
        var start = new Task<Task>(() => CloseAsync(lease));
        var close = start.Unwrap();
        _closing[lease.HoldId] = close;
        close.ContinueWith(done => _closing.TryRemove(new KeyValuePair<Guid, Task>(lease.HoldId, done)), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        start.Start(TaskScheduler.Default);
    }

    /// <summary>Posts the lease at the sum of its calls' charges with the quota uses they answered; the rest comes back.</summary>
    async Task CloseAsync(Lease lease)
    {
        try
        {
            var (spent, answered) = lease.Totals;
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<CreditGate>()
                .SettleLeaseAsync(lease.OrganizationId, lease.HoldId, lease.ApiKeyId, spent, answered, CancellationToken.None);
            _open.TryRemove(lease.HoldId, out _);
        }
        catch (Exception e)
        {
            // Still open: the next sweep tries again, and the ledger posts a closed lease only once.
            LogCloseFailed(e, lease.HoldId);
            lease.CloseFailed();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await using (var scope = scopes.CreateAsyncScope())
                _reconciled.TrySetResult(await scope.ServiceProvider.GetRequiredService<Ledger>().ReconcileLeasesAsync(_node, _startedAt, stoppingToken));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The ledger's expiry job posts them later from the same usage records.
            LogReconcileFailed(e);
            _reconciled.TrySetException(e);
        }
        using var timer = new PeriodicTimer(_settings.SweepEvery, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                Sweep(stoppingAll: false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Retires leases that are too old or idle, closes those whose calls are all settled, and drops empty slots.</summary>
    /// <param name="only">With <paramref name="stoppingAll"/>: retire only these leases.</param>
    void Sweep(bool stoppingAll, HashSet<Guid>? only = null)
    {
        var now = clock.GetUtcNow();
        foreach (var (key, slot) in _slots)
        {
            lock (slot)
            {
                if (slot.Current is { } lease && ((stoppingAll && only?.Contains(lease.HoldId) != false) || lease.Stale(now, _settings)))
                    slot.Current = null;
                if (slot.Current is null && slot.Acquiring is null)
                    slot.Removed = _slots.TryRemove(new KeyValuePair<(Spender, QuotaKind?), Slot>(key, slot));
            }
        }
        foreach (var lease in _open.Values)
            if ((stoppingAll && only?.Contains(lease.HoldId) != false) || lease.Stale(now, _settings) ? lease.Retire() : lease.ReadyToClose())
                StartClose(lease);
    }

    /// <summary>
    /// Closes every lease open now, each once its calls in flight are settled, so that balances, budgets and quotas show
    /// exactly what was spent; calls after this open new leases.
    /// </summary>
    public async Task CloseAllAsync(CancellationToken ct)
    {
        // A lease still being asked for (perhaps by callers who gave up) is open too once it arrives.
        var acquiring = new List<Task>();
        foreach (var slot in _slots.Values)
            lock (slot)
                if (slot.Acquiring is { } pending)
                    acquiring.Add(pending);
        await Task.WhenAll(acquiring).WaitAsync(ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        ct.ThrowIfCancellationRequested();
        var open = _open.Keys.ToHashSet();
        Sweep(stoppingAll: true, open);
        while (open.Any(_open.ContainsKey))
        {
            await Task.WhenAll(_closing.Values);
            if (!open.Any(_open.ContainsKey))
                break;
            await Task.Delay(TimeSpan.FromMilliseconds(20), clock, ct);
            Sweep(stoppingAll: true, open);
        }
    }

    /// <summary>Takes no more calls, waits for those in flight while the host allows, then closes every lease.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        await base.StopAsync(cancellationToken);
        try
        {
            await CloseAllAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // Out of time: the calls still in flight are not charged, rather than keeping their lease open past the process.
            foreach (var lease in _open.Values)
                if (lease.ForceClose())
                    StartClose(lease);
        }
        await Task.WhenAll(_closing.Values);
    }

    sealed class Slot
    {
        public Lease? Current;

        /// <summary>How many calls' worth the next lease holds; grows while leases run out within a second.</summary>
        public int Multiple;

        public Task<Lease>? Acquiring;

        public bool Removed;
    }

    /// <summary>One ledger hold and what the calls in memory have taken of it; every change under its own small lock.</summary>
    sealed class Lease(Guid holdId, Guid organizationId, Guid? apiKeyId, long amount, long quotaUses, DateTimeOffset createdAt)
    {
        readonly Lock _lock = new();
        long _reserved;
        long _spent;
        long _quotaTaken;
        long _answered;
        int _inFlight;
        DateTimeOffset _lastUsed = createdAt;
        bool _taking = true;
        bool _closing;

        public Guid HoldId => holdId;

        public DateTimeOffset CreatedAt { get; } = createdAt;

        public Guid OrganizationId => organizationId;

        public Guid? ApiKeyId => apiKeyId;

        public (long Spent, long Answered) Totals
        {
            get
            {
                lock (_lock)
                    return (_spent, _answered);
            }
        }

        public bool TryTake(long need, bool countsQuota, DateTimeOffset now, LeaseSettings settings)
        {
            lock (_lock)
            {
                if (!_taking || StaleLocked(now, settings) || amount - _reserved - _spent < need || (countsQuota && _quotaTaken >= quotaUses))
                {
                    _taking = false;
                    return false;
                }
                _reserved += need;
                _inFlight++;
                if (countsQuota)
                    _quotaTaken++;
                _lastUsed = now;
                return true;
            }
        }

        /// <summary>A call's end; true when the lease, no longer taking calls, has just settled its last one.</summary>
        public bool Finish(long held, long charged, bool countsQuota, bool answered, DateTimeOffset now)
        {
            lock (_lock)
            {
                _reserved -= held;
                _spent += charged;
                if (countsQuota && answered)
                    _answered++;
                else if (countsQuota)
                    _quotaTaken--;
                _inFlight--;
                _lastUsed = now;
                return ReadyLocked();
            }
        }

        public bool Stale(DateTimeOffset now, LeaseSettings settings)
        {
            lock (_lock)
                return StaleLocked(now, settings);
        }

        /// <summary>Takes no more calls; true when it can be closed now.</summary>
        public bool Retire()
        {
            lock (_lock)
            {
                _taking = false;
                return ReadyLocked();
            }
        }

        public bool ReadyToClose()
        {
            lock (_lock)
                return ReadyLocked();
        }

        /// <summary>Closes whatever is in flight; true when a close should start.</summary>
        public bool ForceClose()
        {
            lock (_lock)
            {
                _taking = false;
                if (_closing)
                    return false;
                _closing = true;
                return true;
            }
        }

        public void CloseFailed()
        {
            lock (_lock)
                _closing = false;
        }

        bool StaleLocked(DateTimeOffset now, LeaseSettings settings) =>
            now - CreatedAt >= settings.MaxAge || (_inFlight == 0 && now - _lastUsed >= settings.IdleAfter);

        bool ReadyLocked()
        {
            if (_taking || _inFlight > 0 || _closing)
                return false;
            _closing = true;
            return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A call of credit lease {LeaseId} ended after its lease was closed; it is not charged")]
    partial void LogLateCall(Guid leaseId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Credit lease {LeaseId} could not be closed; trying again")]
    partial void LogCloseFailed(Exception e, Guid leaseId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The credit leases this node left open could not be posted at start-up; the expiry job will post them")]
    partial void LogReconcileFailed(Exception e);
}
