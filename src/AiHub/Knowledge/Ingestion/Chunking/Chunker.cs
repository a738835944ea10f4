using System.Text;
using AiHub.Knowledge.Ingestion.Documents;
using Microsoft.ML.Tokenizers;

namespace AiHub.Knowledge.Ingestion.Chunking;

/// <summary>
/// Cuts a document or a transcript into chunks of at most <see cref="ChunkingOptions.MaxTokens"/> o200k tokens that
/// follow its structure. A document's chunk never spans two pages (so a page citation is exact) and starts afresh at a
/// heading of the first two levels; blocks are packed whole where they fit, a longer one is cut at sentences, then at
/// tokens. A chunk that follows a full one repeats the last sentences of it. Each chunk's text is exactly the
/// document's text (<see cref="BlockCollector.TextOf"/>) from its start offset to its end offset.
/// </summary>
internal sealed class Chunker
{
    public const string HeadingSeparator = " › ";

    /// <summary>Transcript segments are joined by a line break in the transcript's text.</summary>
    public const string SegmentSeparator = "\n";

    // Loaded once; the vocabulary is a few MB and the tokenizer is thread-safe.
    static readonly Lazy<Tokenizer> O200k = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"), LazyThreadSafetyMode.ExecutionAndPublication);

    readonly Tokenizer _tokenizer = O200k.Value;

    public int CountTokens(string text) => string.IsNullOrEmpty(text) ? 0 : _tokenizer.CountTokens(text);

    /// <summary>A piece of one block: characters [Start, End) of its text.</summary>
    readonly record struct Unit(int Block, int Start, int End, int Tokens, bool IsHeading);

    public IReadOnlyList<ChunkDraft> Chunk(ExtractedDocument doc, ChunkingOptions options)
    {
        ArgumentNullException.ThrowIfNull(doc);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var chunks = new List<ChunkDraft>();
        var blocks = doc.Blocks;
        // Room for the overlap and the joins, so a unit always fits after the overlap.
        var budget = options.MaxTokens - options.OverlapTokens - 2;
        var current = new List<Unit>();
        var currentTokens = 0;
        var overlapCount = 0;

        for (var b = 0; b < blocks.Count; b++)
        {
            var block = blocks[b];
            if (current.Count > overlapCount && StartsAfresh(blocks[current[^1].Block], block, HasText(current, overlapCount)))
            {
                Emit(current, overlapCount);
                current.Clear();
                currentTokens = 0;
                overlapCount = 0;
            }
            else if (current.Count > 0 && current.Count == overlapCount && StartsAfresh(blocks[current[^1].Block], block, hasText: true))
            {
                // An overlap only makes sense within the same page and section.
                current.Clear();
                currentTokens = 0;
                overlapCount = 0;
            }
            foreach (var unit in Units(b, block, budget))
            {
                if (current.Count > 0 && currentTokens + 1 + unit.Tokens > options.MaxTokens)
                {
                    if (current.Count == overlapCount)
                    {
                        current.Clear();
                        currentTokens = 0;
                        overlapCount = 0;
                    }
                    else
                    {
                        var next = Carry(current, overlapCount, options.OverlapTokens);
                        Emit(current, overlapCount, next.Emitted);
                        current = next.Units;
                        overlapCount = next.OverlapCount;
                        currentTokens = current.Sum(u => u.Tokens + 1);
                        if (current.Count > 0 && currentTokens + 1 + unit.Tokens > options.MaxTokens)
                        {
                            current.Clear();
                            currentTokens = 0;
                            overlapCount = 0;
                        }
                    }
                }
                current.Add(unit);
                currentTokens += unit.Tokens + (current.Count > 1 ? 1 : 0);
            }
        }
        if (current.Count > overlapCount)
            Emit(current, overlapCount);
        return chunks;

        void Emit(List<Unit> units, int overlap, int? count = null)
        {
            var taken = units.GetRange(0, count ?? units.Count);
            var first = taken[0];
            var last = taken[^1];
            var text = Render(blocks, taken);
            var own = taken.Skip(overlap).Select(u => blocks[u.Block].HeadingPath);
            var path = CommonPrefix(own.Any() ? own : taken.Select(u => blocks[u.Block].HeadingPath));
            chunks.Add(new ChunkDraft(
                chunks.Count,
                text,
                CountTokens(text),
                blocks[first.Block].Page,
                path.Count == 0 ? null : string.Join(HeadingSeparator, path),
                null,
                null,
                blocks[first.Block].Offset + first.Start,
                blocks[last.Block].Offset + last.End));
        }

        (int Emitted, List<Unit> Units, int OverlapCount) Carry(List<Unit> units, int overlap, int overlapTokens)
        {
            // A heading at the end of a full chunk belongs with the text under it, in the next one.
            var trailingHeadings = 0;
            while (trailingHeadings < units.Count - overlap && units[units.Count - 1 - trailingHeadings].IsHeading)
                trailingHeadings++;
            if (trailingHeadings > 0 && trailingHeadings < units.Count - overlap)
                return (units.Count - trailingHeadings, units.GetRange(units.Count - trailingHeadings, trailingHeadings), 0);
            var tail = Overlap(blocks, units, overlapTokens);
            return (units.Count, tail, tail.Count);
        }
    }

    /// <summary>A new page, or a heading of the first two levels after some text, starts a new chunk.</summary>
    static bool StartsAfresh(DocumentBlock previous, DocumentBlock block, bool hasText) =>
        previous.Page != block.Page || (hasText && block.Kind == DocumentBlockKind.Heading && block.HeadingPath.Count <= 2);

    static bool HasText(List<Unit> units, int overlap)
    {
        for (var i = overlap; i < units.Count; i++)
            if (!units[i].IsHeading)
                return true;
        return false;
    }

    /// <summary>The block whole if it fits the budget; else its sentences, and a sentence too long cut at tokens.</summary>
    IEnumerable<Unit> Units(int index, DocumentBlock block, int budget)
    {
        var text = block.Text;
        var heading = block.Kind == DocumentBlockKind.Heading;
        var tokens = CountTokens(text);
        if (tokens <= budget)
        {
            yield return new Unit(index, 0, text.Length, tokens, heading);
            yield break;
        }
        foreach (var (start, end) in Sentences(text))
        {
            var sentenceTokens = CountTokens(text[start..end]);
            if (sentenceTokens <= budget)
            {
                yield return new Unit(index, start, end, sentenceTokens, heading);
                continue;
            }
            var at = start;
            while (at < end)
            {
                var piece = text[at..end];
                var length = _tokenizer.GetIndexByTokenCount(piece, budget, out _, out var count, considerPreTokenization: true, considerNormalization: false);
                if (length <= 0)
                    length = char.IsHighSurrogate(piece[0]) && piece.Length > 1 ? 2 : 1;
                var pieceEnd = at + length;
                var trimmedEnd = pieceEnd;
                while (trimmedEnd > at && char.IsWhiteSpace(text[trimmedEnd - 1]))
                    trimmedEnd--;
                if (trimmedEnd > at)
                    yield return new Unit(index, at, trimmedEnd, CountTokens(text[at..trimmedEnd]), heading);
                at = pieceEnd;
                while (at < end && char.IsWhiteSpace(text[at]))
                    at++;
            }
        }
    }

    /// <summary>The last sentences of a chunk that fit in <paramref name="overlapTokens"/>, or the tail of its last sentence.</summary>
    List<Unit> Overlap(IReadOnlyList<DocumentBlock> blocks, List<Unit> units, int overlapTokens)
    {
        var result = new List<Unit>();
        if (overlapTokens == 0)
            return result;
        var total = 0;
        for (var i = units.Count - 1; i >= 0; i--)
        {
            var unit = units[i];
            if (unit.IsHeading)
                break;
            var text = blocks[unit.Block].Text;
            var sentences = Sentences(text[unit.Start..unit.End]);
            var complete = true;
            for (var s = sentences.Count - 1; s >= 0; s--)
            {
                var (start, end) = sentences[s];
                start += unit.Start;
                end += unit.Start;
                var tokens = CountTokens(text[start..end]);
                if (total + tokens + 1 > overlapTokens)
                {
                    if (result.Count == 0)
                        result.Add(TailOf(unit.Block, text, start, end, overlapTokens, unit.IsHeading));
                    complete = false;
                    break;
                }
                // Sentences of one unit stay one piece: extend the piece taken so far, or start it.
                if (result.Count > 0 && result[0].Block == unit.Block && result[0].Start >= end)
                    result[0] = result[0] with { Start = start, Tokens = result[0].Tokens + tokens + 1 };
                else
                    result.Insert(0, new Unit(unit.Block, start, end, tokens, false));
                total += tokens + 1;
            }
            if (!complete)
                break;
        }
        // The overlap is re-counted as it will be rendered.
        return [.. result.Select(u => u with { Tokens = CountTokens(blocks[u.Block].Text[u.Start..u.End]) })];
    }

    /// <summary>The last <paramref name="maxTokens"/> tokens of a sentence, from a word's start.</summary>
    Unit TailOf(int block, string text, int start, int end, int maxTokens, bool heading)
    {
        var sentence = text[start..end];
        var from = _tokenizer.GetIndexByTokenCountFromEnd(sentence, maxTokens, out _, out _, considerNormalization: false);
        while (from < sentence.Length && !char.IsWhiteSpace(sentence[from]) && from > 0 && !char.IsWhiteSpace(sentence[from - 1]))
            from++;
        while (from < sentence.Length && char.IsWhiteSpace(sentence[from]))
            from++;
        if (from >= sentence.Length)
            from = Math.Max(0, sentence.Length - 1);
        return new Unit(block, start + from, end, CountTokens(sentence[from..]), heading);
    }

    /// <summary>The units' text as it stands in the document: one block's pieces with the space between them, blocks joined by a blank line.</summary>
    static string Render(IReadOnlyList<DocumentBlock> blocks, List<Unit> units)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < units.Count; i++)
        {
            var unit = units[i];
            var text = blocks[unit.Block].Text;
            if (i > 0 && units[i - 1].Block == unit.Block)
                sb.Append(text, units[i - 1].End, unit.End - units[i - 1].End);
            else
            {
                if (i > 0)
                    sb.Append(BlockCollector.Separator);
                sb.Append(text, unit.Start, unit.End - unit.Start);
            }
        }
        return sb.ToString();
    }

    static List<string> CommonPrefix(IEnumerable<IReadOnlyList<string>> paths)
    {
        List<string>? prefix = null;
        foreach (var path in paths)
        {
            if (prefix is null)
            {
                prefix = [.. path];
                continue;
            }
            var n = 0;
            while (n < prefix.Count && n < path.Count && prefix[n] == path[n])
                n++;
            prefix.RemoveRange(n, prefix.Count - n);
        }
        return prefix ?? [];
    }

    /// <summary>Sentence ranges, without the whitespace between them: a sentence ends at . ! ? (and CJK forms) before a space, or at a line break.</summary>
    internal static List<(int Start, int End)> Sentences(string text)
    {
        var result = new List<(int, int)>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var end = -1;
            if (c == '\n')
                end = i;
            else if (c is '.' or '!' or '?' or '…' or '。' or '！' or '？')
            {
                var j = i + 1;
                while (j < text.Length && text[j] is '"' or '\'' or '”' or '’' or ')' or ']' or '»')
                    j++;
                if (j == text.Length || char.IsWhiteSpace(text[j]) || c is '。' or '！' or '？')
                    end = j;
            }
            if (end < 0)
                continue;
            Add(start, end);
            start = end;
            i = end - 1 < i ? i : end - 1;
        }
        Add(start, text.Length);
        return result;

        void Add(int from, int to)
        {
            while (from < to && char.IsWhiteSpace(text[from]))
                from++;
            while (to > from && char.IsWhiteSpace(text[to - 1]))
                to--;
            if (to > from)
                result.Add((from, to));
        }
    }

    /// <summary>The transcript's text that chunk offsets point into: its non-empty segments, one per line.</summary>
    public static string TranscriptText(Transcript transcript) =>
        string.Join(SegmentSeparator, transcript.Segments.Select(s => s.Text.Trim()).Where(t => t.Length > 0));

    /// <summary>Whole segments packed up to the limit; each chunk after the first repeats the previous chunk's last segment.</summary>
    public IReadOnlyList<ChunkDraft> Chunk(Transcript transcript, ChunkingOptions options)
    {
        ArgumentNullException.ThrowIfNull(transcript);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var segments = new List<(TranscriptSegment Segment, string Text, long Offset, int Tokens)>();
        long offset = 0;
        foreach (var segment in transcript.Segments)
        {
            var text = segment.Text.Trim();
            if (text.Length == 0)
                continue;
            segments.Add((segment, text, offset, CountTokens(text)));
            offset += text.Length + SegmentSeparator.Length;
        }
        var chunks = new List<ChunkDraft>();
        var current = new List<int>();
        var tokens = 0;
        var fresh = 0;
        for (var i = 0; i < segments.Count; i++)
        {
            if (fresh > 0 && tokens + 1 + segments[i].Tokens > options.MaxTokens)
            {
                Emit();
                var last = current[^1];
                current.Clear();
                tokens = 0;
                fresh = 0;
                if (options.OverlapTokens > 0 && segments[last].Tokens + 1 + segments[i].Tokens <= options.MaxTokens)
                {
                    current.Add(last);
                    tokens = segments[last].Tokens;
                }
            }
            tokens += segments[i].Tokens + (current.Count > 0 ? 1 : 0);
            current.Add(i);
            fresh++;
        }
        if (fresh > 0)
            Emit();
        return chunks;

        void Emit()
        {
            var first = segments[current[0]];
            var last = segments[current[^1]];
            var text = string.Join(SegmentSeparator, current.Select(i => segments[i].Text));
            chunks.Add(new ChunkDraft(
                chunks.Count, text, CountTokens(text), null, null,
                first.Segment.Start, last.Segment.End,
                first.Offset, last.Offset + last.Text.Length,
                first.Segment.Index, last.Segment.Index));
        }
    }
}
