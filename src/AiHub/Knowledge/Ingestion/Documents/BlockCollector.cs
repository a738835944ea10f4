using System.Globalization;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>
/// Gathers an extractor's blocks: normalises their text, keeps the heading path, and gives each block its offset in
/// the document's text, which is the blocks' texts joined by a blank line (<see cref="Separator"/>).
/// </summary>
internal sealed class BlockCollector(DocumentLimits limits, CancellationToken ct)
{
    public const string Separator = "\n\n";

    readonly List<DocumentBlock> _blocks = [];
    // Heading texts by level (1-based); a heading drops every deeper one.
    readonly SortedDictionary<int, string> _headings = [];
    IReadOnlyList<string> _path = [];
    long _offset;

    public IReadOnlyList<DocumentBlock> Blocks => _blocks;

    public IReadOnlyList<string> HeadingPath => _path;

    public int Count => _blocks.Count;

    /// <summary>The text the blocks' offsets point into.</summary>
    public static string TextOf(ExtractedDocument doc) => string.Join(Separator, doc.Blocks.Select(b => b.Text));

    public void Heading(int level, string? text, int? page = null)
    {
        var clean = TextNormalizer.Normalize(text);
        if (clean.Length == 0)
            return;
        level = Math.Clamp(level, 1, 9);
        foreach (var deeper in _headings.Keys.Where(k => k >= level).ToList())
            _headings.Remove(deeper);
        _headings[level] = clean;
        _path = [.. _headings.Values];
        Append(clean, page, DocumentBlockKind.Heading);
    }

    public void Add(string? text, DocumentBlockKind kind, int? page = null)
    {
        var clean = TextNormalizer.Normalize(text, keepLines: kind == DocumentBlockKind.Code);
        if (clean.Length > 0)
            Append(clean, page, kind);
    }

    void Append(string text, int? page, DocumentBlockKind kind)
    {
        ct.ThrowIfCancellationRequested();
        if (_offset + text.Length > limits.MaxTextChars)
            throw new IngestionException(string.Create(CultureInfo.InvariantCulture,
                $"The document has more than {limits.MaxTextChars:N0} characters of text, the limit; split it into smaller documents."));
        _blocks.Add(new DocumentBlock(text, page, _path, kind, _offset));
        _offset += text.Length + Separator.Length;
    }

    public ExtractedDocument Build(string? title, int pageCount = 0) =>
        new(string.IsNullOrWhiteSpace(title) ? null : TextNormalizer.Normalize(title), pageCount, _blocks);
}
