namespace AiHub.Knowledge.Insights;

internal static class InsightsExtensions
{
    public static void AddInsights(IHostApplicationBuilder builder) =>
        builder.Services.AddScoped<KnowledgeInsights>();

    public static void MapInsightRoutes(IEndpointRouteBuilder app) => InsightEndpoints.MapInsightRoutes(app);
}
