using AiHub.Data;
using Hangfire;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Usage;

/// <summary>
/// Rolls usage records up into <see cref="UsageHourly"/>, one complete hour at a time. An hour is recomputed from all of
/// its records in one transaction, so running again (or after a late record arrived) never counts anything twice.
/// </summary>
internal sealed partial class UsageAggregator(AppDbContext db, TimeProvider clock, ILogger<UsageAggregator> logger)
{
    /// <summary>Aggregates every complete hour that has records not yet counted; returns how many hours it did.</summary>
    [DisableConcurrentExecution(timeoutInSeconds: 600)]
    public async Task<int> AggregateAsync(CancellationToken ct)
    {
        var currentHour = UsageTime.HourOf(clock.GetUtcNow());
        var watermark = await WatermarkAsync(ct);
        var hours = await db.Set<UsageRecord>().AsNoTracking()
            .Where(r => !r.Aggregated && r.HourStart < currentHour)
            .Select(r => r.HourStart).Distinct().ToListAsync(ct);
        foreach (var hour in hours.Order())
            await AggregateHourAsync(hour, ct);
        var late = hours.Count(h => h < watermark.AggregatedUntil);
        if (late > 0)
            LogLate(late);
        if (currentHour > watermark.AggregatedUntil)
        {
            await db.Set<UsageWatermark>().Where(w => w.Id == UsageWatermark.SingletonId)
                .ExecuteUpdateAsync(u => u.SetProperty(w => w.AggregatedUntil, currentHour).SetProperty(w => w.UpdatedAt, clock.GetUtcNow()), ct);
        }
        return hours.Count;
    }

    /// <summary>Every complete hour before this one has been aggregated at least once; records arriving later for them are read raw until the next run.</summary>
    public async Task<UsageWatermark> WatermarkAsync(CancellationToken ct) =>
        await db.Set<UsageWatermark>().AsNoTracking().FirstAsync(w => w.Id == UsageWatermark.SingletonId, ct);

    async Task AggregateHourAsync(DateTimeOffset hour, CancellationToken ct)
    {
        var strategy = db.Database.CreateExecutionStrategy();
        await strategy.ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            // Mark first, then sum what is marked: a record that commits in between stays unmarked, so readers still
            // add it raw and the next run counts it, instead of it being marked without being summed.
            await db.Set<UsageRecord>().Where(r => r.HourStart == hour && !r.Aggregated)
                .ExecuteUpdateAsync(u => u.SetProperty(r => r.Aggregated, true), ct);
            await db.Set<UsageHourly>().Where(h => h.HourStart == hour).ExecuteDeleteAsync(ct);
            var buckets = await db.Set<UsageRecord>().AsNoTracking()
                .Where(r => r.HourStart == hour && r.Aggregated)
                .GroupBy(r => new { r.OrganizationId, r.UserId, r.ApiKeyId, r.Channel, r.Provider, r.Model })
                .Select(g => new
                {
                    g.Key,
                    Requests = g.LongCount(),
                    Failures = g.LongCount(r => r.Status == UsageStatus.Failed),
                    InputTokens = g.Sum(r => r.InputTokens),
                    OutputTokens = g.Sum(r => r.OutputTokens),
                    CostMicros = g.Sum(r => r.CostMicros),
                    LatencyMsSum = g.Sum(r => r.LatencyMs),
                })
                .ToListAsync(ct);
            var now = clock.GetUtcNow();
            db.AddRange(buckets.Select(b => new UsageHourly
            {
                Id = Guid.CreateVersion7(now),
                HourStart = hour,
                OrganizationId = b.Key.OrganizationId,
                UserId = b.Key.UserId,
                ApiKeyId = b.Key.ApiKeyId,
                Channel = b.Key.Channel,
                Provider = b.Key.Provider,
                Model = b.Key.Model,
                Requests = b.Requests,
                Failures = b.Failures,
                InputTokens = b.InputTokens,
                OutputTokens = b.OutputTokens,
                CostMicros = b.CostMicros,
                LatencyMsSum = b.LatencyMsSum,
            }));
            await db.SaveChangesAsync(ct);
            await transaction.CommitAsync(ct);
            db.ChangeTracker.Clear();
        });
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Usage: {Hours} already aggregated hour(s) had late records and were recomputed")]
    partial void LogLate(int hours);
}
