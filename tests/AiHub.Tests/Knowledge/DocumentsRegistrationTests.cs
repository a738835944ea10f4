using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Chunking;
using AiHub.Knowledge.Ingestion.Documents;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AiHub.Tests.Knowledge;

public sealed class DocumentsRegistrationTests
{
    [Fact]
    public void Every_document_format_has_an_extractor_and_media_has_none()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddSingleton(TimeProvider.System);
        DocumentsExtensions.AddDocuments(builder);
        using var host = builder.Build();

        var extractors = host.Services.GetRequiredService<DocumentExtractors>();

        Assert.All(new[] { SourceFormat.Pdf, SourceFormat.Docx, SourceFormat.Markdown, SourceFormat.Html, SourceFormat.Text, SourceFormat.Csv },
            f => Assert.True(extractors.Handles(f), f.ToString()));
        Assert.False(extractors.Handles(SourceFormat.Audio));
        Assert.False(extractors.Handles(SourceFormat.Video));
        Assert.NotNull(host.Services.GetRequiredService<Chunker>());
    }
}
