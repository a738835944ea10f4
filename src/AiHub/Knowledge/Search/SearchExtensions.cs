using AiHub.Data;
using AiHub.Infrastructure.Configuration;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Search;

internal static class SearchExtensions
{
    public static void AddSearch(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<SearchSettings>(SearchSettings.Section);
        services.AddSettings<RerankSettings>(RerankSettings.Section);
        services.AddScoped<IKnowledgeIndex>(sp => sp.GetRequiredService<IOptions<DatabaseSettings>>().Value.Provider == DatabaseProvider.Postgres
            ? ActivatorUtilities.CreateInstance<PostgresKnowledgeIndex>(sp)
            : ActivatorUtilities.CreateInstance<SqliteKnowledgeIndex>(sp));
        // The reranker's address is the operator's, so it is trusted and needs no outbound policy.
        services.AddHttpClient<Reranker>();
        services.AddScoped<IKnowledgeSearch, KnowledgeSearch>();
        services.AddSingleton<SqliteVectorCache>();
    }

    public static void MapSearchRoutes(IEndpointRouteBuilder app) => SearchEndpoints.MapSearchEndpoints(app);
}
