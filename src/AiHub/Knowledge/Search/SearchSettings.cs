using System.ComponentModel.DataAnnotations;

namespace AiHub.Knowledge.Search;

internal sealed class SearchSettings
{
    public const string Section = "Knowledge:Search";

    /// <summary>How many chunks each retriever hands to the fusion.</summary>
    [Range(1, 1000)]
    public int Candidates { get; set; } = 50;

    /// <summary>Reciprocal Rank Fusion's k: larger flattens the difference between the first ranks.</summary>
    [Range(1, 1000)]
    public int RrfK { get; set; } = 60;

    /// <summary>HNSW's candidate list on PostgreSQL: higher finds more of the true nearest, slower.</summary>
    [Range(10, 1000)]
    public int EfSearch { get; set; } = 100;
}

internal enum RerankKind
{
    None,
    Cohere,
}

/// <summary>An optional reranker that reorders the fused results: any server that speaks Cohere's <c>/rerank</c> (Cohere, Jina, vLLM, TEI).</summary>
internal sealed class RerankSettings : IValidatableObject
{
    public const string Section = "Knowledge:Rerank";

    public RerankKind Kind { get; set; } = RerankKind.None;

    /// <summary>The base address; <c>/rerank</c> is added to it.</summary>
    public Uri? BaseUrl { get; set; }

    public string? ApiKey { get; set; }

    public string? Model { get; set; }

    /// <summary>How many of the fused results are sent to be reranked.</summary>
    [Range(1, 200)]
    public int TopN { get; set; } = 50;

    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Kind == RerankKind.None)
            yield break;
        if (BaseUrl is null || !BaseUrl.IsAbsoluteUri || (BaseUrl.Scheme != Uri.UriSchemeHttp && BaseUrl.Scheme != Uri.UriSchemeHttps))
            yield return new ValidationResult("is required when Knowledge:Rerank:Kind is set: an absolute http(s) address, e.g. https://api.cohere.com/v2", [nameof(BaseUrl)]);
        if (string.IsNullOrWhiteSpace(Model))
            yield return new ValidationResult("is required when Knowledge:Rerank:Kind is set (e.g. rerank-v3.5)", [nameof(Model)]);
    }
}
