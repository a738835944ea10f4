using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge.Bases;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Evaluation;
using AiHub.Knowledge.Grounding;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Documents;
using AiHub.Knowledge.Ingestion.Media;
using AiHub.Knowledge.Insights;
using AiHub.Knowledge.Search;
using AiHub.Knowledge.Sources;
using AiHub.Knowledge.Transcripts;

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
        services.AddSingleton<IHostCommand, EvalRetrievalCommand>();
        services.AddScoped<UploadSweep>();
        services.AddRecurringJob<UploadSweep>(UploadSweep.JobId, sweep => sweep.SweepAsync(CancellationToken.None), Hangfire.Cron.Hourly(20));
        DocumentsExtensions.AddDocuments(builder);
        MediaExtensions.AddMedia(builder);
        EmbeddingsExtensions.AddEmbeddings(builder);
        services.AddScoped<IQueryEmbedder, QueryEmbedder>();
        GroundingExtensions.AddGrounding(builder);
        InsightsExtensions.AddInsights(builder);
        SearchExtensions.AddSearch(builder);
        return builder;
    }

    public static IEndpointRouteBuilder MapKnowledgeEndpoints(this IEndpointRouteBuilder app)
    {
        KnowledgeEndpoints.MapKnowledgeRoutes(app);
        InsightsExtensions.MapInsightRoutes(app);
        SearchExtensions.MapSearchRoutes(app);
        app.MapHub<KnowledgeHub>(KnowledgeHub.Path);
        return app;
    }
}
