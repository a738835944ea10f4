using System.Globalization;
using System.Text;
using AiHub.Chat.Grounding;
using AiHub.Knowledge.Search;

namespace AiHub.Knowledge.Grounding;

/// <summary>How a found passage is cited: its label, link and snippet, and whether it is good enough to cite.</summary>
internal static class Citations
{
    /// <summary>
    /// A passage full text found is on topic by its words; one only the vectors found must be close enough, since
    /// nearest neighbours always exist, however far. Either way a score below the floor is dropped.
    /// </summary>
    public static bool IsGood(KnowledgeHit hit, GroundingSettings settings) =>
        hit.Score >= settings.MinScore && (hit.LexicalRank is not null || hit.Similarity >= settings.MinSimilarity);

    public static ChatCitation Of(int index, Guid workspaceId, KnowledgeHit hit, int snippetLength) => new(
        index, hit.SourceId, hit.ChunkId, hit.SourceTitle, hit.Page, hit.StartSeconds, hit.EndSeconds,
        Label(hit.Page, hit.StartSeconds), Snippet(hit.Text, snippetLength), Link(workspaceId, hit.SourceId, hit.Page, hit.StartSeconds));

    /// <summary><c>p. 3</c> for a page, <c>1:23</c> or <c>1:02:03</c> for a moment, empty for neither.</summary>
    public static string Label(int? page, double? startSeconds) =>
        page is { } p ? $"p. {p}" : startSeconds is { } s ? Clock(s) : "";

    public static string Clock(double seconds)
    {
        var total = (long)Math.Max(0, Math.Floor(seconds));
        var (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
        return h > 0 ? $"{h}:{m:00}:{s:00}" : $"{m}:{s:00}";
    }

    /// <summary>The source's page in the app, at its page (<c>#page=3</c>) or second (<c>#t=83</c>, as HTML5 media reads it).</summary>
    public static string Link(Guid workspaceId, Guid sourceId, int? page, double? startSeconds)
    {
        var link = $"/knowledge/{workspaceId}/sources/{sourceId}";
        if (page is { } p)
            return link + "#page=" + p.ToString(CultureInfo.InvariantCulture);
        if (startSeconds is { } s)
            return link + "#t=" + ((long)Math.Max(0, Math.Floor(s))).ToString(CultureInfo.InvariantCulture);
        return link;
    }

    /// <summary>The passage's start on one line, cut at a word near <paramref name="length"/> characters.</summary>
    public static string Snippet(string text, int length)
    {
        var flat = new StringBuilder(Math.Min(text.Length, length + 50));
        var space = false;
        foreach (var ch in text)
        {
            if (char.IsWhiteSpace(ch) || char.IsControl(ch))
                space = flat.Length > 0;
            else
            {
                if (space)
                    flat.Append(' ');
                space = false;
                flat.Append(ch);
                if (flat.Length > length + 40)
                    break;
            }
        }
        if (flat.Length <= length)
            return flat.ToString();
        var cut = flat.ToString(0, length);
        var lastSpace = cut.LastIndexOf(' ');
        return (lastSpace > length / 2 ? cut[..lastSpace] : cut).TrimEnd(',', ';', ':', '.', ' ') + "…";
    }
}
