using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Search;

namespace AiHub.Knowledge;

public static class KnowledgeExtensions
{
    /// <summary>Knowledge bases: sources uploaded or imported, durable ingestion (extract, transcribe, chunk, embed, index), hybrid search and citations.</summary>
    public static IHostApplicationBuilder AddKnowledge(this IHostApplicationBuilder builder)
    {
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
        Insights.InsightsExtensions.MapInsightRoutes(app);
        SearchExtensions.MapSearchRoutes(app);
        return app;
    }
}
