using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Infrastructure.Jobs;

internal sealed class JobsSettings
{
    public const string Section = "Jobs";

    [Range(1, 64)]
    public int WorkerCount { get; set; } = Math.Max(2, Environment.ProcessorCount);

    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>How long a worker owns a running item before another may take it over.</summary>
    [Duration("00:00:05", "1.00:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromMinutes(10);

    [Duration("00:00:00.010", "01:00:00")]
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(10);

    [Duration("00:00:00.010", "1.00:00:00")]
    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often a worker looks for retries that have come due.</summary>
    [Duration("00:00:00.050", "00:10:00")]
    public TimeSpan SchedulePollingInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How often an idle worker on PostgreSQL looks for new work when no notification woke it; a notification sent
    /// while it was between a look and its LISTEN is otherwise lost until then.
    /// </summary>
    [Duration("00:00:00.050", "00:10:00")]
    public TimeSpan QueuePollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A pending item untouched this long is queued again by the sweeper (its queue entry was lost).</summary>
    [Duration("00:00:05", "1.00:00:00")]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromMinutes(5);
}
