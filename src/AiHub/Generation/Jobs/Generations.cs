using System.Security.Cryptography;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Generation.Catalog;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Jobs;
using AiHub.Infrastructure.Json;
using AiHub.Infrastructure.Money;
using AiHub.Infrastructure.Outbound;
using AiHub.Organizations;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Generation.Jobs;

/// <summary>A reference image sent with the request (a multipart form's <c>inputImage</c> part).</summary>
internal sealed record UploadedImage(Stream Content, string? FileName);

/// <summary>
/// Generation jobs: submit (validate, hold the worst case, queue), read, cancel, delete and remix. The work itself runs
/// in <see cref="GenerationWork"/>; a request never waits for the provider.
/// </summary>
internal sealed class Generations(
    AppDbContext db,
    GenerationModels models,
    GenerationPrices prices,
    CreditGate credits,
    IQuotaService quotas,
    IBlobStore blobs,
    WorkQueue work,
    OutboundPolicy outbound,
    GenerationProgress progress,
    GenerationFinish finish,
    IDataProtectionProvider protection,
    IOptions<GenerationSettings> settings,
    TimeProvider clock)
{
    public const string CallbackProtectorPurpose = "AiHub.Generation.CallbackSecrets";

    public async Task<GenerationResponse> SubmitAsync(Spender spender, Guid workspaceId, GenerationRequest body, UploadedImage? upload, CancellationToken ct)
    {
        var kind = ParseKind(body.Kind);
        var choice = await models.FindAsync(spender.OrganizationId, body.Model, kind, "model", ct);
        var spec = choice.Spec;
        var valid = Validate(body, spec);
        if (body.InputImage is not null && upload is not null)
            throw ProblemException.Invalid("inputImage", "Send the reference image as a file or name an earlier generation's output, not both.");
        if ((body.InputImage is not null || upload is not null) && !spec.AcceptsInputImage)
            throw ProblemException.Invalid("inputImage", $"{choice.Id} does not take a reference image.");
        var callback = ValidateCallback(body.CallbackUrl);
        var quote = await prices.QuoteAsync(choice.Endpoint.Name, spec.Kind, choice.Model, valid.Size, valid.Seconds, valid.Quality, valid.Count, ct);
        (GenerationJob, GenerationOutput)? input = body.InputImage is { } reference ? await InputOutputAsync(spender.OrganizationId, workspaceId, reference, ct) : null;
        await RequireStorageAsync(spender.OrganizationId, ct);
        return await CreateAsync(spender, workspaceId, choice, body.Prompt!.Trim(), valid, quote, callback, input, upload, remixOf: null, ct);
    }

    public async Task<GenerationResponse> RemixAsync(Spender spender, Guid workspaceId, Guid id, RemixRequest body, CancellationToken ct)
    {
        var source = await FindAsync(spender.OrganizationId, workspaceId, id, ct);
        var choice = await models.FindAsync(spender.OrganizationId, $"{source.Provider}/{source.Model}", source.Kind, "model", ct);
        if (!choice.Spec.Remix)
            throw ProblemException.Invalid("id", $"{choice.Id} cannot remix a video.");
        if (source.Status != GenerationStatus.Completed || source.ProviderJobId is null)
            throw new ProblemException(StatusCodes.Status409Conflict, "Only a completed video can be remixed.",
                $"This generation is {GenerationStatuses.Name(source.Status)}.", ProblemTypes.Conflict);
        if (string.IsNullOrWhiteSpace(body.Prompt))
            throw ProblemException.Invalid("prompt", "Describe the change to make to the video.");
        if (body.Prompt.Trim().Length > choice.Spec.MaxPromptLength)
            throw ProblemException.Invalid("prompt", $"{choice.Id} takes prompts of at most {choice.Spec.MaxPromptLength:N0} characters.");
        var valid = new ValidRequest(source.Size, source.Seconds, source.Quality, 1);
        var callback = ValidateCallback(body.CallbackUrl);
        var quote = await prices.QuoteAsync(choice.Endpoint.Name, source.Kind, choice.Model, valid.Size, valid.Seconds, valid.Quality, 1, ct);
        await RequireStorageAsync(spender.OrganizationId, ct);
        return await CreateAsync(spender, workspaceId, choice, body.Prompt.Trim(), valid, quote, callback, null, null, source, ct);
    }

    async Task<GenerationResponse> CreateAsync(Spender spender, Guid workspaceId, GenerationModelChoice choice, string prompt, ValidRequest valid, long quote,
        Uri? callback, (GenerationJob Job, GenerationOutput Output)? input, UploadedImage? upload, GenerationJob? remixOf, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var id = Guid.CreateVersion7(now);
        var org = spender.OrganizationId;
        string? inputKey = null, inputType = null;
        long inputBytes = 0;
        if (upload is not null || input is not null)
        {
            inputKey = GenerationBlobs.Input(org, id);
            (inputBytes, inputType) = await StoreInputAsync(inputKey, upload, input?.Output, ct);
        }
        CreditHold? hold = null;
        try
        {
            hold = await credits.HoldAsync(spender with { WorkspaceId = workspaceId }, quote, HoldKey(id), null, 1,
                settings.Value.MaxJobDuration + TimeSpan.FromHours(1), ct);
            string? secret = null;
            var job = new GenerationJob
            {
                Id = id, OrganizationId = org, WorkspaceId = workspaceId, UserId = spender.UserId, ApiKeyId = spender.ApiKeyId, Channel = spender.Channel,
                ClientId = spender.ClientId, Kind = choice.Spec.Kind, Provider = choice.Endpoint.Name, Model = choice.Model, Prompt = prompt, Size = valid.Size,
                Seconds = valid.Seconds, Quality = valid.Quality, Count = valid.Count, InputBlobKey = inputKey, InputContentType = inputType,
                InputGenerationId = input?.Job.Id, RemixOfId = remixOf?.Id, Status = GenerationStatus.Queued, HoldId = hold.Id, HeldMicros = hold.AmountMicros,
                StorageBytes = inputBytes, CallbackUrl = callback?.AbsoluteUri,
                CallbackSecretProtected = callback is null ? null : Protector().Protect(secret = "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24))),
                CreatedAt = now, UpdatedAt = now,
            };
            if (inputBytes > 0)
            {
                await quotas.EnsureAsync(org, QuotaKind.StorageBytes, inputBytes, GenerationWork.StorageKey(id, "input"), ct);
                job.QuotaCounted = true;
            }
            db.Add(job);
            GenerationWork.Queue(work, job);
            await db.SaveChangesAsync(ct);
            work.DispatchAdded();
            await progress.PublishAsync(job, [], ct);
            return Describe(job, []) with { CallbackSecret = secret };
        }
        catch
        {
            // Refused or failed before it was queued: nothing stays held, stored or counted.
            if (hold is not null)
                await credits.ReleaseAsync(hold, CancellationToken.None);
            if (inputKey is not null)
            {
                await blobs.DeleteAsync(inputKey, CancellationToken.None);
                await quotas.ReleaseAsync(org, QuotaKind.StorageBytes, GenerationWork.StorageKey(id, "input"), CancellationToken.None);
            }
            throw;
        }
    }

    public async Task<GenerationResponse> GetAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct)
    {
        var job = await FindAsync(orgId, workspaceId, id, ct);
        return Describe(job, await OutputsAsync(job, ct));
    }

    /// <param name="cursor">The <see cref="GenerationPage.NextCursor"/> of the page before: jobs older than it.</param>
    public async Task<GenerationPage> ListAsync(Guid orgId, Guid workspaceId, GenerationKind? kind, GenerationStatus? status, Guid? userId, string? cursor,
        int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 100)
            throw ProblemException.Invalid("limit", "Ask for 1 to 100 generations a page.");
        Guid? before = null;
        if (cursor is not null)
            before = Guid.TryParse(cursor, out var c) ? c : throw ProblemException.Invalid("cursor", "Pass the nextCursor of the page before, as it was given.");
        var query = db.Set<GenerationJob>().AsNoTracking().Where(j => j.OrganizationId == orgId && j.WorkspaceId == workspaceId);
        if (kind is { } k)
            query = query.Where(j => j.Kind == k);
        if (status is { } s)
            query = query.Where(j => j.Status == s);
        if (userId is { } u)
            query = query.Where(j => j.UserId == u);
        if (before is { } b)
            query = query.Where(j => j.Id.CompareTo(b) < 0);
        var jobs = await query.OrderByDescending(j => j.Id).Take(limit + 1).ToListAsync(ct);
        var page = jobs.Take(limit).ToList();
        var ids = page.Select(j => j.Id).ToList();
        var outputs = (await db.Set<GenerationOutput>().AsNoTracking().Where(o => o.OrganizationId == orgId && ids.Contains(o.JobId)).ToListAsync(ct))
            .ToLookup(o => o.JobId);
        return new([.. page.Select(j => Describe(j, [.. outputs[j.Id].OrderBy(o => o.Index)]))], jobs.Count > limit ? page[^1].Id.ToString() : null);
    }

    /// <summary>Stops a queued or running job and gives its hold back; a job that ended first is a 409.</summary>
    public async Task<GenerationResponse> CancelAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct)
    {
        var job = await FindAsync(orgId, workspaceId, id, ct);
        var now = clock.GetUtcNow();
        // The finishing work commits with the cancel, so a crash between the two cannot leave the hold and usage record behind.
        await using (var tx = await db.Database.BeginTransactionAsync(ct))
        {
            // Conditional, so that a job completing at the same moment is either completed or cancelled, never both.
            var cancelled = await db.Set<GenerationJob>()
                .Where(j => j.OrganizationId == orgId && j.Id == id && (j.Status == GenerationStatus.Queued || j.Status == GenerationStatus.InProgress))
                .ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, GenerationStatus.Cancelled).SetProperty(j => j.UpdatedAt, now)
                    .SetProperty(j => j.CompletedAt, now), ct);
            if (cancelled == 0)
            {
                await db.Entry(job).ReloadAsync(ct);
                throw new ProblemException(StatusCodes.Status409Conflict, "The generation has already ended.",
                    $"It is {GenerationStatuses.Name(job.Status)}; only a queued or running generation can be cancelled.", ProblemTypes.Conflict);
            }
            GenerationWork.QueueFinish(work, job);
            await db.SaveChangesAsync(CancellationToken.None);
            await tx.CommitAsync(CancellationToken.None);
        }
        work.DispatchAdded();
        await db.Entry(job).ReloadAsync(CancellationToken.None);
        // The balance comes back now, not when the finishing work runs; that work then finds the hold closed.
        await finish.SettleAsync(job, CancellationToken.None);
        var outputs = await OutputsAsync(job, ct);
        await progress.PublishAsync(job, outputs, CancellationToken.None);
        return Describe(job, outputs);
    }

    /// <summary>Removes a job with its files and gives their storage back; a running job is cancelled first.</summary>
    public async Task DeleteAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct)
    {
        var job = await FindAsync(orgId, workspaceId, id, ct);
        if (!job.IsFinished)
        {
            try
            {
                await CancelAsync(orgId, workspaceId, id, ct);
            }
            catch (ProblemException e) when (e.Status == StatusCodes.Status409Conflict)
            {
                // It ended meanwhile: deleting goes on.
            }
            db.ChangeTracker.Clear();
            job = await FindAsync(orgId, workspaceId, id, ct);
        }
        // Its finishing work finds no job once it is deleted: the money is settled here, the same way and once.
        await finish.SettleAsync(job, ct);
        // Claimed by deleting the row: of two deletes at once, the second finds nothing, as it would a moment later.
        if (await db.Set<GenerationJob>().Where(j => j.OrganizationId == orgId && j.Id == id).ExecuteDeleteAsync(ct) == 0)
            throw Orgs.NotFound("No such generation.", $"There is no generation {id} in this workspace.");
        await blobs.DeletePrefixAsync(GenerationBlobs.Prefix(orgId, id), ct);
        await GenerationWork.ReleaseStorageAsync(quotas, job, ct);
        await progress.DeletedAsync(job, CancellationToken.None);
    }

    public async Task<GenerationQuote> QuoteAsync(Guid orgId, GenerationRequest body, CancellationToken ct)
    {
        var choice = await models.FindAsync(orgId, body.Model, ParseKind(body.Kind), "model", ct);
        var valid = Validate(body with { Prompt = body.Prompt ?? "-" }, choice.Spec);
        var micros = await prices.QuoteAsync(choice.Endpoint.Name, choice.Spec.Kind, choice.Model, valid.Size, valid.Seconds, valid.Quality, valid.Count, ct);
        return new(choice.Id, choice.Spec.Kind, valid.Size, valid.Seconds, valid.Quality, valid.Count, Micros.ToCredits(micros), micros);
    }

    public async Task<GenerationJob> FindAsync(Guid orgId, Guid workspaceId, Guid id, CancellationToken ct) =>
        await db.Set<GenerationJob>().FirstOrDefaultAsync(j => j.OrganizationId == orgId && j.WorkspaceId == workspaceId && j.Id == id, ct)
        ?? throw Orgs.NotFound("No such generation.", $"There is no generation {id} in this workspace.");

    public async Task<List<GenerationOutput>> OutputsAsync(GenerationJob job, CancellationToken ct) =>
        await db.Set<GenerationOutput>().AsNoTracking().Where(o => o.OrganizationId == job.OrganizationId && o.JobId == job.Id).OrderBy(o => o.Index).ToListAsync(ct);

    public static string HoldKey(Guid jobId) => $"generation:{jobId}";

    public static GenerationResponse Describe(GenerationJob j, IReadOnlyList<GenerationOutput> outputs)
    {
        var baseUrl = $"/api/orgs/{j.OrganizationId}/workspaces/{j.WorkspaceId}/generations/{j.Id}";
        var held = j.IsFinished ? 0 : j.HeldMicros;
        return new(j.Id, j.WorkspaceId, j.UserId, j.Kind, $"{j.Provider}/{j.Model}", j.Prompt, j.Size, j.Seconds, j.Quality, j.Count, j.Status, j.Progress,
            j.Error is null ? null : new GenerationErrorResponse(j.ErrorCode ?? GenerationErrors.ProviderFailed, j.Error),
            [.. outputs.Select(o => new GenerationOutputResponse(o.Index, o.ContentType, o.SizeBytes, o.Width, o.Height, o.DurationSeconds,
                $"{baseUrl}/outputs/{o.Index}", o.ThumbnailBlobKey is null ? null : $"{baseUrl}/outputs/{o.Index}/thumbnail"))],
            new GenerationCostResponse(Micros.ToCredits(held), held, Micros.ToCredits(j.CostMicros), j.CostMicros),
            j.RemixOfId, j.InputGenerationId, j.InputBlobKey is not null, j.CallbackUrl, j.CreatedAt, j.UpdatedAt, j.CompletedAt);
    }

    sealed record ValidRequest(string Size, int? Seconds, string? Quality, int Count);

    static GenerationKind? ParseKind(string? kind) => kind?.Trim().ToLowerInvariant() switch
    {
        null or "" => null,
        "image" => GenerationKind.Image,
        "video" => GenerationKind.Video,
        _ => throw ProblemException.Invalid("kind", $"'{kind}' is not a kind of generation; use image or video."),
    };

    static ValidRequest Validate(GenerationRequest body, GenerationModelSpec spec)
    {
        if (string.IsNullOrWhiteSpace(body.Prompt))
            throw ProblemException.Invalid("prompt", "Describe what to generate.");
        if (body.Prompt.Trim().Length > spec.MaxPromptLength)
            throw ProblemException.Invalid("prompt", $"This model takes prompts of at most {spec.MaxPromptLength:N0} characters.");
        var size = string.IsNullOrWhiteSpace(body.Size) ? spec.DefaultSize : body.Size.Trim().ToLowerInvariant();
        if (!spec.Sizes.Contains(size, StringComparer.OrdinalIgnoreCase))
            throw ProblemException.Invalid("size", $"'{body.Size}' is not a size this model makes; use one of {string.Join(", ", spec.Sizes)}.");
        int? seconds = null;
        if (spec.Kind == GenerationKind.Video)
        {
            seconds = body.Seconds ?? spec.DefaultSeconds;
            if (seconds is not { } s || !spec.Seconds.Contains(s))
                throw ProblemException.Invalid("seconds", $"This model makes videos of {string.Join(", ", spec.Seconds)} seconds.");
        }
        else if (body.Seconds is not null)
            throw ProblemException.Invalid("seconds", "An image has no duration; leave seconds out.");
        string? quality = null;
        if (spec.Qualities.Count > 0)
        {
            quality = string.IsNullOrWhiteSpace(body.Quality) ? spec.DefaultQuality : body.Quality.Trim().ToLowerInvariant();
            if (!spec.Qualities.Contains(quality!, StringComparer.OrdinalIgnoreCase))
                throw ProblemException.Invalid("quality", $"'{body.Quality}' is not a quality of this model; use one of {string.Join(", ", spec.Qualities)}.");
        }
        else if (!string.IsNullOrWhiteSpace(body.Quality))
            throw ProblemException.Invalid("quality", "This model has no quality setting; leave quality out.");
        var count = body.Count ?? 1;
        if (count < 1 || count > spec.MaxCount)
            throw ProblemException.Invalid("count", spec.MaxCount == 1 ? "This model makes one at a time." : $"Ask for 1 to {spec.MaxCount} images.");
        return new(size, seconds, quality, count);
    }

    Uri? ValidateCallback(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
            return null;
        if (url.Length > GenerationModelConfiguration.UrlLength || !Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri))
            throw ProblemException.Invalid("callbackUrl", "Give an absolute http(s) URL.");
        if (outbound.Refuse(uri) is { } why)
            throw ProblemException.Invalid("callbackUrl", "The callback URL " + why);
        return uri;
    }

    async Task RequireStorageAsync(Guid orgId, CancellationToken ct)
    {
        if (await quotas.GetAsync(orgId, QuotaKind.StorageBytes, ct) is { Remaining: <= 0 } full)
            throw new ProblemException(StatusCodes.Status403Forbidden, "The plan's storage is full.", full.Message + " Delete files or generations, or upgrade the plan.",
                ProblemTypes.StorageLimitExceeded);
    }

    async Task<(GenerationJob, GenerationOutput)> InputOutputAsync(Guid orgId, Guid workspaceId, GenerationInputReference reference, CancellationToken ct)
    {
        if (reference.GenerationId is not { } id)
            throw ProblemException.Invalid("inputImage.generationId", "Name the generation whose output to start from.");
        var job = await db.Set<GenerationJob>().AsNoTracking().FirstOrDefaultAsync(j => j.OrganizationId == orgId && j.WorkspaceId == workspaceId && j.Id == id, ct)
            ?? throw ProblemException.Invalid("inputImage.generationId", $"There is no generation {id} in this workspace.");
        var index = reference.Index ?? 0;
        var output = job is { Kind: GenerationKind.Image, Status: GenerationStatus.Completed }
            ? await db.Set<GenerationOutput>().AsNoTracking().FirstOrDefaultAsync(o => o.OrganizationId == orgId && o.JobId == id && o.Index == index, ct)
            : null;
        return output is null
            ? throw ProblemException.Invalid("inputImage", $"Generation {id} has no image output {index}; only a completed image generation's output can be used.")
            : (job, output);
    }

    /// <summary>Copies the reference image under the job, checking that it is a PNG, JPEG or WebP image of allowed size.</summary>
    async Task<(long Bytes, string ContentType)> StoreInputAsync(string key, UploadedImage? upload, GenerationOutput? output, CancellationToken ct)
    {
        await using var source = upload?.Content ?? await blobs.OpenReadAsync(output!.BlobKey, ct)
            ?? throw ProblemException.Invalid("inputImage", "The earlier generation's file is gone.");
        long size;
        try
        {
            size = await blobs.PutAsync(key, source, settings.Value.MaxInputImageBytes, ct);
        }
        catch (BlobTooLargeException)
        {
            var rule = $"Reference images can be at most {Bytes(settings.Value.MaxInputImageBytes)}.";
            throw new ProblemException(StatusCodes.Status413PayloadTooLarge, "The reference image is too large.", rule, ProblemTypes.FileTooLarge)
            {
                Errors = new Dictionary<string, string[]> { ["inputImage"] = [rule] },
            };
        }
        await using var stored = await blobs.OpenReadAsync(key, ct) ?? throw new InvalidOperationException("The reference image vanished right after it was stored.");
        var head = new byte[16];
        var read = await stored.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct);
        if (ImageTypes.Sniff(head.AsSpan(0, read)) is { } type)
            return (size, type);
        await blobs.DeleteAsync(key, CancellationToken.None);
        throw new ProblemException(StatusCodes.Status415UnsupportedMediaType, "The reference image is not an image.",
            "Send a PNG, JPEG or WebP image.", ProblemTypes.UnsupportedFile)
        {
            Errors = new Dictionary<string, string[]> { ["inputImage"] = ["Send a PNG, JPEG or WebP image."] },
        };
    }

    static string Bytes(long bytes) => bytes >= 1024 * 1024 ? $"{bytes / (1024.0 * 1024):0.#} MB" : $"{bytes / 1024.0:0.#} KB";

    IDataProtector Protector() => protection.CreateProtector(CallbackProtectorPurpose);
}

/// <summary>The image formats generation reads and writes, told by their first bytes.</summary>
internal static class ImageTypes
{
    public static string? Sniff(ReadOnlySpan<byte> head) => head switch
    {
        [0x89, (byte)'P', (byte)'N', (byte)'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "image/webp",
        _ => null,
    };

    public static string Extension(string contentType) => contentType switch
    {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        _ => "bin",
    };
}
