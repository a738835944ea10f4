using System.Security.Claims;
using System.Text;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.OpenApi;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Bulk;

internal static class CreditAdminEndpoints
{
    /// <summary>A 10,000-row file with long reasons stays well under this.</summary>
    const long MaxFileBytes = 4 * 1024 * 1024;

    /// <summary>Room for a multipart upload's boundaries and headers around the file.</summary>
    const long UploadOverheadBytes = 64 * 1024;

    /// <summary>The audit events that are about credits.</summary>
    internal static readonly string[] AuditKindsOfCredits =
    [
        AuditKinds.CreditsAdjusted, AuditKinds.CreditsBulkAdjusted, AuditKinds.PromoCodeCreated, AuditKinds.PromoCodeDeactivated, AuditKinds.PromoCodeRedeemed,
        AuditKinds.CreditsAllocationChanged, AuditKinds.CreditsAllocationRemoved, AuditKinds.CreditsRequested, AuditKinds.CreditsRequestApproved,
        AuditKinds.CreditsRequestDenied, AuditKinds.CreditsPoolSettingsChanged,
    ];

    public static void MapCreditAdminRoutes(IEndpointRouteBuilder app)
    {
        AdminApi.Group(app, "/credits", Permissions.CreditsAdjust).MapPost("/bulk", Bulk).Accepts<string>("text/csv", "multipart/form-data").DisableAntiforgery()
            .WithSummary("Grants or takes credits for many users at once from a CSV file (email,credits,reason); send an Idempotency-Key.")
            .AcceptsFile("file", "A CSV file whose header is email,credits,reason.", "text/csv")
            .WithMetadata(new RequestSizeLimitAttribute(MaxFileBytes + UploadOverheadBytes));
        AdminApi.Group(app, "/credits", Permissions.CreditsRead).MapGet("/audit", Audit).WithSummary("Lists the audit trail of credit changes: adjustments, bulk grants, promo codes, allocations and requests.");
    }

    /// <remarks>The CSV comes as a <c>text/csv</c> body or as the file of a multipart upload; the Idempotency-Key header is required.</remarks>
    static async Task<Ok<BulkResult>> Bulk(HttpRequest request, ClaimsPrincipal user, BulkCredits bulk, CancellationToken ct)
    {
        var key = IdempotencyKeys.Read(request, required: true)!;
        return TypedResults.Ok(await bulk.ApplyAsync(await ReadCsvAsync(request, ct), key, user.UserId()!.Value, ct));
    }

    /// <remarks>Pages like <c>/api/admin/audit</c> (newest first, <c>before</c> for the next page), limited to credit events.</remarks>
    static async Task<Ok<AuditPage>> Audit(AppDbContext db, CancellationToken ct, Guid? userId = null, string? kind = null, DateTimeOffset? before = null, int limit = 50)
    {
        if (limit is < 1 or > 500)
            throw ProblemException.Invalid("limit", "limit is between 1 and 500.");
        if (kind is not null && !AuditKindsOfCredits.Contains(kind))
            throw ProblemException.Invalid("kind", $"kind is one of {string.Join(", ", AuditKindsOfCredits)}.");
        string[] kinds = kind is null ? AuditKindsOfCredits : [kind];
        var query = db.AuditEvents.AsNoTracking().Where(e => kinds.Contains(e.Kind));
        if (userId is { } who)
            query = query.Where(e => e.UserId == who || e.ActorId == who);
        return TypedResults.Ok(await AuditQueries.PageAsync(query, before, limit, ct));
    }

    static async Task<string> ReadCsvAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength > MaxFileBytes)
            throw TooLarge();
        Stream body;
        if (request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(ct);
            var file = form.Files.GetFile("file") ?? (form.Files.Count > 0 ? form.Files[0] : null)
                ?? throw ProblemException.Invalid("file", "Attach the CSV as the form's file field \"file\".");
            if (file.Length > MaxFileBytes)
                throw TooLarge();
            body = file.OpenReadStream();
        }
        else if (request.ContentType is { } type && type.StartsWith("text/csv", StringComparison.OrdinalIgnoreCase))
        {
            body = request.Body;
        }
        else
        {
            throw new ProblemException(StatusCodes.Status415UnsupportedMediaType, "Send a CSV file.",
                "Send the CSV as a text/csv body or as a multipart/form-data upload with the field \"file\".");
        }
        await using (body)
        {
            using var reader = new StreamReader(body, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: false);
            var buffer = new char[MaxFileBytes + 1];
            var read = 0;
            try
            {
                int n;
                while (read < buffer.Length && (n = await reader.ReadAsync(buffer.AsMemory(read), ct)) > 0)
                    read += n;
            }
            catch (DecoderFallbackException)
            {
                throw ProblemException.Invalid("file", "The file is not UTF-8 text; save it as CSV UTF-8.");
            }
            if (read > MaxFileBytes)
                throw TooLarge();
            return new string(buffer, 0, read);
        }
    }

    static ProblemException TooLarge() =>
        new(StatusCodes.Status413PayloadTooLarge, "The file is too large.", $"Send at most {MaxFileBytes / (1024 * 1024)} MB ({BulkCredits.MaxRows:N0} rows) at once.");
}
