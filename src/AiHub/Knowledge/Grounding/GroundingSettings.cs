using System.ComponentModel.DataAnnotations;

namespace AiHub.Knowledge.Grounding;

/// <summary>How chat answers are grounded in knowledge (<c>Knowledge:Grounding</c>).</summary>
internal sealed class GroundingSettings
{
    public const string Section = "Knowledge:Grounding";

    /// <summary>Passages searched for per question (and per <c>search_knowledge</c> call that asks for no count).</summary>
    [Range(1, 50)]
    public int TopK { get; set; } = 6;

    /// <summary>The most tokens of passages one question sends to the model (never more than a quarter of its context).</summary>
    [Range(100, 200_000)]
    public int MaxTokens { get; set; } = 3000;

    /// <summary>A passage only the vector search found is kept when its cosine similarity reaches this.</summary>
    [Range(0.0, 1.0)]
    public double MinSimilarity { get; set; } = 0.35;

    /// <summary>A passage whose fused (or reranked) score is below this is dropped, however it was found.</summary>
    [Range(0.0, 1_000.0)]
    public double MinScore { get; set; }

    /// <summary>Characters of a passage shown in its citation.</summary>
    [Range(40, 2000)]
    public int SnippetLength { get; set; } = 200;
}
