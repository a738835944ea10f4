using AiHub.Knowledge.Search;

namespace AiHub.Knowledge;

public static class KnowledgeExtensions
{
    /// <summary>Knowledge bases: sources uploaded or imported, durable ingestion (extract, transcribe, chunk, embed, index), hybrid search and citations.</summary>
    public static IHostApplicationBuilder AddKnowledge(this IHostApplicationBuilder builder)
    {
        SearchExtensions.AddSearch(builder);
        return builder;
    }

    public static IEndpointRouteBuilder MapKnowledgeEndpoints(this IEndpointRouteBuilder app)
    {
        SearchExtensions.MapSearchRoutes(app);
        return app;
    }
}
