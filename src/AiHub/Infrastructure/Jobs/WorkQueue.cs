using System.Text.Json;
using AiHub.Data;
using Hangfire;

namespace AiHub.Infrastructure.Jobs;

/// <summary>Saves a work item, then queues it. Saving first is what lets recovery find work whose queue entry was lost.</summary>
internal sealed class WorkQueue(AppDbContext db, IBackgroundJobClient jobs, TimeProvider clock)
{
    public async Task<WorkItem> EnqueueAsync<TPayload>(string kind, TPayload payload, CancellationToken ct)
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
        await db.SaveChangesAsync(ct);
        Dispatch(jobs, item.Id);
        return item;
    }

    internal static void Dispatch(IBackgroundJobClient jobs, Guid workItemId) =>
        jobs.Enqueue<WorkRunner>(runner => runner.RunAsync(workItemId, CancellationToken.None));
}
