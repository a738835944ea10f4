using AiHub.Data;
using AiHub.Knowledge;
using AiHub.Knowledge.Ingestion;
using AiHub.Mcp.Server.Tools;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace AiHub.Mcp.Server.Resources;

/// <summary>
/// The sources the caller can read as MCP resources, <c>aihub://orgs/{orgId}/sources/{id}</c>: listed a page at a
/// time, read as their text (a document's) or their timestamped transcript (a recording's).
/// </summary>
/// <remarks>
/// A URI naming another org, a workspace the caller is not bound to, or an unknown id is the same "resource not found",
/// so a caller learns nothing of what it may not read.
/// </remarks>
internal sealed class SourceResources(McpCallers callers, KnowledgeScope scope, SourceTexts texts, AppDbContext db)
{
    public const string UriTemplate = "aihub://orgs/{orgId}/sources/{sourceId}";
    public const int PageSize = 50;

    /// <summary>A resource is read whole up to here; get_source pages through longer ones.</summary>
    public const int MaxReadChars = 500_000;

    const string Prefix = "aihub://orgs/";

    public static ValueTask<ListResourcesResult> ListAsync(RequestContext<ListResourcesRequestParams> request, CancellationToken ct) =>
        Of(request).ListAsync(request.Params?.Cursor, ct);

    public static ValueTask<ListResourceTemplatesResult> TemplatesAsync(RequestContext<ListResourceTemplatesRequestParams> request, CancellationToken ct) =>
        ValueTask.FromResult(new ListResourceTemplatesResult
        {
            ResourceTemplates =
            [
                new ResourceTemplate
                {
                    UriTemplate = UriTemplate,
                    Name = "source",
                    Title = "Knowledge source",
                    Description = "A document's extracted text or a recording's transcript with timestamps, by the organisation's id and the source's id (as search_knowledge cites them).",
                    MimeType = "text/plain",
                },
            ],
        });

    public static ValueTask<ReadResourceResult> ReadAsync(RequestContext<ReadResourceRequestParams> request, CancellationToken ct) =>
        Of(request).ReadAsync(request.Params?.Uri, ct);

    static SourceResources Of<T>(RequestContext<T> request) =>
        (request.Services ?? throw new McpException("This server is reached over HTTP only.")).GetRequiredService<SourceResources>();

    async ValueTask<ListResourcesResult> ListAsync(string? cursor, CancellationToken ct)
    {
        var caller = await callers.CurrentAsync(ct);
        caller.Require(OrgPermissions.KnowledgeRead);
        var skip = 0;
        if (cursor is not null && (!int.TryParse(cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out skip) || skip < 0))
            throw new McpProtocolException("The cursor is not one this server gave.", McpErrorCode.InvalidParams);
        var orgId = caller.OrganizationId;
        var rows = await db.Set<KnowledgeSource>().AsNoTracking()
            .Where(s => s.OrganizationId == orgId && s.Status != SourceStatus.Uploading && (caller.WorkspaceId == null || s.WorkspaceId == caller.WorkspaceId))
            .OrderByDescending(s => s.CreatedAt).ThenBy(s => s.Id)
            .Skip(skip).Take(PageSize + 1)
            .Select(s => new { s.Id, s.Title, s.Format, s.Status, s.SizeBytes, s.UpdatedAt, s.DurationSeconds, s.PageCount })
            .ToListAsync(ct);
        return new ListResourcesResult
        {
            Resources = [.. rows.Take(PageSize).Select(s => new Resource
            {
                Uri = KnowledgeScope.SourceUri(orgId, s.Id),
                Name = s.Title,
                Title = s.Title,
                Description = Describe(s.Format, s.Status, s.PageCount, s.DurationSeconds),
                MimeType = "text/plain",
            })],
            NextCursor = rows.Count > PageSize ? (skip + PageSize).ToString(System.Globalization.CultureInfo.InvariantCulture) : null,
        };
    }

    async ValueTask<ReadResourceResult> ReadAsync(string? uri, CancellationToken ct)
    {
        var caller = await callers.CurrentAsync(ct);
        caller.Require(OrgPermissions.KnowledgeRead);
        if (!TryParse(uri, out var orgId, out var sourceId) || orgId != caller.OrganizationId)
            throw NotFound(uri);
        KnowledgeSource source;
        try
        {
            source = await scope.SourceAsync(caller, sourceId, ct);
        }
        catch (McpException)
        {
            throw NotFound(uri);
        }
        var text = (await texts.ReadAsync(source, ct)).Text;
        if (text.Length > MaxReadChars)
            text = text[..MaxReadChars] + $"\n\n[The source is longer: read the rest with the get_source tool, sourceId {source.Id}, offset {MaxReadChars}.]";
        return new ReadResourceResult
        {
            Contents = [new TextResourceContents { Uri = uri!, MimeType = "text/plain", Text = text }],
        };
    }

    /// <summary><c>aihub://orgs/{guid}/sources/{guid}</c>, nothing more.</summary>
    internal static bool TryParse(string? uri, out Guid orgId, out Guid sourceId)
    {
        (orgId, sourceId) = (Guid.Empty, Guid.Empty);
        if (uri is null || !uri.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
            return false;
        var parts = uri[Prefix.Length..].Split('/');
        return parts.Length == 3 && parts[1] == "sources" && Guid.TryParse(parts[0], out orgId) && Guid.TryParse(parts[2], out sourceId);
    }

    static McpProtocolException NotFound(string? uri) =>
        new($"Resource not found: {uri}. It names no source this connection can read; resources/list gives the ones it can.", McpErrorCode.ResourceNotFound);

    static string Describe(SourceFormat? format, SourceStatus status, int? pages, double? seconds)
    {
        var kind = format switch
        {
            SourceFormat.Audio => "Recording (audio): transcript with timestamps",
            SourceFormat.Video => "Recording (video): transcript with timestamps",
            null => "Document",
            { } f => $"Document ({f.ToString().ToUpperInvariant()})",
        };
        if (pages is { } p)
            kind += p == 1 ? ", 1 page" : $", {p} pages";
        if (seconds is { } s)
            kind += ", " + Knowledge.Transcripts.TranscriptFormats.Clock(s);
        return status == SourceStatus.Completed ? kind : $"{kind}; {status.ToString().ToLowerInvariant()}";
    }
}
