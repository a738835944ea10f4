using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge.Bases;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Sources;
using AiHub.Knowledge.Transcripts;
using AiHub.Knowledge.Search;

namespace AiHub.Knowledge;

public static class KnowledgeExtensions
{
    /// <summary>Knowledge bases: sources uploaded or imported, durable ingestion (extract, transcribe, chunk, embed, index), hybrid search and citations.</summary>
    public static IHostApplicationBuilder AddKnowledge(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<KnowledgeSettings>(KnowledgeSettings.Section);
        services.AddScoped<KnowledgeBases>();
        services.AddScoped<KnowledgeSources>();
        services.AddScoped<SourceRemoval>();
        services.AddScoped<RecordingTranscripts>();
        services.AddScoped<UrlImports>();
        services.AddSingleton<SourceProgress>();
        services.AddScoped<IWorkHandler, IngestionPipeline>();
        EmbeddingsExtensions.AddEmbeddings(builder);
        Ingestion.Media.MediaExtensions.AddMedia(builder);
        Grounding.GroundingExtensions.AddGrounding(builder);
        Insights.InsightsExtensions.AddInsights(builder);
        Ingestion.Documents.DocumentsExtensions.AddDocuments(builder);
        SearchExtensions.AddSearch(builder);
        return builder;
    }

    public static IEndpointRouteBuilder MapKnowledgeEndpoints(this IEndpointRouteBuilder app)
    {
        KnowledgeEndpoints.MapKnowledgeRoutes(app);
        app.MapHub<KnowledgeHub>(KnowledgeHub.Path);
        Insights.InsightsExtensions.MapInsightRoutes(app);
        SearchExtensions.MapSearchRoutes(app);
        return app;
    }
}
