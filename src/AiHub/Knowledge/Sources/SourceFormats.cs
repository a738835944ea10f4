using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Documents;

namespace AiHub.Knowledge.Sources;

/// <summary>What the first bytes say: the format (or why none), and the media type to serve it with.</summary>
internal sealed record SniffedSource(SourceFormat? Format, string? Reason, string? ContentType);

/// <summary>What a source is, read from its first bytes, and how it is served.</summary>
internal static class SourceFormats
{
    public const string Supported = "AiHub takes PDF, Word (.docx), Markdown, HTML, text and CSV documents, and mp3, wav, m4a, ogg, mp4, mov and webm recordings.";

    const int HeadBytes = ContentSniffer.HeadLength;

    static readonly byte[] Ebml = [0x1A, 0x45, 0xDF, 0xA3];

    static readonly string[] VideoExtensions = [".mp4", ".mov", ".webm", ".mkv", ".m4v"];

    /// <summary>A ZIP is judged by its central directory, at its end: from the stream when it can seek, else from a temporary copy.</summary>
    public static async Task<SniffedSource> SniffAsync(Stream content, string? fileName, CancellationToken ct)
    {
        var head = new byte[HeadBytes];
        var read = await content.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct);
        var span = head.AsSpan(0, read);
        var sniffed = ContentSniffer.Sniff(span, fileName);
        if (span.StartsWith("PK\u0003\u0004"u8))
        {
            if (content.CanSeek)
            {
                content.Position = 0;
                sniffed = ContentSniffer.SniffZip(content);
            }
            else
            {
                await using var copy = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
                await copy.WriteAsync(head.AsMemory(0, read), ct);
                await content.CopyToAsync(copy, ct);
                copy.Position = 0;
                sniffed = ContentSniffer.SniffZip(copy);
            }
        }
        return new SniffedSource(sniffed.Format, sniffed.Reason, sniffed.Format is { } f ? ContentType(f, head.AsSpan(0, read)) : null);
    }

    /// <summary>Only a hint for the plan's video check before upload; the content decides.</summary>
    public static bool LooksLikeVideo(string? name) =>
        name is not null && VideoExtensions.Contains(Path.GetExtension(name), StringComparer.OrdinalIgnoreCase);

    /// <summary>A recording's media type from its container's magic bytes, so that a browser's player is told the truth.</summary>
    static string ContentType(SourceFormat format, ReadOnlySpan<byte> head) => format switch
    {
        SourceFormat.Audio or SourceFormat.Video when head.StartsWith("OggS"u8) => format == SourceFormat.Video ? "video/ogg" : "audio/ogg",
        SourceFormat.Audio or SourceFormat.Video when head.StartsWith("RIFF"u8) => "audio/wav",
        SourceFormat.Audio or SourceFormat.Video when head.StartsWith("fLaC"u8) => "audio/flac",
        SourceFormat.Audio or SourceFormat.Video when head.StartsWith(Ebml) => format == SourceFormat.Video ? "video/webm" : "audio/webm",
        SourceFormat.Audio or SourceFormat.Video when head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8) =>
            head[8..12].SequenceEqual("qt  "u8) ? "video/quicktime" : format == SourceFormat.Video ? "video/mp4" : "audio/mp4",
        SourceFormat.Audio => "audio/mpeg",
        SourceFormat.Video => "video/mp4",
        _ => ContentType(format),
    };

    public static string ContentType(SourceFormat format) => format switch
    {
        SourceFormat.Pdf => "application/pdf",
        SourceFormat.Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        SourceFormat.Markdown => "text/markdown; charset=utf-8",
        SourceFormat.Html => "text/html; charset=utf-8",
        SourceFormat.Text => "text/plain; charset=utf-8",
        SourceFormat.Csv => "text/csv; charset=utf-8",
        SourceFormat.Audio => "audio/mpeg",
        _ => "video/mp4",
    };
}
