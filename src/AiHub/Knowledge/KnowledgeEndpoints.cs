using System.Security.Claims;
using AiHub.Chat.Conversations;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.OpenApi;
using AiHub.Knowledge.Bases;
using AiHub.Knowledge.Sources;
using AiHub.Knowledge.Transcripts;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Net.Http.Headers;

namespace AiHub.Knowledge;

internal sealed record SourcePage(IReadOnlyList<SourceResponse> Sources);

internal sealed record SegmentPatch(string? Text);

/// <summary>Knowledge bases, their sources (uploads, resumable uploads, imports), downloads and transcripts.</summary>
internal static class KnowledgeEndpoints
{
    public static void MapKnowledgeRoutes(IEndpointRouteBuilder app)
    {
        var ws = OrgEndpoints.Org(app).MapGroup("/workspaces/{wsId:guid}").WithTags("Knowledge");
        var read = ws.MapGroup("").RequireAuthorization(OrgPermissions.KnowledgeRead);
        var manage = ws.MapGroup("").RequireAuthorization(OrgPermissions.KnowledgeManage);

        read.MapGet("/knowledge-bases", ListBases).WithSummary("The workspace's knowledge bases, with which is main and which you focus on.");
        read.MapGet("/knowledge-bases/{kbId:guid}", GetBase).WithSummary("A knowledge base with its counts.");
        manage.MapPost("/knowledge-bases", CreateBase).WithSummary("Creates a knowledge base, with an embedding model or none (searched by its words).");
        manage.MapPatch("/knowledge-bases/{kbId:guid}", UpdateBase).WithSummary("Renames a knowledge base or changes its embedding model (which re-embeds its sources).");
        manage.MapDelete("/knowledge-bases/{kbId:guid}", DeleteBase).WithSummary("Deletes a knowledge base with all its sources.");
        read.MapPut("/knowledge-bases/{kbId:guid}/focus", Focus).WithSummary("Focuses your chat in this workspace on this knowledge base.").RequireUser();
        read.MapDelete("/knowledge-focus", Unfocus).WithSummary("Stops focusing on a knowledge base in this workspace.").RequireUser();

        read.MapGet("/knowledge-bases/{kbId:guid}/sources", ListSources).WithSummary("The sources of a knowledge base with their ingestion status and progress.");
        manage.MapPost("/knowledge-bases/{kbId:guid}/sources", Upload).WithSummary("Uploads a document or recording in one request and queues its ingestion.")
            .AcceptsFile("file", "The document or recording; its type is read from its content.", "application/octet-stream")
            .WithMetadata(new DisableRequestSizeLimitAttribute())
            .ProducesProblems(StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType);
        manage.MapPost("/knowledge-bases/{kbId:guid}/imports", Import).WithSummary("Imports a web page or file from an http(s) address.");
        manage.MapPost("/knowledge-bases/{kbId:guid}/uploads", StartUpload).WithSummary("Starts a resumable upload in parts; the answer says the part size and count.");
        manage.MapGet("/uploads/{uploadId:guid}", UploadStatus).WithSummary("Which parts of a resumable upload have arrived: what a client resuming sends next.");
        manage.MapPut("/uploads/{uploadId:guid}/parts/{partNumber:int}", PutPart).WithSummary("Sends one part (the bytes as the body); sending a part again replaces it.")
            .AcceptsFile("part", "The part's bytes.", "application/octet-stream")
            .WithMetadata(new DisableRequestSizeLimitAttribute());
        manage.MapPost("/uploads/{uploadId:guid}/complete", CompleteUpload).WithSummary("Joins the parts and queues the source's ingestion.")
            .ProducesProblems(StatusCodes.Status409Conflict, StatusCodes.Status415UnsupportedMediaType);
        manage.MapDelete("/uploads/{uploadId:guid}", AbortUpload).WithSummary("Abandons a resumable upload.");

        read.MapGet("/sources/{id:guid}", GetSource).WithSummary("A source with its ingestion status, progress and last error.");
        manage.MapDelete("/sources/{id:guid}", DeleteSource).WithSummary("Deletes a source, its chunks and its files; its storage is given back to the plan.");
        manage.MapPost("/sources/{id:guid}/retry", Retry).WithSummary("Tries a failed source's ingestion again from the step that failed.")
            .ProducesProblems(StatusCodes.Status409Conflict);
        read.MapGet("/sources/{id:guid}/content", Content).WithSummary("The original file: a redirect to a signed URL in S3 mode, else a stream that honours Range requests.");
        read.MapGet("/sources/{id:guid}/transcript", Transcript).WithSummary("A recording's transcript: JSON segments, or format=srt, vtt or txt to download.");
        manage.MapPatch("/sources/{id:guid}/transcript/segments/{index:int}", CorrectSegment)
            .WithSummary("Corrects one segment's text by hand; only the chunks holding it are indexed again.");
    }

    static async Task<Ok<IReadOnlyList<KnowledgeBaseResponse>>> ListBases(Guid orgId, Guid wsId, HttpContext http, ClaimsPrincipal user, AppDbContext db, KnowledgeBases bases, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await bases.ListAsync(orgId, wsId, user.UserId(), ct));
    }

    static async Task<Ok<KnowledgeBaseResponse>> GetBase(Guid orgId, Guid wsId, Guid kbId, HttpContext http, ClaimsPrincipal user, AppDbContext db, KnowledgeBases bases, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await bases.GetAsync(orgId, wsId, kbId, user.UserId(), ct));
    }

    static async Task<Created<KnowledgeBaseResponse>> CreateBase(Guid orgId, Guid wsId, KnowledgeBaseRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db,
        SpenderResolver spenders, KnowledgeBases bases, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var actor = await spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.KnowledgeManage, ct);
        var kb = await bases.CreateAsync(orgId, wsId, actor.UserId, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/workspaces/{wsId}/knowledge-bases/{kb.Id}", await bases.GetAsync(orgId, wsId, kb.Id, user.UserId(), ct));
    }

    static async Task<Ok<KnowledgeBaseResponse>> UpdateBase(Guid orgId, Guid wsId, Guid kbId, KnowledgeBasePatch body, HttpContext http, ClaimsPrincipal user, AppDbContext db,
        KnowledgeBases bases, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await bases.UpdateAsync(orgId, wsId, kbId, body, ct);
        return TypedResults.Ok(await bases.GetAsync(orgId, wsId, kbId, user.UserId(), ct));
    }

    static async Task<NoContent> DeleteBase(Guid orgId, Guid wsId, Guid kbId, HttpContext http, AppDbContext db, KnowledgeBases bases, SourceRemoval removal, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await bases.DeleteAsync(orgId, wsId, kbId, removal, ct);
        return TypedResults.NoContent();
    }

    static async Task<NoContent> Focus(Guid orgId, Guid wsId, Guid kbId, HttpContext http, ClaimsPrincipal user, AppDbContext db, KnowledgeBases bases, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await bases.FocusAsync(orgId, wsId, user.UserId()!.Value, kbId, ct);
        return TypedResults.NoContent();
    }

    static async Task<NoContent> Unfocus(Guid orgId, Guid wsId, HttpContext http, ClaimsPrincipal user, AppDbContext db, KnowledgeBases bases, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await bases.UnfocusAsync(orgId, wsId, user.UserId()!.Value, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<SourcePage>> ListSources(Guid orgId, Guid wsId, Guid kbId, HttpContext http, AppDbContext db, KnowledgeBases bases, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await bases.FindAsync(orgId, wsId, kbId, ct);
        var sources = await db.Set<KnowledgeSource>().AsNoTracking()
            .Where(s => s.OrganizationId == orgId && s.WorkspaceId == wsId && s.KnowledgeBaseId == kbId && s.Status != SourceStatus.Uploading)
            .OrderByDescending(s => s.CreatedAt).ToListAsync(ct);
        return TypedResults.Ok(new SourcePage([.. sources.Select(KnowledgeSources.Describe)]));
    }

    /// <summary>The file streams from the request to the store: a multipart form's first file, or the body itself with <c>fileName</c> in the query.</summary>
    static async Task<Accepted<SourceResponse>> Upload(Guid orgId, Guid wsId, Guid kbId, HttpContext http, ClaimsPrincipal user, AppDbContext db, SpenderResolver spenders,
        KnowledgeBases bases, KnowledgeSources sources, CancellationToken ct, string? fileName = null)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var actor = await spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.KnowledgeManage, ct);
        var kb = await bases.FindAsync(orgId, wsId, kbId, ct);
        KnowledgeSource source;
        if (MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type) && type.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            var boundary = HeaderUtilities.RemoveQuotes(type.Boundary).Value;
            if (string.IsNullOrEmpty(boundary))
                throw ProblemException.Invalid("file", "The multipart body has no boundary.");
            var reader = new MultipartReader(boundary, http.Request.Body);
            MultipartSection? section;
            while ((section = await reader.ReadNextSectionAsync(ct)) is not null)
            {
                if (ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) && disposition.IsFileDisposition())
                    break;
            }
            if (section is null)
                throw ProblemException.Invalid("file", "Send the file as a multipart form field named file.");
            var disposition2 = ContentDispositionHeaderValue.Parse(section.ContentDisposition);
            var name = HeaderUtilities.RemoveQuotes(disposition2.FileNameStar.HasValue ? disposition2.FileNameStar : disposition2.FileName).Value;
            // The form's length counts its boundaries and fields too, so only the stream's own count can refuse this file.
            source = await sources.UploadAsync(kb, actor.UserId, fileName ?? name, section.Body, null, ct);
        }
        else
            source = await sources.UploadAsync(kb, actor.UserId, fileName, http.Request.Body, http.Request.ContentLength, ct);
        return TypedResults.Accepted($"/api/orgs/{orgId}/workspaces/{wsId}/sources/{source.Id}", KnowledgeSources.Describe(source));
    }

    static async Task<Accepted<SourceResponse>> Import(Guid orgId, Guid wsId, Guid kbId, ImportRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db,
        SpenderResolver spenders, KnowledgeBases bases, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var actor = await spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.KnowledgeManage, ct);
        var source = await sources.ImportAsync(await bases.FindAsync(orgId, wsId, kbId, ct), actor.UserId, body, ct);
        return TypedResults.Accepted($"/api/orgs/{orgId}/workspaces/{wsId}/sources/{source.Id}", KnowledgeSources.Describe(source));
    }

    static async Task<Created<UploadResponse>> StartUpload(Guid orgId, Guid wsId, Guid kbId, UploadStartRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db,
        SpenderResolver spenders, KnowledgeBases bases, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var actor = await spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.KnowledgeManage, ct);
        var upload = await sources.StartUploadAsync(await bases.FindAsync(orgId, wsId, kbId, ct), actor.UserId, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/workspaces/{wsId}/uploads/{upload.Id}", upload);
    }

    static async Task<Ok<UploadResponse>> UploadStatus(Guid orgId, Guid wsId, Guid uploadId, HttpContext http, AppDbContext db, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await sources.UploadStatusAsync(orgId, wsId, uploadId, ct));
    }

    static async Task<Ok<UploadedPart>> PutPart(Guid orgId, Guid wsId, Guid uploadId, int partNumber, HttpContext http, AppDbContext db, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await sources.PutPartAsync(orgId, wsId, uploadId, partNumber, http.Request.Body, http.Request.ContentLength, ct));
    }

    static async Task<Accepted<SourceResponse>> CompleteUpload(Guid orgId, Guid wsId, Guid uploadId, HttpContext http, AppDbContext db, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var source = await sources.CompleteUploadAsync(orgId, wsId, uploadId, ct);
        return TypedResults.Accepted($"/api/orgs/{orgId}/workspaces/{wsId}/sources/{source.Id}", KnowledgeSources.Describe(source));
    }

    static async Task<NoContent> AbortUpload(Guid orgId, Guid wsId, Guid uploadId, HttpContext http, AppDbContext db, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await sources.AbortUploadAsync(orgId, wsId, uploadId, ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<SourceResponse>> GetSource(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(KnowledgeSources.Describe(await sources.FindAsync(orgId, wsId, id, ct)));
    }

    static async Task<NoContent> DeleteSource(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        await sources.DeleteAsync(orgId, wsId, id, ct);
        return TypedResults.NoContent();
    }

    static async Task<Accepted<SourceResponse>> Retry(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, KnowledgeSources sources, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var source = await sources.RetryAsync(orgId, wsId, id, ct);
        return TypedResults.Accepted($"/api/orgs/{orgId}/workspaces/{wsId}/sources/{source.Id}", KnowledgeSources.Describe(source));
    }

    static async Task<IResult> Content(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, KnowledgeSources sources, IBlobStore blobs, CancellationToken ct, bool download = false)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        var source = await sources.FindAsync(orgId, wsId, id, ct);
        if (source.Status == SourceStatus.Uploading || source.Format is null)
            throw Orgs.NotFound("The file has not arrived yet.", "This source has no content yet.");
        return await BlobDownloads.ServeAsync(blobs, source.BlobKey, source.FileName ?? source.Title, source.ContentType ?? "application/octet-stream", inline: !download, ct);
    }

    static async Task<IResult> Transcript(Guid orgId, Guid wsId, Guid id, HttpContext http, AppDbContext db, RecordingTranscripts transcripts, CancellationToken ct, string? format = null)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return await transcripts.GetAsync(orgId, wsId, id, format, ct);
    }

    static async Task<Ok<TranscriptSegmentResponse>> CorrectSegment(Guid orgId, Guid wsId, Guid id, int index, SegmentPatch body, HttpContext http, AppDbContext db,
        RecordingTranscripts transcripts, CancellationToken ct)
    {
        await WorkspaceAsync(db, http, wsId, ct);
        return TypedResults.Ok(await transcripts.CorrectAsync(orgId, wsId, id, index, body.Text, ct));
    }

    /// <summary>The workspace by (org, id); a key bound to another workspace finds nothing.</summary>
    static Task<Workspace> WorkspaceAsync(AppDbContext db, HttpContext http, Guid wsId, CancellationToken ct) =>
        SystemPrompts.WorkspaceOfAsync(db, http.Grant(), wsId, ct);
}
