namespace AiHub.Knowledge.Ingestion;

/// <summary>What a source's bytes turned out to be; sniffed from the content, never taken from its name or header.</summary>
internal enum SourceFormat
{
    Pdf,
    Docx,
    Markdown,
    Html,
    Text,
    Csv,
    Audio,
    Video,
}

/// <summary>One block of a document as its structure gives it: a paragraph, a heading, a table row, a list item.</summary>
/// <param name="Page">1-based page of a PDF; null where a format has no pages.</param>
/// <param name="HeadingPath">The headings above the block, outermost first ("Setup", "Linux").</param>
/// <param name="Offset">Where the block's text starts in the document's extracted text (characters).</param>
internal sealed record DocumentBlock(string Text, int? Page, IReadOnlyList<string> HeadingPath, DocumentBlockKind Kind, long Offset);

internal enum DocumentBlockKind
{
    Paragraph,
    Heading,
    ListItem,
    TableRow,
    Code,
}

/// <summary>The text of a document and its structure.</summary>
/// <param name="Title">The document's own title (PDF info, DOCX core properties, HTML title, first Markdown heading), if any.</param>
internal sealed record ExtractedDocument(string? Title, int PageCount, IReadOnlyList<DocumentBlock> Blocks);

/// <summary>A word with its times, in seconds from the start of the media.</summary>
internal sealed record TranscriptWord(double Start, double End, string Text);

/// <summary>One segment of a transcript: a sentence or a stretch of speech between pauses.</summary>
internal sealed record TranscriptSegment(int Index, double Start, double End, string Text, IReadOnlyList<TranscriptWord>? Words = null);

internal sealed record Transcript(string? Language, double DurationSeconds, IReadOnlyList<TranscriptSegment> Segments);

/// <summary>A piece of a source as it is indexed and cited.</summary>
/// <param name="StartOffset">First character of the chunk in the source's extracted text (or transcript text).</param>
/// <param name="FirstSegment">For a transcript: the first and last segment indexes the chunk covers.</param>
internal sealed record ChunkDraft(
    int Ordinal,
    string Text,
    int TokenCount,
    int? Page,
    string? HeadingPath,
    double? StartSeconds,
    double? EndSeconds,
    long StartOffset,
    long EndOffset,
    int? FirstSegment = null,
    int? LastSegment = null);

/// <summary>
/// A step of ingestion failed. <see cref="Transient"/> failures (a timeout, a 429, a busy server) are tried again;
/// the others (a corrupt file, no audio stream) end the source as failed. The message is shown to the user as it is.
/// </summary>
internal sealed class IngestionException(string message, bool transient = false, Exception? inner = null) : Exception(message, inner)
{
    public bool Transient { get; } = transient;
}
