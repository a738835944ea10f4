using AiHub.Gateway.Embeddings;

namespace AiHub.Gateway.Models;

/// <summary><c>GET /v1/models</c> and <c>POST /v1/embeddings</c>: what a key may call besides chat.</summary>
internal static class GatewayKeysExtensions
{
    public static void Add(IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<ServingSince>();
        builder.Services.AddSingleton<EmbeddingDimensions>();
        builder.Services.AddScoped<Organizations.ApiKeys.IKeySnippetModel, SnippetModel>();
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        ModelEndpoints.Map(app);
        EmbeddingEndpoints.Map(app);
    }
}
