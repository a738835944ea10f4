using System.Diagnostics;
using System.Text.Json;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Generation.Catalog;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Generation.Jobs;

internal sealed record GenerationPayload(Guid OrganizationId, Guid JobId);

/// <summary>
/// Runs one generation: asks the provider (saving a video's id before anything else), polls it with back-off while
/// renewing the work item's lease, stores each output in the blob store, counts it against the plan's storage, and
/// ends the job. Every step is safe to repeat: a restart resumes polling the same provider job, an output already
/// stored is not stored again, and the money is moved once by <see cref="GenerationFinish"/>, queued in the same
/// transaction as the job's end.
/// </summary>
internal sealed partial class GenerationWork(
    AppDbContext db,
    GenerationModels models,
    IEnumerable<IGenerationProvider> providers,
    IBlobStore blobs,
    IQuotaService quotas,
    WorkQueue work,
    GenerationProgress progress,
    GenerationThumbnails thumbnails,
    IOptions<GenerationSettings> settings,
    IOptions<JobsSettings> jobs,
    TimeProvider clock,
    ILogger<GenerationWork> log) : IWorkHandler
{
    public const string WorkKind = "generation.run";

    public string Kind => WorkKind;

    public static void Queue(WorkQueue work, GenerationJob job) => work.Add(WorkKind, new GenerationPayload(job.OrganizationId, job.Id));

    /// <summary>Adds the job's ending (money, usage, callback) to the caller's unit of work.</summary>
    public static void QueueFinish(WorkQueue work, GenerationJob job) => work.Add(GenerationFinish.WorkKind, new GenerationPayload(job.OrganizationId, job.Id));

    public static string StorageKey(Guid jobId, string part) => $"generation:{jobId}:{part}";

    public async Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct)
    {
        var payload = JsonSerializer.Deserialize<GenerationPayload>(item.Payload, JsonSerializerOptions.Web)!;
        db.TenantId = payload.OrganizationId;
        var job = await FindAsync(payload, ct);
        if (job is null || job.IsFinished)
            return WorkResult.Success;
        try
        {
            return await RunJobAsync(item, job, ct);
        }
        catch (GenerationFailure failure)
        {
            await FailAsync(job, failure.Code, failure.Message, ct);
            return WorkResult.Fatal;
        }
    }

    async Task<WorkResult> RunJobAsync(WorkItem item, GenerationJob job, CancellationToken ct)
    {
        var choice = models.Deployment().FirstOrDefault(c => c.Endpoint.Name == job.Provider && c.Model.Equals(job.Model, StringComparison.OrdinalIgnoreCase));
        var provider = choice is null ? null : providers.FirstOrDefault(p => p.Serves(choice.Endpoint, job.Kind));
        if (choice is null || provider is null)
        {
            await FailAsync(job, GenerationErrors.ProviderFailed, $"{job.Provider}/{job.Model} is no longer configured on this deployment.", ct);
            return WorkResult.Fatal;
        }
        var endpoint = choice.Endpoint;
        var transient = 0;
        var wait = settings.Value.PollInterval;
        ProviderJob? state = null;
        while (true)
        {
            try
            {
                if (job.StartedAt is not null && clock.GetUtcNow() - job.StartedAt > settings.Value.MaxJobDuration)
                {
                    await CancelAtProviderAsync(provider, endpoint, job);
                    await FailAsync(job, GenerationErrors.TimedOut,
                        $"The provider did not finish within {settings.Value.MaxJobDuration.TotalMinutes:0} minutes; nothing was charged.", ct);
                    return WorkResult.Fatal;
                }
                if (state is null && job.ProviderJobId is null)
                {
                    if (!await MarkStartedAsync(job, ct))
                        return WorkResult.Success;
                    state = await provider.StartAsync(endpoint, await CallAsync(job, ct), ct);
                    if (state.ProviderJobId is { } providerId && !await SaveProviderIdAsync(job, providerId, ct))
                    {
                        await CancelAtProviderAsync(provider, endpoint, job);
                        return WorkResult.Success;
                    }
                }
                else if (state is null || state.State is ProviderJobState.Queued or ProviderJobState.InProgress)
                    state = await provider.GetAsync(endpoint, job.ProviderJobId!, ct);
                transient = 0;
            }
            catch (Exception e) when (IsTransient(e, ct))
            {
                if (++transient > settings.Value.MaxTransientFailures)
                {
                    await FailAsync(job, GenerationErrors.ProviderFailed, "The provider could not be reached; nothing was charged. Try again later.", ct);
                    return WorkResult.Fatal;
                }
                LogTransient(e, job.Id, transient);
                state = job.ProviderJobId is null ? null : state is { State: ProviderJobState.Completed } ? state : null;
            }
            if (state is { State: ProviderJobState.Failed, Failure: var failure })
            {
                var refused = failure?.Refused == true;
                await FailAsync(job, refused ? GenerationErrors.Refused : GenerationErrors.ProviderFailed,
                    (refused ? "The provider refused this request: " : "The provider could not make it: ") + (failure?.Message ?? "no reason given") +
                    " Nothing was charged.", ct);
                return WorkResult.Fatal;
            }
            if (state is { State: ProviderJobState.Completed })
                return await CompleteAsync(item, job, provider, endpoint, state, ct);
            if (state is not null && !await ProgressAsync(job, state.Progress, ct))
            {
                // Ended elsewhere: a cancel stops the provider's work, another worker's completion must not.
                if (await StatusAsync(job, ct) != GenerationStatus.Completed)
                    await CancelAtProviderAsync(provider, endpoint, job);
                return WorkResult.Success;
            }
            await work.RenewLeaseAsync(item.Id, jobs.Value.Lease, ct);
            await Task.Delay(wait < PollCap() ? wait : PollCap(), clock, ct);
            wait = wait * 2 < settings.Value.MaxPollInterval ? wait * 2 : settings.Value.MaxPollInterval;
        }
    }

    /// <summary>A wait between polls stays well inside the lease, or the sweeper would hand the job to a second worker while this one sleeps.</summary>
    TimeSpan PollCap() => jobs.Value.Lease / 3;

    Task<GenerationStatus> StatusAsync(GenerationJob job, CancellationToken ct) =>
        db.Set<GenerationJob>().Where(j => j.OrganizationId == job.OrganizationId && j.Id == job.Id).Select(j => j.Status).FirstOrDefaultAsync(ct);

    public async Task GaveUpAsync(WorkItem item, string? error, CancellationToken ct)
    {
        var payload = JsonSerializer.Deserialize<GenerationPayload>(item.Payload, JsonSerializerOptions.Web)!;
        db.ChangeTracker.Clear();
        db.TenantId = payload.OrganizationId;
        if (await FindAsync(payload, ct) is { IsFinished: false } job)
            await FailAsync(job, GenerationErrors.ProviderFailed, $"Gave up after {item.Attempts} attempts; nothing was charged.", ct);
    }

    Task<GenerationJob?> FindAsync(GenerationPayload p, CancellationToken ct) =>
        db.Set<GenerationJob>().FirstOrDefaultAsync(j => j.OrganizationId == p.OrganizationId && j.Id == p.JobId, ct);

    async Task<GenerationCall> CallAsync(GenerationJob job, CancellationToken ct)
    {
        GenerationInputImage? input = null;
        if (job.InputBlobKey is { } key)
            input = new(async c => await blobs.OpenReadAsync(key, c) ?? throw new InvalidOperationException("The job's reference image is missing."),
                job.InputContentType ?? "image/png", "input." + ImageTypes.Extension(job.InputContentType ?? "image/png"));
        string? remixOf = null;
        if (job.RemixOfId is { } source)
            remixOf = await db.Set<GenerationJob>().Where(j => j.OrganizationId == job.OrganizationId && j.Id == source).Select(j => j.ProviderJobId).FirstOrDefaultAsync(ct)
                ?? throw new InvalidOperationException("The video to remix is gone.");
        return new(job.Kind, job.Model, job.Prompt, job.Size, job.Seconds, job.Quality, job.Count, input, remixOf);
    }

    /// <summary>Queued → in progress; false when the job was cancelled meanwhile.</summary>
    async Task<bool> MarkStartedAsync(GenerationJob job, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var started = job.StartedAt ?? now;
        var moved = await db.Set<GenerationJob>()
            .Where(j => j.OrganizationId == job.OrganizationId && j.Id == job.Id && (j.Status == GenerationStatus.Queued || j.Status == GenerationStatus.InProgress))
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, GenerationStatus.InProgress).SetProperty(j => j.StartedAt, started).SetProperty(j => j.UpdatedAt, now), ct);
        if (moved == 0)
            return false;
        var first = job.Status == GenerationStatus.Queued;
        (job.Status, job.StartedAt, job.UpdatedAt) = (GenerationStatus.InProgress, started, now);
        Mirrored();
        if (first)
            await progress.PublishAsync(job, [], ct);
        return true;
    }

    async Task<bool> SaveProviderIdAsync(GenerationJob job, string providerId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var saved = await db.Set<GenerationJob>()
            .Where(j => j.OrganizationId == job.OrganizationId && j.Id == job.Id && j.Status == GenerationStatus.InProgress)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.ProviderJobId, providerId).SetProperty(j => j.UpdatedAt, now), ct);
        job.ProviderJobId = providerId;
        Mirrored();
        return saved == 1;
    }

    /// <summary>Records the provider's progress; false when the job was cancelled meanwhile.</summary>
    async Task<bool> ProgressAsync(GenerationJob job, int value, CancellationToken ct)
    {
        value = Math.Clamp(value, 0, 99);
        var now = clock.GetUtcNow();
        var moved = await db.Set<GenerationJob>()
            .Where(j => j.OrganizationId == job.OrganizationId && j.Id == job.Id && j.Status == GenerationStatus.InProgress)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.Progress, value).SetProperty(j => j.UpdatedAt, now), ct);
        if (moved == 0)
            return false;
        if (value != job.Progress)
        {
            (job.Progress, job.UpdatedAt) = (value, now);
            Mirrored();
            await progress.PublishAsync(job, [], ct);
        }
        return true;
    }

    async Task<WorkResult> CompleteAsync(WorkItem item, GenerationJob job, IGenerationProvider provider, GenerationEndpoint endpoint, ProviderJob state, CancellationToken ct)
    {
        var outputs = await StoreOutputsAsync(item, job, provider, endpoint, state, ct);
        var bytes = outputs.Sum(o => o.SizeBytes + o.ThumbnailBytes);
        var counted = await quotas.TryConsumeAsync(job.OrganizationId, QuotaKind.StorageBytes, Math.Max(1, bytes), StorageKey(job.Id, "outputs"), ct);
        if (!counted.Allowed)
        {
            await DropOutputsAsync(job, ct);
            await FailAsync(job, GenerationErrors.StorageFull, $"The result does not fit the plan's storage ({counted.Message}); nothing was charged. " +
                "Delete files or generations, or upgrade the plan, and generate again.", ct);
            return WorkResult.Fatal;
        }
        double asked = job.Kind == GenerationKind.Video ? job.Seconds ?? 1 : job.Count;
        // Charged by what was made, never above the hold: a shorter video or fewer images cost less.
        var made = Math.Min(job.Kind == GenerationKind.Video ? state.Seconds ?? asked : outputs.Count, asked) / asked;
        var cost = Math.Min(job.HeldMicros, (long)Math.Ceiling(job.HeldMicros * made));
        var now = clock.GetUtcNow();
        if (!await EndAsync(job, GenerationStatus.Completed, null, null, cost, job.StorageBytes + bytes, ct))
        {
            // Another worker that took over an expired lease completed it: its outputs are these very rows, keep them.
            if (await StatusAsync(job, CancellationToken.None) == GenerationStatus.Completed)
                return WorkResult.Success;
            // Cancelled while the outputs were stored: they go, and the cancel already gave the hold back.
            await DropOutputsAsync(job, ct);
            await quotas.ReleaseAsync(job.OrganizationId, QuotaKind.StorageBytes, StorageKey(job.Id, "outputs"), CancellationToken.None);
            return WorkResult.Success;
        }
        LogCompleted(job.Id, job.Kind, outputs.Count, (now - (job.StartedAt ?? job.CreatedAt)).TotalSeconds);
        await progress.PublishAsync(job, outputs, CancellationToken.None);
        return WorkResult.Success;
    }

    async Task<List<GenerationOutput>> StoreOutputsAsync(WorkItem item, GenerationJob job, IGenerationProvider provider, GenerationEndpoint endpoint, ProviderJob state,
        CancellationToken ct)
    {
        var stored = await db.Set<GenerationOutput>().Where(o => o.OrganizationId == job.OrganizationId && o.JobId == job.Id).ToListAsync(ct);
        foreach (var output in state.Outputs.Where(o => stored.All(s => s.Index != o.Index)))
        {
            // A video download can outlast a short lease: renewing before each file keeps a second worker from storing it too.
            await work.RenewLeaseAsync(item.Id, jobs.Value.Lease, ct);
            var key = GenerationBlobs.Output(job.OrganizationId, job.Id, output.Index, ImageTypes.Extension(output.ContentType));
            await using (var content = output.Bytes is { } inline ? new MemoryStream(inline, writable: false) : await provider.OpenOutputAsync(endpoint, job.ProviderJobId, output, ct))
            {
                long size;
                try
                {
                    size = await blobs.PutAsync(key, content, settings.Value.MaxOutputBytes, ct);
                }
                catch (BlobTooLargeException)
                {
                    throw new GenerationFailure(GenerationErrors.ProviderFailed, $"The provider's file is larger than the {settings.Value.MaxOutputBytes / (1024 * 1024)} MB this deployment keeps.");
                }
                var video = job.Kind == GenerationKind.Video;
                var media = await thumbnails.MakeAsync(job.OrganizationId, job.Id, output.Index, key, video, ct);
                var (width, height) = ParseSize(state.Size ?? job.Size);
                var row = new GenerationOutput
                {
                    Id = Guid.CreateVersion7(clock.GetUtcNow()), OrganizationId = job.OrganizationId, JobId = job.Id, Index = output.Index, BlobKey = key,
                    ContentType = output.ContentType, SizeBytes = size, Width = media.Width ?? width, Height = media.Height ?? height,
                    DurationSeconds = video ? media.DurationSeconds ?? state.Seconds ?? job.Seconds : null,
                    ThumbnailBlobKey = media.ThumbnailKey, ThumbnailBytes = media.ThumbnailBytes, CreatedAt = clock.GetUtcNow(),
                };
                db.Add(row);
                await db.SaveChangesAsync(ct);
                stored.Add(row);
            }
        }
        return [.. stored.OrderBy(o => o.Index)];
    }

    async Task DropOutputsAsync(GenerationJob job, CancellationToken ct)
    {
        foreach (var output in await db.Set<GenerationOutput>().Where(o => o.OrganizationId == job.OrganizationId && o.JobId == job.Id).ToListAsync(ct))
        {
            await blobs.DeleteAsync(output.BlobKey, CancellationToken.None);
            if (output.ThumbnailBlobKey is { } thumb)
                await blobs.DeleteAsync(thumb, CancellationToken.None);
            db.Remove(output);
        }
        await db.SaveChangesAsync(CancellationToken.None);
    }

    async Task FailAsync(GenerationJob job, string code, string message, CancellationToken ct)
    {
        if (await EndAsync(job, GenerationStatus.Failed, code, message[..Math.Min(message.Length, GenerationModelConfiguration.ErrorLength)], 0, job.StorageBytes, ct))
            await progress.PublishAsync(job, [], CancellationToken.None);
    }

    /// <summary>Ends a job that has not ended, with its finishing work in the same transaction; false when it had ended (a cancel won).</summary>
    async Task<bool> EndAsync(GenerationJob job, GenerationStatus status, string? code, string? error, long cost, long storageBytes, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        await using var tx = await db.Database.BeginTransactionAsync(CancellationToken.None);
        var ended = await db.Set<GenerationJob>()
            .Where(j => j.OrganizationId == job.OrganizationId && j.Id == job.Id && (j.Status == GenerationStatus.Queued || j.Status == GenerationStatus.InProgress))
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, status).SetProperty(j => j.ErrorCode, code).SetProperty(j => j.Error, error)
                .SetProperty(j => j.CostMicros, cost).SetProperty(j => j.StorageBytes, storageBytes).SetProperty(j => j.QuotaCounted, j => j.QuotaCounted || status == GenerationStatus.Completed)
                .SetProperty(j => j.Progress, j => status == GenerationStatus.Completed ? 100 : j.Progress)
                .SetProperty(j => j.UpdatedAt, now).SetProperty(j => j.CompletedAt, now), CancellationToken.None);
        if (ended == 0)
            return false;
        Mirrored();
        QueueFinish(work, job);
        await db.SaveChangesAsync(CancellationToken.None);
        await tx.CommitAsync(CancellationToken.None);
        work.DispatchAdded();
        await db.Entry(job).ReloadAsync(CancellationToken.None);
        return true;
    }

    /// <summary>
    /// The job's fields were copied from a conditional update that already wrote them: left as pending changes, the next
    /// SaveChanges would write them again over whatever ended the job meanwhile (a cancel, or this worker's own end).
    /// </summary>
    void Mirrored()
    {
        // Snapshot tracking sees an edited property only once changes are detected; accepting before that keeps nothing.
        db.ChangeTracker.DetectChanges();
        db.ChangeTracker.AcceptAllChanges();
    }

    async Task CancelAtProviderAsync(IGenerationProvider provider, GenerationEndpoint endpoint, GenerationJob job)
    {
        if (job.ProviderJobId is not { } id)
            return;
        try
        {
            await provider.CancelAsync(endpoint, id, CancellationToken.None);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            LogCancelFailed(e, job.Id);
        }
    }

    public static async Task ReleaseStorageAsync(IQuotaService quotas, GenerationJob job, CancellationToken ct)
    {
        await quotas.ReleaseAsync(job.OrganizationId, QuotaKind.StorageBytes, StorageKey(job.Id, "outputs"), ct);
        await quotas.ReleaseAsync(job.OrganizationId, QuotaKind.StorageBytes, StorageKey(job.Id, "input"), ct);
    }

    static bool IsTransient(Exception e, CancellationToken ct) =>
        e is HttpRequestException or IOException || (e is OperationCanceledException && !ct.IsCancellationRequested);

    static (int?, int?) ParseSize(string size) =>
        size.Split('x') is [var w, var h] && int.TryParse(w, out var width) && int.TryParse(h, out var height) ? (width, height) : (null, null);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Generation {JobId}: the provider failed ({Count} in a row); trying again")]
    partial void LogTransient(Exception e, Guid jobId, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Generation {JobId} ({Kind}) completed with {Outputs} output(s) in {Seconds:0.0} s")]
    partial void LogCompleted(Guid jobId, GenerationKind kind, int outputs, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Generation {JobId}: the provider's job could not be cancelled")]
    partial void LogCancelFailed(Exception e, Guid jobId);
}

/// <summary>A job that cannot succeed, with the code and words it ends with.</summary>
internal sealed class GenerationFailure(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}

/// <summary>
/// The money and notices of a job that ended, once: settles the hold at the job's cost (or voids it), writes the usage
/// record, and POSTs the signed callback. Queued in the transaction that ended the job, so a crash loses none of it.
/// </summary>
internal sealed class GenerationFinish(
    AppDbContext db,
    CreditGate credits,
    UsageMeter usage,
    GenerationCallbacks callbacks,
    TimeProvider clock) : IWorkHandler
{
    public const string WorkKind = "generation.finish";

    public string Kind => WorkKind;

    public async Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct)
    {
        var payload = JsonSerializer.Deserialize<GenerationPayload>(item.Payload, JsonSerializerOptions.Web)!;
        db.TenantId = payload.OrganizationId;
        var job = await db.Set<GenerationJob>().FirstOrDefaultAsync(j => j.OrganizationId == payload.OrganizationId && j.Id == payload.JobId, ct);
        if (job is null || !job.IsFinished)
            return WorkResult.Success;
        await SettleAsync(job, ct);
        return await callbacks.SendAsync(job, ct) ? WorkResult.Success : WorkResult.Transient;
    }

    /// <summary>The money of an ended job: the hold settled at its cost or voided, and its usage record; both once, however often asked.</summary>
    public async Task SettleAsync(GenerationJob job, CancellationToken ct)
    {
        if (job.HoldId is { } hold)
        {
            if (job.Status == GenerationStatus.Completed)
                await credits.SettleAsync(job.OrganizationId, hold, job.ApiKeyId, job.CostMicros, ct);
            else
                await credits.ReleaseAsync(job.OrganizationId, hold, ct);
        }
        var status = job.Status switch
        {
            GenerationStatus.Completed => UsageStatus.Succeeded,
            GenerationStatus.Cancelled => UsageStatus.Cancelled,
            _ => UsageStatus.Failed,
        };
        var latency = (long)((job.CompletedAt ?? clock.GetUtcNow()) - (job.StartedAt ?? job.CreatedAt)).TotalMilliseconds;
        await usage.RecordAsync(new UsageEntry(Generations.HoldKey(job.Id), job.OrganizationId, job.UserId, job.Provider, job.Model, 0, 0, Math.Max(0, latency), status,
            job.ApiKeyId, job.WorkspaceId, job.HoldId, job.Status == GenerationStatus.Completed ? job.CostMicros : 0, job.CompletedAt, job.Channel, job.ClientId), ct);
    }
}
