namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>Reads one document format into blocks. Failures a user can act on are <see cref="IngestionException"/>s.</summary>
internal interface IDocumentExtractor
{
    bool Handles(SourceFormat format);

    Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct);
}
