using UglyToad.PdfPig.Content;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>
/// Groups a page's words into lines, lines into paragraphs, and orders the paragraphs for reading (columns left to
/// right, each top to bottom). PdfPig's Docstrum segmentation does this too but costs about 60 ms a page, which
/// alone caps ingestion near 15 pages a second; this pass is linear after a sort.
/// </summary>
internal static class PdfLayout
{
    internal sealed record Line(string Text, double Left, double Right, double Baseline, double Size);

    sealed class Block(Line first)
    {
        public List<Line> Lines { get; } = [first];
        public double Left { get; set; } = first.Left;
        public double Right { get; set; } = first.Right;
        public double Top { get; } = first.Baseline + first.Size;
        public double Bottom => Lines[^1].Baseline;
        public double Pitch { get; set; }
        public Line Last => Lines[^1];
    }

    public static List<List<string>> Paragraphs(IEnumerable<Word> words)
    {
        var lines = Lines(words);
        var blocks = new List<Block>();
        foreach (var line in lines)
        {
            var block = blocks.LastOrDefault(b => Continues(b, line));
            if (block is null)
            {
                blocks.Add(new Block(line));
                continue;
            }
            if (block.Lines.Count == 1)
                block.Pitch = block.Last.Baseline - line.Baseline;
            block.Lines.Add(line);
            block.Left = Math.Min(block.Left, line.Left);
            block.Right = Math.Max(block.Right, line.Right);
        }
        var ordered = new List<Block>(blocks.Count);
        Order(blocks, ordered);
        return [.. ordered.Select(b => b.Lines.Select(l => l.Text).ToList())];
    }

    /// <summary>The line is the next one of the block: just below its last line, overlapping it, in the same size of type.</summary>
    static bool Continues(Block block, Line line)
    {
        var last = block.Last;
        var drop = last.Baseline - line.Baseline;
        if (drop <= 0 || line.Right < block.Left || line.Left > block.Right)
            return false;
        var ratio = line.Size / last.Size;
        if (ratio is < 0.85 or > 1.18)
            return false;
        // A paragraph's line spacing is set by its second line; a wider gap than that is a new paragraph.
        return block.Lines.Count == 1 ? drop <= 1.45 * last.Size : drop <= block.Pitch * 1.2;
    }

    /// <summary>Words on one baseline, in order, split where a gap is too wide for a space (a column gutter).</summary>
    static List<Line> Lines(IEnumerable<Word> words)
    {
        var items = new List<(Word Word, double Baseline, double Size)>();
        foreach (var word in words)
        {
            if (string.IsNullOrWhiteSpace(word.Text) || word.Letters.Count == 0)
                continue;
            var first = word.Letters[0];
            var size = first.PointSize > 0 ? first.PointSize : Math.Max(1, word.BoundingBox.Height);
            items.Add((word, first.StartBaseLine.Y, size));
        }
        items.Sort((a, b) => b.Baseline.CompareTo(a.Baseline));
        var lines = new List<Line>();
        var group = new List<(Word Word, double Baseline, double Size)>();
        foreach (var item in items)
        {
            if (group.Count > 0 && Math.Abs(group[0].Baseline - item.Baseline) > 0.3 * Math.Max(group[0].Size, item.Size))
            {
                Split(group, lines);
                group.Clear();
            }
            group.Add(item);
        }
        Split(group, lines);
        return lines;
    }

    static void Split(List<(Word Word, double Baseline, double Size)> group, List<Line> lines)
    {
        if (group.Count == 0)
            return;
        group.Sort((a, b) => a.Word.BoundingBox.Left.CompareTo(b.Word.BoundingBox.Left));
        var start = 0;
        for (var i = 1; i <= group.Count; i++)
        {
            if (i < group.Count && group[i].Word.BoundingBox.Left - group[i - 1].Word.BoundingBox.Right <= 1.5 * group[i].Size)
                continue;
            var part = group.GetRange(start, i - start);
            lines.Add(new Line(
                string.Join(' ', part.Select(p => p.Word.Text)),
                part[0].Word.BoundingBox.Left,
                part[^1].Word.BoundingBox.Right,
                part.Average(p => p.Baseline),
                part.Max(p => p.Size)));
            start = i;
        }
    }

    /// <summary>Recursive XY cut: split at a horizontal gap no block spans (top part first), else a vertical one (left first).</summary>
    static void Order(List<Block> blocks, List<Block> into)
    {
        if (blocks.Count <= 1)
        {
            into.AddRange(blocks);
            return;
        }
        var byTop = blocks.OrderByDescending(b => b.Top).ToList();
        var lowest = byTop[0].Bottom;
        for (var i = 1; i < byTop.Count; i++)
        {
            if (byTop[i].Top < lowest)
            {
                Order(byTop.GetRange(0, i), into);
                Order(byTop.GetRange(i, byTop.Count - i), into);
                return;
            }
            lowest = Math.Min(lowest, byTop[i].Bottom);
        }
        var byLeft = blocks.OrderBy(b => b.Left).ToList();
        var rightmost = byLeft[0].Right;
        for (var i = 1; i < byLeft.Count; i++)
        {
            if (byLeft[i].Left > rightmost)
            {
                Order(byLeft.GetRange(0, i), into);
                Order(byLeft.GetRange(i, byLeft.Count - i), into);
                return;
            }
            rightmost = Math.Max(rightmost, byLeft[i].Right);
        }
        into.AddRange(byTop);
    }
}
