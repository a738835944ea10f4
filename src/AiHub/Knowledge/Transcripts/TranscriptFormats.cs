using System.Globalization;
using System.Text;
using AiHub.Knowledge.Ingestion;

namespace AiHub.Knowledge.Transcripts;

/// <summary>A transcript as the files people download it in: SubRip (SRT), WebVTT and plain text.</summary>
internal static class TranscriptFormats
{
    public const string SrtMediaType = "application/x-subrip";
    public const string WebVttMediaType = "text/vtt";
    public const string PlainTextMediaType = "text/plain";

    /// <summary>SubRip: numbered cues from 1, <c>HH:MM:SS,mmm --&gt; HH:MM:SS,mmm</c>, a blank line after each.</summary>
    public static string Srt(Transcript transcript)
    {
        var text = new StringBuilder();
        var number = 0;
        foreach (var segment in Cues(transcript))
        {
            text.Append((++number).ToString(CultureInfo.InvariantCulture)).Append("\r\n")
                .Append(Timestamp(segment.Start, ',')).Append(" --> ").Append(Timestamp(segment.End, ',')).Append("\r\n")
                // SRT has no escapes: an arrow would read as a timing line and a blank line would end the cue.
                .Append(CueLines(segment.Text.Replace("-->", "->", StringComparison.Ordinal))).Append("\r\n\r\n");
        }
        return text.ToString();
    }

    /// <summary>WebVTT: the <c>WEBVTT</c> header, then cues with <c>HH:MM:SS.mmm --&gt; HH:MM:SS.mmm</c> and escaped text.</summary>
    public static string WebVtt(Transcript transcript)
    {
        var text = new StringBuilder("WEBVTT\n\n");
        foreach (var segment in Cues(transcript))
        {
            var escaped = segment.Text.Replace("&", "&amp;", StringComparison.Ordinal)
                .Replace("<", "&lt;", StringComparison.Ordinal)
                .Replace(">", "&gt;", StringComparison.Ordinal);
            text.Append(Timestamp(segment.Start, '.')).Append(" --> ").Append(Timestamp(segment.End, '.')).Append('\n')
                .Append(CueLines(escaped).Replace("\r\n", "\n", StringComparison.Ordinal)).Append("\n\n");
        }
        return text.ToString();
    }

    /// <summary>One paragraph per segment; with <paramref name="timestamps"/>, each starts with its time, such as <c>[1:05]</c>.</summary>
    public static string PlainText(Transcript transcript, bool timestamps = false)
    {
        var text = new StringBuilder();
        foreach (var segment in Cues(transcript))
        {
            if (text.Length > 0)
                text.Append("\n\n");
            if (timestamps)
                text.Append('[').Append(Clock(segment.Start)).Append("] ");
            text.Append(string.Join(' ', segment.Text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)));
        }
        return text.Length > 0 ? text.Append('\n').ToString() : "";
    }

    /// <summary>A time as a citation shows it: <c>m:ss</c>, or <c>h:mm:ss</c> from an hour on; seconds are cut, not rounded, so a cite never points past the words.</summary>
    public static string Clock(double seconds)
    {
        var whole = double.IsFinite(seconds) && seconds > 0 ? (long)Math.Floor(seconds) : 0;
        var (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
        return h > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{h}:{m:00}:{s:00}")
            : string.Create(CultureInfo.InvariantCulture, $"{m}:{s:00}");
    }

    /// <summary>The segments worth a cue, in time order; an empty one would be a blank cue, which ends an SRT file early for some players.</summary>
    static IEnumerable<TranscriptSegment> Cues(Transcript transcript) =>
        transcript.Segments.Where(s => !string.IsNullOrWhiteSpace(s.Text)).OrderBy(s => s.Start).ThenBy(s => s.Index);

    static string Timestamp(double seconds, char fractionSeparator)
    {
        var ms = double.IsFinite(seconds) && seconds > 0 ? (long)Math.Round(seconds * 1000, MidpointRounding.AwayFromZero) : 0;
        var (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
        return string.Create(CultureInfo.InvariantCulture, $"{h:00}:{m:00}:{s:00}{fractionSeparator}{f:000}");
    }

    /// <summary>The text's lines without blank ones, which would end the cue.</summary>
    static string CueLines(string text) =>
        string.Join("\r\n", text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.Length > 0));
}
