using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Infrastructure.Jobs;

internal enum WorkState
{
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// <summary>
/// The durable record of one piece of background work. The job queue only carries its id,
/// so a lost queue (in-memory storage, a crash between save and enqueue) loses nothing.
/// </summary>
internal sealed class WorkItem
{
    public Guid Id { get; init; }

    public required string Kind { get; init; }

    public required string Payload { get; init; }

    public WorkState State { get; set; }

    public int Attempts { get; set; }

    public string? LastError { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>A running item whose lease has passed is taken to be abandoned by a dead worker.</summary>
    public DateTimeOffset? LeaseUntil { get; set; }

    /// <summary>When a retry is due; the sweeper leaves a pending item alone until then.</summary>
    public DateTimeOffset? NotBefore { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }
}

internal sealed class WorkItemConfiguration : IEntityTypeConfiguration<WorkItem>
{
    public void Configure(EntityTypeBuilder<WorkItem> builder)
    {
        builder.ToTable("work_items");
        builder.Property(w => w.Kind).HasMaxLength(100);
        builder.Property(w => w.State).HasConversion<string>().HasMaxLength(20);
        builder.Property(w => w.LastError).HasMaxLength(4000);
        builder.HasIndex(w => new { w.State, w.UpdatedAt });
    }
}
