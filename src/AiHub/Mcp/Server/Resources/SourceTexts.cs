using System.Text;
using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Blobs;
using AiHub.Knowledge;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Sources;
using AiHub.Knowledge.Transcripts;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Mcp.Server.Resources;

/// <summary>A source's readable text, and where each page starts in it (documents with pages only).</summary>
internal sealed record SourceText(string Text, IReadOnlyDictionary<int, int> PageStarts, bool Recording);

/// <summary>
/// The text an assistant reads of a source: a document's extracted text with its pages marked, or a recording's
/// transcript with a timestamp on each segment; what ingestion has produced so far, else its chunks.
/// </summary>
internal sealed class SourceTexts(AppDbContext db, IBlobStore blobs)
{
    public async Task<SourceText> ReadAsync(KnowledgeSource source, CancellationToken ct)
    {
        if (source.Format is SourceFormat.Audio or SourceFormat.Video)
            return await TranscriptAsync(source, ct) ?? await ChunksAsync(source, ct);
        return await DocumentAsync(source, ct) ?? await ChunksAsync(source, ct);
    }

    async Task<SourceText?> DocumentAsync(KnowledgeSource source, CancellationToken ct)
    {
        await using var json = await blobs.OpenReadAsync(SourceBlobs.Extracted(source.OrganizationId, source.Id), ct);
        if (json is null)
            return null;
        var document = await JsonSerializer.DeserializeAsync<ExtractedDocument>(json, JsonSerializerOptions.Web, ct);
        if (document is null)
            return null;
        var text = new StringBuilder();
        var pages = new Dictionary<int, int>();
        foreach (var block in document.Blocks.Where(b => !string.IsNullOrWhiteSpace(b.Text)))
            Append(text, pages, block.Page, block.Text.Trim());
        return new SourceText(text.ToString(), pages, false);
    }

    async Task<SourceText?> TranscriptAsync(KnowledgeSource source, CancellationToken ct)
    {
        var segments = await db.Set<TranscriptSegmentRow>().AsNoTracking()
            .Where(s => s.OrganizationId == source.OrganizationId && s.SourceId == source.Id)
            .OrderBy(s => s.Index).ToListAsync(ct);
        if (segments.Count == 0)
            return null;
        var text = new StringBuilder();
        foreach (var s in segments.Where(s => !string.IsNullOrWhiteSpace(s.Text)))
            text.Append('[').Append(TranscriptFormats.Clock(s.Start)).Append("] ")
                .Append(string.Join(' ', s.Text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))).Append('\n');
        return new SourceText(text.ToString(), new Dictionary<int, int>(), true);
    }

    /// <summary>For a source whose extracted text is gone or not yet kept: its chunks in order.</summary>
    async Task<SourceText> ChunksAsync(KnowledgeSource source, CancellationToken ct)
    {
        var chunks = await db.Set<KnowledgeChunk>().AsNoTracking()
            .Where(c => c.OrganizationId == source.OrganizationId && c.SourceId == source.Id)
            .OrderBy(c => c.Ordinal).Select(c => new { c.Text, c.Page, c.StartSeconds }).ToListAsync(ct);
        var text = new StringBuilder();
        var pages = new Dictionary<int, int>();
        var recording = source.Format is SourceFormat.Audio or SourceFormat.Video;
        foreach (var c in chunks)
        {
            var body = c.Text.Trim();
            if (c.StartSeconds is { } start)
                body = $"[{TranscriptFormats.Clock(start)}] {body}";
            Append(text, pages, c.Page, body);
        }
        return new SourceText(text.ToString(), pages, recording);
    }

    static void Append(StringBuilder text, Dictionary<int, int> pages, int? page, string body)
    {
        if (page is { } p && !pages.ContainsKey(p))
        {
            if (text.Length > 0)
                text.Append("\n\n");
            pages[p] = text.Length;
            text.Append("--- Page ").Append(p).Append(" ---");
        }
        if (text.Length > 0)
            text.Append("\n\n");
        text.Append(body);
    }
}
