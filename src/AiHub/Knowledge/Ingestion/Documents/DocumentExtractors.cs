using System.Globalization;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>Picks the extractor for a sniffed format and holds every extraction to the time limit.</summary>
internal sealed class DocumentExtractors(IEnumerable<IDocumentExtractor> extractors, DocumentLimits limits, TimeProvider time)
{
    readonly IReadOnlyList<IDocumentExtractor> _extractors = [.. extractors];

    public bool Handles(SourceFormat format) => _extractors.Any(e => e.Handles(format));

    public async Task<ExtractedDocument> ExtractAsync(SourceFormat format, Stream content, CancellationToken ct)
    {
        var extractor = _extractors.FirstOrDefault(e => e.Handles(format))
            ?? throw new InvalidOperationException($"No document extractor reads {format}; media goes to transcription.");
        using var timeout = new CancellationTokenSource(limits.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
        ExtractedDocument doc;
        try
        {
            // The parsers are synchronous; off the caller's thread, the token still ends them between pages and blocks.
            doc = await Task.Run(() => extractor.ExtractAsync(content, linked.Token), linked.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new IngestionException(string.Create(CultureInfo.InvariantCulture,
                $"Reading the document took longer than {limits.Timeout.TotalSeconds:N0} seconds, the limit; split it into smaller documents."));
        }
        if (doc.Blocks.Count == 0)
            throw new IngestionException("The document has no text to index.");
        return doc;
    }
}
