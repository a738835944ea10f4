using AiHub.Infrastructure.Configuration;

namespace AiHub.Knowledge.Embeddings;

internal static class EmbeddingsExtensions
{
    /// <summary>Embedding models from the providers' settings, and the metered embedder ingestion and search use.</summary>
    public static void AddEmbeddings(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<EmbeddingSettings>(EmbeddingSettings.Section);
        services.AddSingleton<EmbeddingModels>();
        services.AddSingleton<KnowledgeEmbedder>();
    }
}
