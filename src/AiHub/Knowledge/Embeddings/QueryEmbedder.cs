using AiHub.Credits.Pools;
using AiHub.Knowledge.Search;

namespace AiHub.Knowledge.Embeddings;

/// <summary>Embeds a question with a knowledge base's model, metered like every other call: the asker pays for it.</summary>
internal sealed class QueryEmbedder(KnowledgeEmbedder embedder, EmbeddingModels models) : IQueryEmbedder
{
    public async Task<float[]> EmbedQueryAsync(Spender? spender, string model, string text, CancellationToken ct)
    {
        // A model the operator has since removed cannot embed the question: its knowledge base is searched by words.
        if (!models.All.Any(m => string.Equals(m.Id, model, StringComparison.OrdinalIgnoreCase)))
            return [];
        // No one to charge would be a free way around the ledger; every search of the product names its asker.
        var payer = spender ?? throw new InvalidOperationException("A search with vectors needs someone to pay for embedding the question.");
        var vectors = await embedder.EmbedAsync(payer, model, [text], $"knowledge:query:{Guid.CreateVersion7():N}", ct);
        return vectors[0];
    }
}
