using AiHub.Data;
using Hangfire;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Jobs;

/// <summary>Queues again the work whose queue entry is gone: everything unfinished after an embedded restart, stale items in a cluster.</summary>
internal sealed partial class WorkRecovery(
    AppDbContext db,
    IBackgroundJobClient jobs,
    IOptions<JobsSettings> settings,
    TimeProvider clock,
    ILogger<WorkRecovery> logger)
{
    /// <summary>At start of a node whose queue lives in memory, every unfinished item was orphaned by the previous process.</summary>
    public async Task<int> RecoverAfterRestartAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        await db.WorkItems
            .Where(w => w.State == WorkState.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(w => w.State, WorkState.Pending).SetProperty(w => w.LeaseUntil, (DateTimeOffset?)null).SetProperty(w => w.UpdatedAt, now), ct);
        var ids = await db.WorkItems.Where(w => w.State == WorkState.Pending).OrderBy(w => w.CreatedAt).Select(w => w.Id).ToListAsync(ct);
        return Dispatch(ids, "restart");
    }

    /// <summary>Runs every minute: pending items nobody touched since they were due, and running items whose worker stopped renewing.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var staleBefore = now - settings.Value.StaleAfter;
        var ids = await db.WorkItems
            .Where(w => (w.State == WorkState.Pending && w.UpdatedAt < staleBefore && (w.NotBefore == null || w.NotBefore < staleBefore))
                        || (w.State == WorkState.Running && w.LeaseUntil < now))
            .OrderBy(w => w.CreatedAt)
            .Select(w => w.Id)
            .Take(1000)
            .ToListAsync(ct);
        if (ids.Count > 0)
            await db.WorkItems.Where(w => ids.Contains(w.Id) && w.State == WorkState.Pending)
                .ExecuteUpdateAsync(s => s.SetProperty(w => w.UpdatedAt, now), ct);
        return Dispatch(ids, "sweep");
    }

    int Dispatch(List<Guid> ids, string reason)
    {
        foreach (var id in ids)
            WorkQueue.Dispatch(jobs, id);
        if (ids.Count > 0)
            LogRecovered(ids.Count, reason);
        return ids.Count;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Queued {Count} unfinished work item(s) again ({Reason})")]
    partial void LogRecovered(int count, string reason);
}
