using System.Text;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>Plain text: one paragraph per run of lines between blank lines.</summary>
internal sealed class TextExtractor(DocumentLimits limits) : IDocumentExtractor
{
    public bool Handles(SourceFormat format) => format == SourceFormat.Text;

    public async Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct)
    {
        var text = await ReadAllTextAsync(content, limits, ct);
        var blocks = new BlockCollector(limits, ct);
        foreach (var paragraph in Paragraphs(text))
            blocks.Add(paragraph, DocumentBlockKind.Paragraph);
        return blocks.Build(null);
    }

    static IEnumerable<string> Paragraphs(string text)
    {
        var current = new StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            if (line.AsSpan().Trim().IsEmpty)
            {
                if (current.Length > 0)
                    yield return current.ToString();
                current.Clear();
                continue;
            }
            if (current.Length > 0)
                current.Append('\n');
            current.Append(line);
        }
        if (current.Length > 0)
            yield return current.ToString();
    }

    /// <summary>The content as text: UTF-8 unless a BOM says UTF-16 (as the sniffer accepts), refused past the size limit.</summary>
    public static async Task<string> ReadAllTextAsync(Stream content, DocumentLimits limits, CancellationToken ct)
    {
        using var reader = Reader(content, limits);
        return await reader.ReadToEndAsync(ct);
    }

    public static StreamReader Reader(Stream content, DocumentLimits limits) =>
        new(CappedStream.Over(content, limits.MaxBytes, CappedStream.TooLarge(limits.MaxBytes)),
            new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true, bufferSize: 16 * 1024, leaveOpen: false);
}
