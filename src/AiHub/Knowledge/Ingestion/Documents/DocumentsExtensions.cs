using Microsoft.Extensions.DependencyInjection.Extensions;

namespace AiHub.Knowledge.Ingestion.Documents;

internal static class DocumentsExtensions
{
    public static void AddDocuments(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.TryAddSingleton(new DocumentLimits());
        services.AddSingleton<IDocumentExtractor, PdfExtractor>();
        services.AddSingleton<IDocumentExtractor, DocxExtractor>();
        services.AddSingleton<IDocumentExtractor, MarkdownExtractor>();
        services.AddSingleton<IDocumentExtractor, HtmlExtractor>();
        services.AddSingleton<IDocumentExtractor, TextExtractor>();
        services.AddSingleton<IDocumentExtractor, CsvExtractor>();
        services.AddSingleton<DocumentExtractors>();
        services.AddSingleton<Chunking.Chunker>();
    }
}
