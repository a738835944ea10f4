using System.Text.Json;
using AiHub.Data;
using Hangfire;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Infrastructure.Jobs;

/// <summary>Saves a work item, then queues it. Saving first is what lets recovery find work whose queue entry was lost.</summary>
internal sealed class WorkQueue(AppDbContext db, IBackgroundJobClient jobs, TimeProvider clock)
{
    readonly List<Guid> _added = [];

    public async Task<WorkItem> EnqueueAsync<TPayload>(string kind, TPayload payload, CancellationToken ct)
    {
        var item = Add(kind, payload);
        await db.SaveChangesAsync(ct);
        DispatchAdded();
        return item;
    }

    /// <summary>Adds an item to the caller's unit of work, so that it commits with the state that needs it; then call <see cref="DispatchAdded"/>.</summary>
    public WorkItem Add<TPayload>(string kind, TPayload payload)
    {
        var now = clock.GetUtcNow();
        var item = new WorkItem
        {
            Id = Guid.CreateVersion7(now),
            Kind = kind,
            Payload = JsonSerializer.Serialize(payload, JsonSerializerOptions.Web),
            State = WorkState.Pending,
            CreatedAt = now,
            UpdatedAt = now,
        };
        db.WorkItems.Add(item);
        _added.Add(item.Id);
        return item;
    }

    /// <summary>Queues the items added since the last call, once their save has committed (recovery finds any this misses).</summary>
    public void DispatchAdded()
    {
        foreach (var id in _added)
            Dispatch(jobs, id);
        _added.Clear();
    }

    /// <summary>Keeps a long-running item (a transcription) from being taken over as abandoned.</summary>
    public async Task RenewLeaseAsync(Guid workItemId, TimeSpan lease, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        await db.WorkItems.Where(w => w.Id == workItemId && w.State == WorkState.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(w => w.LeaseUntil, now + lease).SetProperty(w => w.UpdatedAt, now), ct);
    }

    internal static void Dispatch(IBackgroundJobClient jobs, Guid workItemId) =>
        jobs.Enqueue<WorkRunner>(runner => runner.RunAsync(workItemId, CancellationToken.None));
}
