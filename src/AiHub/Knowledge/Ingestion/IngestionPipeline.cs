using System.Text.Json;
using AiHub.Credits.Pools;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Ingestion.Chunking;
using AiHub.Knowledge.Ingestion.Documents;
using AiHub.Knowledge.Ingestion.Media;
using AiHub.Knowledge.Search;
using AiHub.Knowledge.Sources;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Ingestion;

internal sealed record IngestPayload(Guid OrganizationId, Guid SourceId);

/// <summary>Where each step leaves a source's progress bar.</summary>
internal static class IngestionProgress
{
    public const int Fetched = 5;
    public const int Extracted = 60;
    public const int Chunked = 70;
    public const int Embedded = 98;
    public const int Done = 100;
}

/// <summary>
/// Ingests one source: fetch (an import) → extract or transcribe → chunk → embed → index. Each step records in the
/// source that it is done, in the same save as its output, so a retry, a restart or another worker resumes at the
/// first step not done and never writes a chunk twice. Transient failures are tried again with back-off by the work
/// runner; a fatal one, or the last attempt, ends the source <see cref="SourceStatus.Failed"/> with the reason.
/// </summary>
internal sealed partial class IngestionPipeline(
    AppDbContext db,
    IBlobStore blobs,
    UrlImports imports,
    DocumentExtractors extractors,
    MediaTools media,
    Transcribers transcribers,
    Chunker chunker,
    KnowledgeEmbedder embedder,
    IKnowledgeIndex index,
    IQuotaService quotas,
    CreditGate credits,
    SourceProgress progress,
    WorkQueue work,
    IServiceScopeFactory scopes,
    IOptions<JobsSettings> jobs,
    IOptions<KnowledgeSettings> settings,
    TimeProvider clock,
    ILogger<IngestionPipeline> log) : IWorkHandler
{
    public const string WorkKind = "knowledge.ingest";

    /// <summary>Texts embedded per round: each round's vectors are saved before the next, so a restart loses at most one.</summary>
    const int EmbedRound = 256;

    public string Kind => WorkKind;

    /// <summary>Adds the source's ingestion to the caller's unit of work; the caller saves, then dispatches.</summary>
    public static void Queue(WorkQueue work, KnowledgeSource source) =>
        work.Add(WorkKind, new IngestPayload(source.OrganizationId, source.Id));

    public async Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct)
    {
        var payload = JsonSerializer.Deserialize<IngestPayload>(item.Payload, JsonSerializerOptions.Web)!;
        db.TenantId = payload.OrganizationId;
        var source = await FindAsync(payload, ct);
        // Deleted meanwhile, or a duplicate queue entry after the work was done: nothing to do.
        if (source is null || source.Status is SourceStatus.Completed or SourceStatus.Failed or SourceStatus.Uploading)
            return WorkResult.Success;
        source.Attempts = item.Attempts;
        try
        {
            if (!source.Steps.HasFlag(IngestionSteps.Fetched))
                await FetchAsync(source, ct);
            if (!source.Steps.HasFlag(IngestionSteps.Extracted))
                await ExtractAsync(source, item, ct);
            if (!source.Steps.HasFlag(IngestionSteps.Chunked))
                await ChunkAsync(source, ct);
            if (!source.Steps.HasFlag(IngestionSteps.Embedded))
                await EmbedAsync(source, item, ct);
            if (!source.Steps.HasFlag(IngestionSteps.Indexed))
                await IndexAsync(source, ct);
            return WorkResult.Success;
        }
        catch (DbUpdateConcurrencyException)
        {
            // The source was deleted while it was being ingested.
            return WorkResult.Success;
        }
        catch (IngestionException e) when (!e.Transient)
        {
            await FailAsync(source, e.Message);
            return WorkResult.Fatal;
        }
        catch (ProblemException e) when (e.Status is StatusCodes.Status402PaymentRequired or StatusCodes.Status403Forbidden or StatusCodes.Status400BadRequest)
        {
            // Out of credits, over a plan limit, or a model no longer configured: trying again changes nothing until someone acts.
            await FailAsync(source, e.Detail ?? e.Title);
            return WorkResult.Fatal;
        }
        catch (IngestionException e)
        {
            await NoteAsync(source, e.Message);
            return WorkResult.Transient;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            LogStepFailed(e, source.Id, source.Status);
            await NoteAsync(source, "Something went wrong on the server; the step will be tried again.");
            return WorkResult.Transient;
        }
    }

    /// <summary>Out of attempts (or fatal): the source shows failed, with the last reason and a Retry action.</summary>
    public async Task GaveUpAsync(WorkItem item, string? error, CancellationToken ct)
    {
        var payload = JsonSerializer.Deserialize<IngestPayload>(item.Payload, JsonSerializerOptions.Web)!;
        db.ChangeTracker.Clear();
        var source = await FindAsync(payload, ct);
        if (source is null || source.Status is SourceStatus.Failed or SourceStatus.Completed)
            return;
        await FailAsync(source, source.LastError is { } last ? $"Gave up after {item.Attempts} attempts. {last}" : $"Gave up after {item.Attempts} attempts.");
    }

    Task<KnowledgeSource?> FindAsync(IngestPayload p, CancellationToken ct) =>
        db.Set<KnowledgeSource>().FirstOrDefaultAsync(s => s.OrganizationId == p.OrganizationId && s.Id == p.SourceId, ct);

    async Task FetchAsync(KnowledgeSource source, CancellationToken ct)
    {
        await MoveAsync(source, SourceStatus.Extracting, 0, ct);
        var url = new Uri(source.Url!);
        var storage = await quotas.GetAsync(source.OrganizationId, QuotaKind.StorageBytes, ct);
        var room = Math.Min(settings.Value.MaxFileBytes, storage.Remaining ?? long.MaxValue);
        if (room <= 0)
            throw new IngestionException(storage.Message);
        var size = await imports.FetchAsync(url, blobs, source.BlobKey, room, ct);
        if (size == 0)
            throw new IngestionException("The address returned an empty file.");
        await using (var stream = await blobs.OpenReadAsync(source.BlobKey, ct) ?? throw new IngestionException("The fetched file is gone.", transient: true))
        {
            var sniffed = await SourceFormats.SniffAsync(stream, url.AbsolutePath, ct);
            source.Format = sniffed.Format ?? throw new IngestionException((sniffed.Reason ?? "This kind of file cannot be added.") + " " + SourceFormats.Supported);
            source.ContentType = sniffed.ContentType;
        }
        
        source.SizeBytes = size;
        source.FileName ??= Path.GetFileName(url.AbsolutePath) is { Length: > 0 } name ? name : url.IdnHost;
        await SourceQuotas.CountAsync(quotas, source, ct);
        source.Steps |= IngestionSteps.Fetched;
        await MoveAsync(source, SourceStatus.Extracting, IngestionProgress.Fetched, ct);
    }

    async Task ExtractAsync(KnowledgeSource source, WorkItem item, CancellationToken ct)
    {
        if (source.Format is SourceFormat.Audio or SourceFormat.Video)
        {
            await TranscribeAsync(source, item, ct);
            return;
        }
        await MoveAsync(source, SourceStatus.Extracting, Math.Max(source.Progress, IngestionProgress.Fetched), ct);
        ExtractedDocument document;
        await using (var stream = await OpenOriginalAsync(source, ct))
            document = await extractors.ExtractAsync(source.Format!.Value, stream, ct);
        if (document.Blocks.Count == 0 || document.Blocks.All(b => string.IsNullOrWhiteSpace(b.Text)))
            throw new IngestionException("No text was found in the file.");
        await using (var json = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(document, JsonSerializerOptions.Web)))
            await blobs.PutAsync(SourceBlobs.Extracted(source.OrganizationId, source.Id), json, long.MaxValue, ct);
        source.PageCount = document.PageCount > 0 ? document.PageCount : null;
        if (source.Origin == SourceOrigin.Url && document.Title is { Length: > 0 } title)
            source.Title = title.Length > KnowledgeModelConfiguration.TitleLength ? title[..KnowledgeModelConfiguration.TitleLength] : title;
        source.Steps |= IngestionSteps.Extracted;
        await MoveAsync(source, SourceStatus.Chunking, IngestionProgress.Extracted, ct);
    }

    async Task TranscribeAsync(KnowledgeSource source, WorkItem item, CancellationToken ct)
    {
        await MoveAsync(source, SourceStatus.Transcribing, Math.Max(source.Progress, IngestionProgress.Fetched), ct);
        var folder = Directory.CreateTempSubdirectory("aihub-media-");
        try
        {
            var input = Path.Combine(folder.FullName, "original");
            await using (var stream = await OpenOriginalAsync(source, ct))
            await using (var file = File.Create(input))
                await stream.CopyToAsync(file, ct);
            var info = await media.ProbeAsync(input, ct);
            var wav = Path.Combine(folder.FullName, "audio.wav");
            await media.ExtractAudioAsync(input, wav, ct);
            var duration = info.DurationSeconds ?? 0;
            source.DurationSeconds = info.DurationSeconds;

            var transcriber = transcribers.Current;
            var hold = transcribers.IsPaid ? await HoldTranscriptionAsync(source, duration, item, ct) : null;
            Transcript transcript;
            try
            {
                using var reporter = new ProgressReporter(new ReporterContext(scopes, progress, clock, jobs.Value.Lease, log), source, item, IngestionProgress.Fetched, IngestionProgress.Extracted);
                transcript = await transcriber.TranscribeAsync(wav, duration, reporter, ct);
            }
            catch
            {
                if (hold is not null)
                    await credits.ReleaseAsync(hold, CancellationToken.None);
                throw;
            }
            if (hold is not null)
                await credits.SettleAsync(hold, hold.AmountMicros, CancellationToken.None);
            if (transcript.Segments.Count == 0)
                throw new IngestionException("No speech was recognised in the recording.");

            await using var tx = await db.Database.BeginTransactionAsync(ct);
            await db.Set<TranscriptSegmentRow>().Where(s => s.OrganizationId == source.OrganizationId && s.SourceId == source.Id).ExecuteDeleteAsync(ct);
            db.AddRange(transcript.Segments.Select(s => new TranscriptSegmentRow
            {
                OrganizationId = source.OrganizationId,
                SourceId = source.Id,
                Index = s.Index,
                Start = s.Start,
                End = s.End,
                Text = s.Text,
                Words = s.Words is { Count: > 0 } words ? JsonSerializer.Serialize(words, JsonSerializerOptions.Web) : null,
            }));
            source.DurationSeconds = transcript.DurationSeconds > 0 ? transcript.DurationSeconds : info.DurationSeconds;
            source.Steps |= IngestionSteps.Extracted;
            Move(source, SourceStatus.Chunking, IngestionProgress.Extracted);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            await progress.PublishAsync(source, CancellationToken.None);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>A transcription provider is paid per minute: the started minutes are held before the call and charged after.</summary>
    async Task<CreditHold> HoldTranscriptionAsync(KnowledgeSource source, double seconds, WorkItem item, CancellationToken ct)
    {
        var minutes = (long)Math.Ceiling(Math.Max(seconds, 1) / 60);
        var cost = (long)(settings.Value.TranscriptionCreditsPerMinute * Micros.PerCredit) * minutes;
        var spender = new Spender(source.OrganizationId, source.CreatedBy, null, source.WorkspaceId);
        return await credits.HoldAsync(spender, cost, $"knowledge:transcribe:{source.Id:N}:{item.Attempts}", ct);
    }

    async Task ChunkAsync(KnowledgeSource source, CancellationToken ct)
    {
        await MoveAsync(source, SourceStatus.Chunking, IngestionProgress.Extracted, ct);
        var options = new ChunkingOptions(settings.Value.ChunkTokens, settings.Value.ChunkOverlapTokens);
        IReadOnlyList<ChunkDraft> drafts;
        if (source.Format is SourceFormat.Audio or SourceFormat.Video)
            drafts = chunker.Chunk(await TranscriptOfAsync(source, ct), options);
        else
        {
            await using var json = await blobs.OpenReadAsync(SourceBlobs.Extracted(source.OrganizationId, source.Id), ct);
            if (json is null)
            {
                // The extracted text is gone (a restored backup): extract again.
                source.Steps &= ~IngestionSteps.Extracted;
                throw new IngestionException("The extracted text was missing; extracting again.", transient: true);
            }
            var document = await JsonSerializer.DeserializeAsync<ExtractedDocument>(json, JsonSerializerOptions.Web, ct)
                ?? throw new IngestionException("The extracted text could not be read; extracting again.", transient: true);
            drafts = chunker.Chunk(document, options);
        }

        var kbId = source.KnowledgeBaseId;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.Set<KnowledgeChunk>().Where(c => c.OrganizationId == source.OrganizationId && c.SourceId == source.Id).ExecuteDeleteAsync(ct);
        db.AddRange(drafts.Select(d => new KnowledgeChunk
        {
            OrganizationId = source.OrganizationId,
            KnowledgeBaseId = kbId,
            SourceId = source.Id,
            Ordinal = d.Ordinal,
            Text = d.Text,
            TokenCount = d.TokenCount,
            Page = d.Page,
            HeadingPath = d.HeadingPath,
            StartSeconds = d.StartSeconds,
            EndSeconds = d.EndSeconds,
            StartOffset = d.StartOffset,
            EndOffset = d.EndOffset,
            FirstSegment = d.FirstSegment,
            LastSegment = d.LastSegment,
        }));
        source.ChunkCount = drafts.Count;
        source.EmbeddedWith = null;
        source.Steps |= IngestionSteps.Chunked;
        Move(source, SourceStatus.Embedding, IngestionProgress.Chunked);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        db.ChangeTracker.Clear();
        db.Attach(source);
        await progress.PublishAsync(source, CancellationToken.None);
    }

    internal async Task<Transcript> TranscriptOfAsync(KnowledgeSource source, CancellationToken ct)
    {
        var rows = await db.Set<TranscriptSegmentRow>().AsNoTracking()
            .Where(s => s.OrganizationId == source.OrganizationId && s.SourceId == source.Id)
            .OrderBy(s => s.Index).ToListAsync(ct);
        return new Transcript(null, source.DurationSeconds ?? rows.LastOrDefault()?.End ?? 0,
            [.. rows.Select(r => new TranscriptSegment(r.Index, r.Start, r.End, r.Text))]);
    }

    /// <summary>Embeds the chunks that have no vector of the knowledge base's model yet: a re-embed or a corrected segment redoes only those.</summary>
    async Task EmbedAsync(KnowledgeSource source, WorkItem item, CancellationToken ct)
    {
        var kb = await db.Set<KnowledgeBase>().FirstAsync(k => k.OrganizationId == source.OrganizationId && k.Id == source.KnowledgeBaseId, ct);
        if (kb.EmbeddingModel is { } model)
        {
            await MoveAsync(source, SourceStatus.Embedding, Math.Max(source.Progress, IngestionProgress.Chunked), ct);
            var spender = new Spender(source.OrganizationId, source.CreatedBy, null, source.WorkspaceId);
            var total = await db.Set<KnowledgeChunk>().CountAsync(c => c.OrganizationId == source.OrganizationId && c.SourceId == source.Id, ct);
            while (true)
            {
                var batch = await db.Set<KnowledgeChunk>().AsNoTracking()
                    .Where(c => c.OrganizationId == source.OrganizationId && c.SourceId == source.Id && (c.EmbeddingModel == null || c.EmbeddingModel != model))
                    .OrderBy(c => c.Id).Take(EmbedRound)
                    .Select(c => new { c.Id, c.Text, c.HeadingPath })
                    .ToListAsync(ct);
                if (batch.Count == 0)
                    break;
                var vectors = await embedder.EmbedAsync(spender, model, [.. batch.Select(c => EmbeddingText(c.HeadingPath, c.Text))],
                    EmbedKey(source, batch[0].Id, item), ct);
                await index.WriteEmbeddingsAsync(source.OrganizationId, [.. batch.Select((c, i) => (c.Id, vectors[i]))], model, ct);
                if (kb.EmbeddingDimensions is null && vectors.Count > 0)
                {
                    kb.EmbeddingDimensions = vectors[0].Length;
                    await db.SaveChangesAsync(ct);
                }
                var left = await db.Set<KnowledgeChunk>().CountAsync(c => c.OrganizationId == source.OrganizationId && c.SourceId == source.Id
                    && (c.EmbeddingModel == null || c.EmbeddingModel != model), ct);
                var done = total == 0 ? 1 : (total - left) / (double)total;
                await MoveAsync(source, SourceStatus.Embedding, IngestionProgress.Chunked + (int)((IngestionProgress.Embedded - IngestionProgress.Chunked) * done), ct);
                await work.RenewLeaseAsync(item.Id, jobs.Value.Lease, ct);
            }
        }
        source.EmbeddedWith = kb.EmbeddingModel;
        source.Steps |= IngestionSteps.Embedded;
        await MoveAsync(source, SourceStatus.Embedding, IngestionProgress.Embedded, ct);
    }

    /// <summary>
    /// One key per round and attempt: a released hold answers its key again for nothing, so a retried call needs a key of
    /// its own; within an attempt, the same round (a duplicate run) is never charged twice.
    /// </summary>
    static string EmbedKey(KnowledgeSource source, long firstChunk, WorkItem item) => $"knowledge:embed:{source.Id:N}:{firstChunk}:{item.Attempts}";

    /// <summary>A chunk's heading path is part of what it means ("Setup › Linux"), so it is embedded with the text.</summary>
    static string EmbeddingText(string? headingPath, string text) => headingPath is { Length: > 0 } ? headingPath + "\n" + text : text;

    async Task IndexAsync(KnowledgeSource source, CancellationToken ct)
    {
        var kb = await db.Set<KnowledgeBase>().AsNoTracking().FirstAsync(k => k.OrganizationId == source.OrganizationId && k.Id == source.KnowledgeBaseId, ct);
        if (kb.EmbeddingModel is { } model && kb.EmbeddingDimensions is { } dimensions)
            await index.EnsureVectorIndexAsync(model, dimensions, ct);
        source.Steps |= IngestionSteps.Indexed;
        source.CompletedAt = clock.GetUtcNow();
        source.LastError = null;
        await MoveAsync(source, SourceStatus.Completed, IngestionProgress.Done, ct);
    }

    async Task<Stream> OpenOriginalAsync(KnowledgeSource source, CancellationToken ct) =>
        await blobs.OpenReadAsync(source.BlobKey, ct) ?? throw new IngestionException("The uploaded file is missing from storage; upload it again.");

    void Move(KnowledgeSource source, SourceStatus status, int percent)
    {
        source.Status = status;
        source.Progress = Math.Clamp(percent, 0, 100);
        source.UpdatedAt = clock.GetUtcNow();
    }

    async Task MoveAsync(KnowledgeSource source, SourceStatus status, int percent, CancellationToken ct)
    {
        Move(source, status, percent);
        await db.SaveChangesAsync(ct);
        await progress.PublishAsync(source, CancellationToken.None);
    }

    async Task FailAsync(KnowledgeSource source, string reason)
    {
        source.LastError = reason.Length > KnowledgeModelConfiguration.ErrorLength ? reason[..KnowledgeModelConfiguration.ErrorLength] : reason;
        try
        {
            await MoveAsync(source, SourceStatus.Failed, source.Progress, CancellationToken.None);
        }
        catch (DbUpdateConcurrencyException)
        {
            // Deleted meanwhile: there is nobody left to tell.
        }
    }

    /// <summary>A transient failure: the source keeps its step and shows why it is waiting.</summary>
    async Task NoteAsync(KnowledgeSource source, string reason)
    {
        source.LastError = reason;
        try
        {
            await MoveAsync(source, source.Status, source.Progress, CancellationToken.None);
        }
        catch (DbUpdateConcurrencyException)
        {
        }
    }

    /// <summary>What a progress reporter needs of the pipeline, which is busy with the step that reports.</summary>
    sealed record ReporterContext(IServiceScopeFactory Scopes, SourceProgress Progress, TimeProvider Clock, TimeSpan Lease, ILogger Log);

    /// <summary>Turns a transcriber's 0–1 progress into the source's bar, saved at most every few seconds, and keeps the work's lease.</summary>
    sealed class ProgressReporter(ReporterContext context, KnowledgeSource source, WorkItem item, int from, int to) : IProgress<double>, IDisposable
    {
        readonly SemaphoreSlim _gate = new(1, 1);
        long _lastTicks;

        public void Report(double value)
        {
            var now = context.Clock.GetTimestamp();
            if (context.Clock.GetElapsedTime(Interlocked.Read(ref _lastTicks), now) < TimeSpan.FromSeconds(2) || !_gate.Wait(0))
                return;
            Interlocked.Exchange(ref _lastTicks, now);
            var percent = from + (int)((to - from) * Math.Clamp(value, 0, 1));
            _ = SaveAsync(percent);
        }

        async Task SaveAsync(int percent)
        {
            try
            {
                // Its own scope: the pipeline's context is busy with the step that reports.
                await using var scope = context.Scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
                var now = context.Clock.GetUtcNow();
                await db.Set<KnowledgeSource>().Where(s => s.OrganizationId == source.OrganizationId && s.Id == source.Id)
                    .ExecuteUpdateAsync(s => s.SetProperty(x => x.Progress, percent).SetProperty(x => x.UpdatedAt, now));
                await scope.ServiceProvider.GetRequiredService<WorkQueue>().RenewLeaseAsync(item.Id, context.Lease, CancellationToken.None);
                source.Progress = percent;
                await context.Progress.PublishAsync(source, CancellationToken.None);
            }
            catch (Exception e)
            {
                LogProgressFailed(context.Log, e, source.Id);
            }
            finally
            {
                _gate.Release();
            }
        }

        public void Dispose() => _gate.Wait(TimeSpan.FromSeconds(5));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ingestion of source {SourceId} failed at {Status}; it will be retried")]
    partial void LogStepFailed(Exception e, Guid sourceId, SourceStatus status);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Progress of source {SourceId} could not be saved")]
    static partial void LogProgressFailed(ILogger logger, Exception e, Guid sourceId);
}
