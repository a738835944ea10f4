using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using AiHub.Chat.Conversations;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Generation.Catalog;
using AiHub.Generation.Jobs;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Json;
using AiHub.Infrastructure.OpenApi;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace AiHub.Generation;

/// <summary>Generation jobs of a workspace, their outputs, and the models and prices to choose from.</summary>
internal static class GenerationEndpoints
{
    public static void MapGenerationRoutes(IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("Generation").RequireAuthorization(OrgPermissions.GenerationsUse);
        org.MapGet("/generation-models", Models).WithName("listGenerationModels")
            .WithDescription("Each model with its kind (image or video), allowed sizes, durations and qualities, and its price in credits per second of video or per image.").WithSummary("The image and video models the organisation can generate with: sizes, durations, qualities and prices.");

        var jobs = org.MapGroup("/workspaces/{wsId:guid}/generations");
        var maxInput = app.ServiceProvider.GetRequiredService<IOptions<GenerationSettings>>().Value.MaxInputImageBytes;
        jobs.MapPost("", Create).WithName("createGeneration")
            .WithDescription("The worst-case cost is held from the payer's credits at once and the real cost is settled when the job ends; failure, a refusal or a cancel gives the hold back. Poll getGeneration (or give a callbackUrl) until status is completed, failed or cancelled.")
            // The reference image rides in the body, so the body may be as large as the image the settings allow, plus the form's fields.
            .WithMetadata(new RequestSizeLimitAttribute(maxInput + FormOverheadBytes)).WithSummary("Starts an image or video generation; answers 202 with the job, which runs in the background.")
            // Both types: routing refuses (415) any content type an endpoint does not declare, and a reference image comes as a form.
            .Accepts<GenerationRequest>("application/json", "multipart/form-data")
            .AcceptsFile("inputImage", "A reference image (PNG, JPEG or WebP) with the request's fields as form fields.", "multipart/form-data")
            .ProducesProblems(StatusCodes.Status402PaymentRequired, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);
        jobs.MapPost("/quote", Quote).WithName("quoteGeneration")
            .WithDescription("Takes the same body as createGeneration; nothing is held or started.").WithSummary("What a generation would hold before it runs: the most it can cost.")
            .Accepts<GenerationRequest>("application/json");
        jobs.MapGet("", List).WithName("listGenerations")
            .WithDescription("Pages with nextCursor; pass it back as cursor for the next page.").WithSummary("The workspace's generations, newest first; filter by kind, status and user.");
        jobs.MapGet("/{id:guid}", Get).WithName("getGeneration")
            .WithDescription("status is queued, in_progress, completed, failed or cancelled; progress runs from 0 to 100; outputs list the files once completed.").WithSummary("A generation with its status, progress, outputs and cost.");
        jobs.MapPost("/{id:guid}/cancel", Cancel).WithName("cancelGeneration")
            .WithDescription("409 when the generation has already ended.").WithSummary("Cancels a queued or running generation; its hold is given back.")
            .ProducesProblems(StatusCodes.Status409Conflict);
        jobs.MapDelete("/{id:guid}", Delete).WithName("deleteGeneration")
            .WithDescription("A generation still running is cancelled first.").WithSummary("Deletes a generation and its files; their storage is given back to the plan.");
        jobs.MapPost("/{id:guid}/remix", Remix).WithName("remixGeneration")
            .WithDescription("Only for video models that support remixing; the new job is held and settled like any other.").WithSummary("Starts a new video from a completed one, changed as the prompt describes.")
            .ProducesProblems(StatusCodes.Status402PaymentRequired, StatusCodes.Status409Conflict);
        jobs.MapGet("/{id:guid}/outputs/{index:int}", Output).WithName("getGenerationOutput").WithSummary("An output file: a redirect to a signed URL in S3 mode, else a stream that honours Range requests.");
        jobs.MapGet("/{id:guid}/outputs/{index:int}/thumbnail", Thumbnail).WithName("getGenerationThumbnail").WithSummary("An output's thumbnail (a video's poster frame), as JPEG.");
    }

    /// <summary>Room for the form's fields beside its image: a 32,000-character prompt is at most 128 KB of UTF-8.</summary>
    const long FormOverheadBytes = 1024 * 1024;

    /// <summary>A JSON request carries no file, so it is never larger than its longest prompt and some fields.</summary>
    const int MaxJsonBytes = 256 * 1024;

    static async Task<Ok<List<GenerationModelResponse>>> Models(Guid orgId, GenerationModels models, CancellationToken ct) =>
        TypedResults.Ok(await models.ListAsync(orgId, ct));

    static async Task<Accepted<GenerationResponse>> Create(Guid orgId, Guid wsId, HttpContext http, ClaimsPrincipal user, AppDbContext db, SpenderResolver spenders,
        Generations generations, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var spender = await spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.GenerationsUse, ct);
        GenerationResponse job;
        if (http.Request.HasFormContentType)
        {
            var form = await ReadFormAsync(http, ct);
            var file = form.Files.GetFile("inputImage");
            await using var content = file?.OpenReadStream();
            job = await generations.SubmitAsync(spender, wsId, FromForm(form), content is null ? null : new UploadedImage(content, file!.FileName), ct);
        }
        else
            job = await generations.SubmitAsync(spender, wsId, await ReadJsonAsync<GenerationRequest>(http, ct), null, ct);
        return TypedResults.Accepted($"/api/orgs/{orgId}/workspaces/{wsId}/generations/{job.Id}", job);
    }

    static async Task<Ok<GenerationQuote>> Quote(Guid orgId, Guid wsId, HttpContext http, AppDbContext db, Generations generations, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await generations.QuoteAsync(orgId, await ReadJsonAsync<GenerationRequest>(http, ct), ct));
    }

    static async Task<Ok<GenerationPage>> List(Guid orgId, Guid wsId, HttpContext http, AppDbContext db, Generations generations, CancellationToken ct,
        string? kind = null, string? status = null, Guid? userId = null, string? cursor = null, int limit = 50)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        GenerationKind? k = kind is null ? null : Enum.TryParse<GenerationKind>(kind, ignoreCase: true, out var parsed) ? parsed
            : throw ProblemException.Invalid("kind", "Filter by image or video.");
        GenerationStatus? s = status is null ? null : GenerationStatuses.Parse(status)
            ?? throw ProblemException.Invalid("status", "Filter by queued, in_progress, completed, failed or cancelled.");
        return TypedResults.Ok(await generations.ListAsync(orgId, wsId, k, s, userId, cursor, limit, ct));
    }

    static async Task<Ok<GenerationResponse>> Get(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, Generations generations, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await generations.GetAsync(orgId, wsId, id, ct));
    }

    static async Task<Ok<GenerationResponse>> Cancel(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, Generations generations, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await generations.CancelAsync(orgId, wsId, id, ct));
    }

    static async Task<NoContent> Delete(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, Generations generations, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await generations.DeleteAsync(orgId, wsId, id, ct);
        return TypedResults.NoContent();
    }

    static async Task<Accepted<GenerationResponse>> Remix(Guid orgId, Guid wsId, Guid id, RemixRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db,
        SpenderResolver spenders, Generations generations, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var spender = await spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.GenerationsUse, ct);
        var job = await generations.RemixAsync(spender, wsId, id, body, ct);
        return TypedResults.Accepted($"/api/orgs/{orgId}/workspaces/{wsId}/generations/{job.Id}", job);
    }

    static async Task<IResult> Output(Guid orgId, Guid wsId, Guid id, int index, HttpContext http, AppDbContext db, Generations generations, IBlobStore blobs,
        CancellationToken ct, bool download = false)
    {
        var (job, output) = await OutputAsync(orgId, wsId, id, index, http, db, generations, ct);
        var name = $"{job.Model}-{job.Id.ToString()[..8]}-{index}.{ImageTypes.Extension(output.ContentType)}";
        return await BlobDownloads.ServeAsync(blobs, output.BlobKey, name, output.ContentType, inline: !download, ct);
    }

    static async Task<IResult> Thumbnail(Guid orgId, Guid wsId, Guid id, int index, HttpContext http, AppDbContext db, Generations generations, IBlobStore blobs,
        CancellationToken ct)
    {
        var (job, output) = await OutputAsync(orgId, wsId, id, index, http, db, generations, ct);
        if (output.ThumbnailBlobKey is null)
            throw Orgs.NotFound("No thumbnail.", "This output has no thumbnail; fetch the output itself.");
        return await BlobDownloads.ServeAsync(blobs, output.ThumbnailBlobKey, $"{job.Id.ToString()[..8]}-{index}.jpg", "image/jpeg", inline: true, ct);
    }

    static async Task<(GenerationJob, GenerationOutput)> OutputAsync(Guid orgId, Guid wsId, Guid id, int index, HttpContext http, AppDbContext db,
        Generations generations, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var job = await generations.FindAsync(orgId, wsId, id, ct);
        var output = (await generations.OutputsAsync(job, ct)).FirstOrDefault(o => o.Index == index)
            ?? throw Orgs.NotFound("No such output.", $"Generation {id} has no output {index}.");
        return (job, output);
    }

    static GenerationRequest FromForm(IFormCollection form)
    {
        string? Text(string name) => form.TryGetValue(name, out var v) && !string.IsNullOrWhiteSpace(v.ToString()) ? v.ToString() : null;
        int? Number(string name) => Text(name) is not { } text ? null
            : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : throw ProblemException.Invalid(name, "Give a whole number.");
        GenerationInputReference? input = null;
        if (Text("inputGenerationId") is { } generation)
            input = new(Guid.TryParse(generation, out var g) ? g : throw ProblemException.Invalid("inputGenerationId", "Give a generation's id."), Number("inputIndex"));
        return new(Text("kind"), Text("model"), Text("prompt"), Number("seconds"), Text("size"), Text("quality"), Number("count"), input, Text("callbackUrl"));
    }

    static async Task<T> ReadJsonAsync<T>(HttpContext http, CancellationToken ct)
    {
        if (!http.Request.HasJsonContentType())
            throw new ProblemException(StatusCodes.Status415UnsupportedMediaType, "Send JSON or a multipart form.",
                "The body is application/json, or multipart/form-data when it carries a reference image.", ProblemTypes.UnsupportedFile);
        if (http.Request.ContentLength > MaxJsonBytes)
            throw JsonTooLarge();
        // Read whole but bounded: the endpoint's own limit is sized for a form with an image, not for JSON.
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxJsonBytes)
                throw JsonTooLarge();
            buffer.Write(chunk, 0, read);
        }
        buffer.Position = 0;
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(buffer, ApiJson.Options, ct) ?? throw ProblemException.Invalid("body", "Send the generation's fields as a JSON object.");
        }
        catch (JsonException e)
        {
            // A value of the wrong type names its field; broken JSON names the body.
            var field = e.Path is { Length: > 2 } path && e.Message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal) ? path[2..] : "body";
            throw ProblemException.Invalid(field, field == "body" ? "The body is not valid JSON: " + e.Message : $"{field} has the wrong type: " + e.Message);
        }
    }

    static ProblemException JsonTooLarge() => new(StatusCodes.Status413PayloadTooLarge, "The request body is too large.",
        $"A generation request in JSON is at most {MaxJsonBytes / 1024} KB; send a reference image as a multipart form's inputImage file.", ProblemTypes.FileTooLarge);

    static async Task<IFormCollection> ReadFormAsync(HttpContext http, CancellationToken ct)
    {
        try
        {
            return await http.Request.ReadFormAsync(ct);
        }
        catch (InvalidDataException e)
        {
            throw ProblemException.Invalid("body", "The multipart form could not be read: " + e.Message);
        }
    }

    /// <summary>The workspace by (org, id); a key bound to another workspace finds nothing.</summary>
    static Task<Workspace> WorkspaceAsync(AppDbContext db, HttpContext http, Guid wsId, CancellationToken ct) =>
        SystemPrompts.WorkspaceOfAsync(db, http.Grant(), wsId, ct);
}
