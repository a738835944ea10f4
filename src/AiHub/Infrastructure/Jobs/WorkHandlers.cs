namespace AiHub.Infrastructure.Jobs;

internal enum WorkResult
{
    /// <summary>Done; never run again.</summary>
    Success,

    /// <summary>Failed for a reason that may pass (a timeout, a 429); run again later.</summary>
    Transient,

    /// <summary>Failed for good (bad input); never run again.</summary>
    Fatal,
}

/// <summary>Runs one kind of work. A handler may run more than once for the same item, so it must be safe to repeat.</summary>
internal interface IWorkHandler
{
    string Kind { get; }

    Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct);

    /// <summary>The item ended failed (fatal, or out of attempts): a handler whose work has a visible status records it here.</summary>
    Task GaveUpAsync(WorkItem item, string? error, CancellationToken ct) => Task.CompletedTask;
}
