using AiHub.Credits.Plans;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Sources;
using AiHub.Knowledge.Transcripts;
using MudBlazor;

namespace AiHub.Knowledge.Pages;

/// <summary>How the pages name and draw a source.</summary>
internal static class KnowledgeView
{
    public static string Kind(SourceFormat? format, SourceOrigin origin) => format switch
    {
        SourceFormat.Video => "video",
        SourceFormat.Audio => "audio",
        null when origin == SourceOrigin.Url => "web page",
        _ => "document",
    };

    public static string Icon(SourceFormat? format, SourceOrigin origin) => format switch
    {
        SourceFormat.Video => Icons.Material.Filled.Movie,
        SourceFormat.Audio => Icons.Material.Filled.Audiotrack,
        null when origin == SourceOrigin.Url => Icons.Material.Filled.Language,
        _ => Icons.Material.Filled.Description,
    };

    public static bool IsRecording(SourceFormat? format) => format is SourceFormat.Audio or SourceFormat.Video;

    /// <summary>What kind it is and how big: "PDF · 3 pages · 1.2 MB · 12 chunks".</summary>
    public static string Facts(SourceResponse s)
    {
        var facts = new List<string> { s.Format is { } f ? FormatName(f) : s.Origin == SourceOrigin.Url ? "web address" : "file" };
        if (s.PageCount is { } pages)
            facts.Add(pages == 1 ? "1 page" : $"{pages} pages");
        if (s.DurationSeconds is { } seconds)
            facts.Add(TranscriptFormats.Clock(seconds));
        if (s.SizeBytes > 0)
            facts.Add(QuotaService.Bytes(s.SizeBytes));
        if (s.ChunkCount > 0)
            facts.Add(s.ChunkCount == 1 ? "1 chunk" : $"{s.ChunkCount} chunks");
        return string.Join(" · ", facts);
    }

    static string FormatName(SourceFormat format) => format switch
    {
        SourceFormat.Pdf => "PDF",
        SourceFormat.Docx => "Word",
        SourceFormat.Html => "HTML",
        SourceFormat.Csv => "CSV",
        _ => format.ToString(),
    };
}
