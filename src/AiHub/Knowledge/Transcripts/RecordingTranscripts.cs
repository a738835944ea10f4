using System.Text;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Sources;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Knowledge.Transcripts;

internal sealed record TranscriptSegmentResponse(int Index, double Start, double End, string Label, string Text, bool Edited);

internal sealed record TranscriptResponse(Guid SourceId, string Title, double? DurationSeconds, IReadOnlyList<TranscriptSegmentResponse> Segments);

/// <summary>A recording's transcript as a product of its own: read with times, downloaded as SRT, WebVTT or text, corrected by hand.</summary>
internal sealed class RecordingTranscripts(AppDbContext db, KnowledgeSources sources, WorkQueue work, SourceProgress progress, TimeProvider clock)
{
    public const int MaxSegmentText = 5000;

    public async Task<IResult> GetAsync(Guid orgId, Guid workspaceId, Guid sourceId, string? format, CancellationToken ct)
    {
        var source = await RecordingAsync(orgId, workspaceId, sourceId, ct);
        var rows = await SegmentsAsync(source, ct);
        var transcript = new Transcript(null, source.DurationSeconds ?? rows.LastOrDefault()?.End ?? 0,
            [.. rows.Select(r => new TranscriptSegment(r.Index, r.Start, r.End, r.Text))]);
        var name = Path.GetFileNameWithoutExtension(source.FileName ?? source.Title);
        return format?.ToLowerInvariant() switch
        {
            null or "" or "json" => TypedResults.Ok(new TranscriptResponse(source.Id, source.Title, source.DurationSeconds,
                [.. rows.Select(r => new TranscriptSegmentResponse(r.Index, r.Start, r.End, TranscriptFormats.Clock(r.Start), r.Text, r.Edited))])),
            "srt" => File(TranscriptFormats.Srt(transcript), "application/x-subrip", name + ".srt"),
            "vtt" => File(TranscriptFormats.WebVtt(transcript), "text/vtt", name + ".vtt"),
            "txt" => File(TranscriptFormats.PlainText(transcript, timestamps: true), "text/plain", name + ".txt"),
            _ => throw ProblemException.Invalid("format", "The format is json, srt, vtt or txt."),
        };
    }

    /// <summary>Replaces one segment's text; the chunks holding it get the new text and lose their vectors, which the embed step makes again.</summary>
    public async Task<TranscriptSegmentResponse> CorrectAsync(Guid orgId, Guid workspaceId, Guid sourceId, int index, string? text, CancellationToken ct)
    {
        var corrected = text?.Trim();
        if (string.IsNullOrEmpty(corrected))
            throw ProblemException.Invalid("text", "A segment's text cannot be empty.");
        if (corrected.Length > MaxSegmentText)
            throw ProblemException.Invalid("text", $"A segment's text is at most {MaxSegmentText:N0} characters.");
        var source = await RecordingAsync(orgId, workspaceId, sourceId, ct);
        if (source.Status is not (SourceStatus.Completed or SourceStatus.Failed))
            throw new ProblemException(StatusCodes.Status409Conflict, "The recording is still being ingested.",
                "Correct the transcript once its ingestion has finished.", ProblemTypes.Conflict);
        var segment = await db.Set<TranscriptSegmentRow>().FirstOrDefaultAsync(s => s.OrganizationId == orgId && s.SourceId == sourceId && s.Index == index, ct)
            ?? throw Orgs.NotFound("No such segment.", $"The transcript has no segment {index}.");
        segment.Text = corrected;
        segment.Words = null;
        segment.Edited = true;

        var chunks = await db.Set<KnowledgeChunk>()
            .Where(c => c.OrganizationId == orgId && c.SourceId == sourceId && c.FirstSegment <= index && c.LastSegment >= index)
            .ToListAsync(ct);
        if (chunks.Count > 0)
        {
            var first = chunks.Min(c => c.FirstSegment!.Value);
            var last = chunks.Max(c => c.LastSegment!.Value);
            var texts = await db.Set<TranscriptSegmentRow>().AsNoTracking()
                .Where(s => s.OrganizationId == orgId && s.SourceId == sourceId && s.Index >= first && s.Index <= last && s.Index != index)
                .ToDictionaryAsync(s => s.Index, s => s.Text, ct);
            texts[index] = corrected;
            foreach (var chunk in chunks)
            {
                // Joined as the chunker joins a transcript's segments, one per line.
                var builder = new StringBuilder();
                for (var i = chunk.FirstSegment!.Value; i <= chunk.LastSegment!.Value; i++)
                    if (texts.TryGetValue(i, out var part) && part.Trim() is { Length: > 0 } trimmed)
                        builder.Append(builder.Length > 0 ? "\n" : "").Append(trimmed);
                chunk.Text = builder.ToString();
                chunk.EmbeddingModel = null;
            }
            var kbModel = await db.Set<KnowledgeBase>().Where(k => k.OrganizationId == orgId && k.Id == source.KnowledgeBaseId).Select(k => k.EmbeddingModel).FirstAsync(ct);
            if (kbModel is not null && source.Status == SourceStatus.Completed)
            {
                source.Steps &= ~(IngestionSteps.Embedded | IngestionSteps.Indexed);
                source.Status = SourceStatus.Embedding;
                source.UpdatedAt = clock.GetUtcNow();
                IngestionPipeline.Queue(work, source);
            }
        }
        await db.SaveChangesAsync(ct);
        work.DispatchAdded();
        await progress.PublishAsync(source, CancellationToken.None);
        return new TranscriptSegmentResponse(segment.Index, segment.Start, segment.End, TranscriptFormats.Clock(segment.Start), segment.Text, segment.Edited);
    }

    async Task<KnowledgeSource> RecordingAsync(Guid orgId, Guid workspaceId, Guid sourceId, CancellationToken ct)
    {
        var source = await sources.FindAsync(orgId, workspaceId, sourceId, ct);
        if (source.Format is not (SourceFormat.Audio or SourceFormat.Video))
            throw Orgs.NotFound("This source has no transcript.", "Only recordings (audio and video) have transcripts.");
        return source;
    }

    Task<List<TranscriptSegmentRow>> SegmentsAsync(KnowledgeSource source, CancellationToken ct) =>
        db.Set<TranscriptSegmentRow>().AsNoTracking()
            .Where(s => s.OrganizationId == source.OrganizationId && s.SourceId == source.Id)
            .OrderBy(s => s.Index).ToListAsync(ct);

    static FileContentHttpResult File(string text, string contentType, string name) =>
        TypedResults.File(Encoding.UTF8.GetBytes(text), contentType + "; charset=utf-8", name);
}
