using AiHub.Data;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Jobs;

/// <summary>The one job type the queue carries: claim the item, run its handler, record the outcome.</summary>
internal sealed partial class WorkRunner(
    AppDbContext db,
    IEnumerable<IWorkHandler> handlers,
    IBackgroundJobClient jobs,
    IOptions<JobsSettings> settings,
    TimeProvider clock,
    ILogger<WorkRunner> logger)
{
    // Retries are scheduled here with the item's own back-off, not by the queue, so that they survive a lost queue.
    [AutomaticRetry(Attempts = 0)]
    public async Task RunAsync(Guid workItemId, CancellationToken ct)
    {
        if (!await ClaimAsync(workItemId, ct))
            return;
        var item = await db.WorkItems.SingleAsync(w => w.Id == workItemId, ct);
        var handler = handlers.FirstOrDefault(h => h.Kind == item.Kind);
        WorkResult result;
        string? error = null;
        if (handler is null)
        {
            result = WorkResult.Fatal;
            error = $"No handler is registered for work of kind '{item.Kind}'.";
        }
        else
        {
            try
            {
                result = await handler.RunAsync(item, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // A handler that throws is treated as transient: its steps are safe to repeat.
                result = WorkResult.Transient;
                error = e.GetType().Name + ": " + e.Message;
                LogHandlerFailed(e, item.Kind, item.Id);
            }
        }
        await RecordAsync(item, result, error, ct);
        if (item.State == WorkState.Failed && handler is not null)
            await handler.GaveUpAsync(item, error, CancellationToken.None);
    }

    /// <summary>Takes the item only if nobody else holds it, so a duplicate queue entry never runs it twice at once.</summary>
    async Task<bool> ClaimAsync(Guid id, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var lease = now + settings.Value.Lease;
        var claimed = await db.WorkItems
            .Where(w => w.Id == id && (w.State == WorkState.Pending || (w.State == WorkState.Running && w.LeaseUntil < now)))
            .ExecuteUpdateAsync(s => s
                .SetProperty(w => w.State, WorkState.Running)
                .SetProperty(w => w.Attempts, w => w.Attempts + 1)
                .SetProperty(w => w.LeaseUntil, lease)
                .SetProperty(w => w.UpdatedAt, now), ct);
        return claimed == 1;
    }

    async Task RecordAsync(WorkItem item, WorkResult result, string? error, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var exhausted = result == WorkResult.Transient && item.Attempts >= settings.Value.MaxAttempts;
        item.State = result switch
        {
            WorkResult.Success => WorkState.Succeeded,
            WorkResult.Transient when !exhausted => WorkState.Pending,
            _ => WorkState.Failed,
        };
        item.LastError = error is null ? null : error[..Math.Min(error.Length, 4000)];
        item.LeaseUntil = null;
        item.UpdatedAt = now;
        item.CompletedAt = item.State is WorkState.Succeeded or WorkState.Failed ? now : null;
        var delay = RetryDelay(item);
        item.NotBefore = item.State == WorkState.Pending ? now + delay : null;
        await db.SaveChangesAsync(CancellationToken.None);
        if (item.State == WorkState.Pending)
            jobs.Schedule<WorkRunner>(runner => runner.RunAsync(item.Id, CancellationToken.None), delay);
    }

    /// <summary>Exponential back-off with a spread taken from the id, so that items failing together do not retry together.</summary>
    TimeSpan RetryDelay(WorkItem item)
    {
        var exponential = settings.Value.RetryBaseDelay * Math.Pow(2, Math.Min(item.Attempts - 1, 16));
        var capped = exponential < settings.Value.RetryMaxDelay ? exponential : settings.Value.RetryMaxDelay;
        var spread = 0.8 + (item.Id.GetHashCode() & 0xFF) / 255.0 * 0.4;
        return capped * spread;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work {Kind} {WorkItemId} failed; it will be retried")]
    partial void LogHandlerFailed(Exception e, string kind, Guid workItemId);
}
