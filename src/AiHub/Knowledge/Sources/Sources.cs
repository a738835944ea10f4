using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge.Ingestion;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Sources;

internal sealed record SourceResponse(
    Guid Id, Guid KnowledgeBaseId, Guid WorkspaceId, string Title, SourceOrigin Origin, string? FileName, string? Url,
    SourceFormat? Format, string? ContentType, long SizeBytes, SourceStatus Status, int Progress, int Attempts, string? LastError,
    int? PageCount, double? DurationSeconds, int ChunkCount, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? CompletedAt,
    string DownloadUrl, string? TranscriptUrl);

internal sealed record ImportRequest(string? Url, string? Title);

internal sealed record UploadStartRequest(string? FileName, long? SizeBytes, string? Title);

/// <param name="PartBytes">Every part but the last is exactly this long.</param>
internal sealed record UploadResponse(Guid Id, Guid SourceId, string FileName, long SizeBytes, long PartBytes, int PartCount,
    IReadOnlyList<UploadedPart> Received, DateTimeOffset ExpiresAt);

internal sealed record UploadedPart(int Number, long Size);

/// <summary>
/// The sources of a knowledge base: uploads (whole, or resumable in parts), URL imports, their deletion and retry.
/// Plan limits are checked before any byte is stored, and counted once the content is known.
/// </summary>
internal sealed class KnowledgeSources(
    AppDbContext db,
    IBlobStore blobs,
    IQuotaService quotas,
    WorkQueue work,
    SourceRemoval removal,
    UrlImports imports,
    IOptions<KnowledgeSettings> settings,
    TimeProvider clock)
{
    /// <summary>A whole file in one request: streamed to the blob store, sniffed, counted, then queued for ingestion.</summary>
    public async Task<KnowledgeSource> UploadAsync(KnowledgeBase kb, Guid userId, string? fileName, Stream content, long? declaredBytes, CancellationToken ct)
    {
        var name = FileNameOf(fileName);
        var max = await CheckRoomAsync(kb.OrganizationId, declaredBytes, name, ct);
        var source = NewSource(kb, userId, SourceOrigin.Upload, name, null);
        long size;
        try
        {
            size = await blobs.PutAsync(source.BlobKey, content, max.Bytes, ct);
        }
        catch (BlobTooLargeException)
        {
            throw max.TooLarge();
        }
        return await AcceptAsync(source, size, ct);
    }

    public async Task<UploadResponse> StartUploadAsync(KnowledgeBase kb, Guid userId, UploadStartRequest body, CancellationToken ct)
    {
        var name = FileNameOf(body.FileName);
        if (body.SizeBytes is not { } size || size < 1)
            throw ProblemException.Invalid("sizeBytes", "Give the file's size in bytes (at least 1).");
        var max = await CheckRoomAsync(kb.OrganizationId, size, name, ct);
        if (size > max.Bytes)
            throw max.TooLarge();
        var source = NewSource(kb, userId, SourceOrigin.Upload, name, body.Title);
        source.Status = SourceStatus.Uploading;
        source.SizeBytes = size;
        var now = clock.GetUtcNow();
        var session = new UploadSession
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = kb.OrganizationId,
            WorkspaceId = kb.WorkspaceId,
            KnowledgeBaseId = kb.Id,
            SourceId = source.Id,
            CreatedBy = userId,
            SizeBytes = size,
            PartBytes = Math.Max(settings.Value.UploadPartBytes, blobs.MinPartBytes),
            MultipartId = await blobs.StartMultipartAsync(source.BlobKey, ct),
            CreatedAt = now,
            ExpiresAt = now + settings.Value.UploadLifetime,
        };
        db.Add(source);
        db.Add(session);
        await db.SaveChangesAsync(ct);
        return Describe(session, name, []);
    }

    public async Task<UploadResponse> UploadStatusAsync(Guid orgId, Guid workspaceId, Guid uploadId, CancellationToken ct)
    {
        var (session, source) = await SessionAsync(orgId, workspaceId, uploadId, ct);
        var parts = await UploadStepAsync(() => blobs.ListPartsAsync(source.BlobKey, session.MultipartId, ct));
        return Describe(session, source.FileName ?? source.Title, parts);
    }

    /// <summary>One part; sending a part again replaces it, so a client resumes by sending what <see cref="UploadStatusAsync"/> lacks.</summary>
    public async Task<UploadedPart> PutPartAsync(Guid orgId, Guid workspaceId, Guid uploadId, int number, Stream content, long? length, CancellationToken ct)
    {
        var (session, source) = await SessionAsync(orgId, workspaceId, uploadId, ct);
        var count = PartCount(session);
        if (number < 1 || number > count)
            throw ProblemException.Invalid("partNumber", $"This upload has parts 1 to {count}.");
        var expected = number < count ? session.PartBytes : session.SizeBytes - session.PartBytes * (count - 1);
        if (length is { } sent && sent != expected)
            throw ProblemException.Invalid("body", $"Part {number} is {expected:N0} bytes; {sent:N0} were sent.");
        // Buffered to a temp file so that a short or long part is refused before it reaches the store.
        var temp = Path.GetTempFileName();
        try
        {
            await using (var file = new FileStream(temp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose))
            {
                await CopyAtMostAsync(content, file, expected, ct);
                if (file.Length != expected)
                    throw ProblemException.Invalid("body", $"Part {number} is {expected:N0} bytes; {file.Length:N0} arrived.");
                file.Position = 0;
                var part = await UploadStepAsync(() => blobs.PutPartAsync(source.BlobKey, session.MultipartId, number, file, expected, ct));
                return new UploadedPart(part.Number, part.Size);
            }
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public async Task<KnowledgeSource> CompleteUploadAsync(Guid orgId, Guid workspaceId, Guid uploadId, CancellationToken ct)
    {
        var (session, source) = await SessionAsync(orgId, workspaceId, uploadId, ct);
        var parts = await UploadStepAsync(() => blobs.ListPartsAsync(source.BlobKey, session.MultipartId, ct));
        var count = PartCount(session);
        var missing = Enumerable.Range(1, count).Except(parts.Select(p => p.Number)).ToList();
        if (missing.Count > 0)
            throw new ProblemException(StatusCodes.Status409Conflict, "The upload is not complete.",
                $"Parts {string.Join(", ", missing.Take(20))}{(missing.Count > 20 ? ", …" : "")} have not arrived; send them, then complete again.",
                ProblemTypes.Conflict);
        // The session is claimed by deleting it: of two completes at once (a client retrying), only one goes on.
        if (await db.Set<UploadSession>().Where(u => u.OrganizationId == orgId && u.Id == uploadId).ExecuteDeleteAsync(ct) == 0)
            throw new ProblemException(StatusCodes.Status409Conflict, "The upload is already complete.",
                "Another request completed this upload; its source is being ingested.", ProblemTypes.Conflict);
        db.Entry(session).State = EntityState.Detached;
        var size = await UploadStepAsync(() => blobs.CompleteMultipartAsync(source.BlobKey, session.MultipartId, parts.OrderBy(p => p.Number).ToList(), ct));
        return await AcceptAsync(source, size, ct);
    }

    public async Task AbortUploadAsync(Guid orgId, Guid workspaceId, Guid uploadId, CancellationToken ct)
    {
        var (session, source) = await SessionAsync(orgId, workspaceId, uploadId, ct);
        await blobs.AbortMultipartAsync(source.BlobKey, session.MultipartId, ct);
        db.Remove(session);
        db.Remove(source);
        await db.SaveChangesAsync(ct);
    }

    /// <summary>A page or file to fetch: queued at once; the fetch itself runs as the first step of ingestion, through the outbound policy.</summary>
    public async Task<KnowledgeSource> ImportAsync(KnowledgeBase kb, Guid userId, ImportRequest body, CancellationToken ct)
    {
        var url = imports.Validate(body.Url);
        await CheckRoomAsync(kb.OrganizationId, null, url.AbsolutePath, ct);
        var source = NewSource(kb, userId, SourceOrigin.Url, null, body.Title ?? url.Host + url.AbsolutePath.TrimEnd('/'));
        source.Url = url.AbsoluteUri;
        db.Add(source);
        IngestionPipeline.Queue(work, source);
        await db.SaveChangesAsync(ct);
        work.DispatchAdded();
        return source;
    }

    public async Task<KnowledgeSource> RetryAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct)
    {
        var source = await FindAsync(orgId, workspaceId, id, ct);
        if (source.Status != SourceStatus.Failed)
            throw new ProblemException(StatusCodes.Status409Conflict, "Only a failed source can be retried.",
                $"This source is {ApiJsonName(source.Status)}.", ProblemTypes.Conflict);
        // Conditional, so that two retries at once queue the work once.
        var now = clock.GetUtcNow();
        var retried = await db.Set<KnowledgeSource>()
            .Where(s => s.OrganizationId == orgId && s.Id == id && s.Status == SourceStatus.Failed)
            .ExecuteUpdateAsync(s => s
                .SetProperty(x => x.Status, SourceStatus.Pending)
                .SetProperty(x => x.Attempts, 0)
                .SetProperty(x => x.LastError, (string?)null)
                .SetProperty(x => x.UpdatedAt, now), ct);
        if (retried == 0)
            throw new ProblemException(StatusCodes.Status409Conflict, "The source is already being retried.", "Another request retried it first.", ProblemTypes.Conflict);
        db.Entry(source).State = EntityState.Detached;
        source = await FindAsync(orgId, workspaceId, id, ct);
        IngestionPipeline.Queue(work, source);
        await db.SaveChangesAsync(ct);
        work.DispatchAdded();
        return source;
    }

    public async Task DeleteAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct)
    {
        var source = await FindAsync(orgId, workspaceId, id, ct);
        await removal.RemoveAsync(source, ct);
        await db.SaveChangesAsync(ct);
    }

    public async Task<KnowledgeSource> FindAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct) =>
        await db.Set<KnowledgeSource>().FirstOrDefaultAsync(s => s.OrganizationId == orgId && s.WorkspaceId == workspaceId && s.Id == id, ct)
        ?? throw Orgs.NotFound("No such source.", $"There is no source {id} in this workspace.");

    public static SourceResponse Describe(KnowledgeSource s)
    {
        var baseUrl = $"/api/orgs/{s.OrganizationId}/workspaces/{s.WorkspaceId}/sources/{s.Id}";
        return new(s.Id, s.KnowledgeBaseId, s.WorkspaceId, s.Title, s.Origin, s.FileName, s.Url, s.Format, s.ContentType, s.SizeBytes, s.Status,
            s.Progress, s.Attempts, s.LastError, s.PageCount, s.DurationSeconds, s.ChunkCount, s.CreatedAt, s.UpdatedAt, s.CompletedAt,
            baseUrl + "/content", s.Format is SourceFormat.Audio or SourceFormat.Video ? baseUrl + "/transcript" : null);
    }

    static string ApiJsonName(SourceStatus status) => Infrastructure.Json.ApiJson.Name(status);

    KnowledgeSource NewSource(KnowledgeBase kb, Guid userId, SourceOrigin origin, string? fileName, string? title)
    {
        var now = clock.GetUtcNow();
        var id = Guid.CreateVersion7(now);
        return new KnowledgeSource
        {
            Id = id,
            OrganizationId = kb.OrganizationId,
            WorkspaceId = kb.WorkspaceId,
            KnowledgeBaseId = kb.Id,
            Title = TitleOf(title, fileName),
            Origin = origin,
            FileName = fileName,
            BlobKey = SourceBlobs.Original(kb.OrganizationId, id),
            Status = SourceStatus.Pending,
            Steps = origin == SourceOrigin.Upload ? IngestionSteps.Fetched : IngestionSteps.None,
            CreatedBy = userId,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    /// <summary>The content is stored: sniff what it is, count it against the plan, and queue its ingestion; refused content leaves nothing behind.</summary>
    async Task<KnowledgeSource> AcceptAsync(KnowledgeSource source, long size, CancellationToken ct)
    {
        try
        {
            if (size == 0)
                throw ProblemException.Invalid("file", "The file is empty.");
            var sniffed = await SniffAsync(source, ct);
            source.Format = sniffed.Format;
            source.ContentType = sniffed.ContentType;
            source.SizeBytes = size;
            await SourceQuotas.CountAsync(quotas, source, ct);
            source.Status = SourceStatus.Pending;
            source.UpdatedAt = clock.GetUtcNow();
            if (db.Entry(source).State == EntityState.Detached)
                db.Add(source);
            IngestionPipeline.Queue(work, source);
            await db.SaveChangesAsync(ct);
            work.DispatchAdded();
            return source;
        }
        catch
        {
            await blobs.DeleteAsync(source.BlobKey, CancellationToken.None);
            if (db.Entry(source).State != EntityState.Detached)
            {
                db.ChangeTracker.Clear();
                await db.Set<KnowledgeSource>().Where(s => s.OrganizationId == source.OrganizationId && s.Id == source.Id).ExecuteDeleteAsync(CancellationToken.None);
            }
            throw;
        }
    }

    async Task<SniffedSource> SniffAsync(KnowledgeSource source, CancellationToken ct)
    {
        await using var stream = await blobs.OpenReadAsync(source.BlobKey, ct)
            ?? throw new InvalidOperationException($"The blob of source {source.Id} is missing right after it was stored.");
        var sniffed = await SourceFormats.SniffAsync(stream, source.FileName, ct);
        return sniffed.Format is not null ? sniffed : throw new ProblemException(StatusCodes.Status415UnsupportedMediaType, "This kind of file cannot be added.",
            sniffed.Reason + " " + SourceFormats.Supported, ProblemTypes.UnsupportedFile);
    }

    sealed record Room(long Bytes, string Limit, string Detail)
    {
        public ProblemException TooLarge() => new(StatusCodes.Status403Forbidden, "The file is too large.", Detail, Limit);
    }

    /// <summary>The most this upload may be: the deployment's and the plan's file size, and the storage the plan has left.</summary>
    async Task<Room> CheckRoomAsync(Guid orgId, long? declared, string? name, CancellationToken ct)
    {
        var cap = settings.Value.MaxFileBytes;
        var room = new Room(cap, ProblemTypes.FileTooLarge, $"Files can be at most {QuotaService.Bytes(cap)} here.");
        if (await PlanFileLimitAsync(orgId, ct) is { } planMax && planMax < room.Bytes)
            room = new Room(planMax, ProblemTypes.FileTooLarge, $"Your plan takes files of at most {QuotaService.Bytes(planMax)}. Upgrade the plan to add larger files.");
        var storage = await quotas.GetAsync(orgId, QuotaKind.StorageBytes, ct);
        if (storage.Remaining is { } left && left < room.Bytes)
            room = new Room(left, ProblemTypes.StorageLimitExceeded, storage.Message);
        if (room.Bytes <= 0 || declared > room.Bytes)
            throw room.TooLarge();
        if (SourceFormats.LooksLikeVideo(name) && (await quotas.GetAsync(orgId, QuotaKind.Videos, ct)) is { Allowed: false } videos)
            throw new ProblemException(StatusCodes.Status403Forbidden, "The plan's video limit is reached.", videos.Message, ProblemTypes.VideoLimitExceeded);
        return room;
    }

    async Task<long?> PlanFileLimitAsync(Guid orgId, CancellationToken ct) => (await PlanCatalog.PlanOfAsync(db, orgId, ct)).MaxFileBytes;

    async Task<(UploadSession Session, KnowledgeSource Source)> SessionAsync(Guid orgId, Guid workspaceId, Guid uploadId, CancellationToken ct)
    {
        var session = await db.Set<UploadSession>().FirstOrDefaultAsync(u => u.OrganizationId == orgId && u.WorkspaceId == workspaceId && u.Id == uploadId, ct);
        if (session is null || session.ExpiresAt < clock.GetUtcNow())
            throw Orgs.NotFound("No such upload.", $"There is no upload {uploadId} in progress in this workspace (it may have completed or expired).");
        var source = await db.Set<KnowledgeSource>().FirstAsync(s => s.OrganizationId == orgId && s.Id == session.SourceId, ct);
        return (session, source);
    }

    /// <summary>The store's refusal of an upload step (completed or aborted meanwhile, by a second request) is a conflict, not a failure.</summary>
    static async Task<T> UploadStepAsync<T>(Func<Task<T>> step)
    {
        try
        {
            return await step();
        }
        catch (BlobUploadException e)
        {
            throw new ProblemException(StatusCodes.Status409Conflict, "The upload cannot go on.", e.Message, ProblemTypes.Conflict);
        }
    }

    static int PartCount(UploadSession s) => (int)((s.SizeBytes + s.PartBytes - 1) / s.PartBytes);

    static UploadResponse Describe(UploadSession s, string name, IReadOnlyList<BlobPart> parts) =>
        new(s.Id, s.SourceId, name, s.SizeBytes, s.PartBytes, PartCount(s), [.. parts.Select(p => new UploadedPart(p.Number, p.Size))], s.ExpiresAt);

    static async Task CopyAtMostAsync(Stream from, Stream to, long most, CancellationToken ct)
    {
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = await from.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            if (total > most)
                throw ProblemException.Invalid("body", $"The part is longer than its {most:N0} bytes.");
            await to.WriteAsync(buffer.AsMemory(0, read), ct);
        }
    }

    static string FileNameOf(string? fileName)
    {
        var name = Path.GetFileName(fileName?.Replace('\\', '/').Trim() ?? "");
        if (string.IsNullOrEmpty(name))
            throw ProblemException.Invalid("fileName", "Give the file's name.");
        return name.Length > KnowledgeModelConfiguration.TitleLength ? name[^KnowledgeModelConfiguration.TitleLength..] : name;
    }

    static string TitleOf(string? title, string? fileName)
    {
        var chosen = string.IsNullOrWhiteSpace(title) ? Path.GetFileNameWithoutExtension(fileName ?? "") : title.Trim();
        if (string.IsNullOrEmpty(chosen))
            chosen = fileName ?? "Untitled";
        return chosen.Length > KnowledgeModelConfiguration.TitleLength ? chosen[..KnowledgeModelConfiguration.TitleLength] : chosen;
    }
}

/// <summary>Where a source's files live in the blob store.</summary>
internal static class SourceBlobs
{
    public static string Prefix(Guid orgId, Guid sourceId) => $"orgs/{orgId:N}/sources/{sourceId:N}/";

    public static string Original(Guid orgId, Guid sourceId) => Prefix(orgId, sourceId) + "original";

    /// <summary>The extracted document (JSON), kept so that chunking again never extracts again.</summary>
    public static string Extracted(Guid orgId, Guid sourceId) => Prefix(orgId, sourceId) + "extracted.json";
}

/// <summary>A source's storage bytes and, for a recording, its place among the plan's videos.</summary>
internal static class SourceQuotas
{
    static string BytesKey(Guid sourceId) => $"source:{sourceId}:bytes";

    static string VideoKey(Guid sourceId) => $"source:{sourceId}:video";

    public static async Task CountAsync(IQuotaService quotas, KnowledgeSource source, CancellationToken ct)
    {
        await quotas.EnsureAsync(source.OrganizationId, QuotaKind.StorageBytes, source.SizeBytes, BytesKey(source.Id), ct);
        if (source.Format == SourceFormat.Video)
        {
            try
            {
                await quotas.EnsureAsync(source.OrganizationId, QuotaKind.Videos, 1, VideoKey(source.Id), ct);
            }
            catch
            {
                await quotas.ReleaseAsync(source.OrganizationId, QuotaKind.StorageBytes, BytesKey(source.Id), CancellationToken.None);
                throw;
            }
        }
        source.QuotaCounted = true;
    }

    public static async Task ReleaseAsync(IQuotaService quotas, KnowledgeSource source, CancellationToken ct)
    {
        if (!source.QuotaCounted)
            return;
        await quotas.ReleaseAsync(source.OrganizationId, QuotaKind.StorageBytes, BytesKey(source.Id), ct);
        if (source.Format == SourceFormat.Video)
            await quotas.ReleaseAsync(source.OrganizationId, QuotaKind.Videos, VideoKey(source.Id), ct);
        source.QuotaCounted = false;
    }
}

/// <summary>Removes a source with everything it holds: chunks (and so its index entries), transcript, blobs and its plan counts.</summary>
internal sealed class SourceRemoval(AppDbContext db, IBlobStore blobs, IQuotaService quotas)
{
    public async Task RemoveAsync(KnowledgeSource source, CancellationToken ct)
    {
        await db.Set<KnowledgeChunk>().Where(c => c.OrganizationId == source.OrganizationId && c.SourceId == source.Id).ExecuteDeleteAsync(ct);
        await SourceQuotas.ReleaseAsync(quotas, source, ct);
        await blobs.DeletePrefixAsync(SourceBlobs.Prefix(source.OrganizationId, source.Id), ct);
        db.Remove(source);
    }
}
