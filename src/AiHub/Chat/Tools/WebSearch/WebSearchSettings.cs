using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Chat.Tools.WebSearch;

internal enum WebSearchProvider
{
    /// <summary>No search service: the <c>web_search</c> tool is not offered.</summary>
    None,
    SearXNG,
    Brave,
}

internal sealed class WebSearchSettings : IValidatableObject
{
    public const string Section = "WebSearch";

    public static readonly Uri BraveDefaultUrl = new("https://api.search.brave.com");

    public WebSearchProvider Provider { get; set; } = WebSearchProvider.None;

    /// <summary>The search service; required for SearXNG, Brave's public API when unset.</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>Brave's subscription token; never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Results given to the model when it asks for no count, and the most it may ask for.</summary>
    [Range(1, 20)]
    public int MaxResults { get; set; } = 5;

    [Duration("00:00:01", "00:02:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public bool Enabled => Provider != WebSearchProvider.None;

    public Uri ServiceUrl => BaseUrl ?? BraveDefaultUrl;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enum.IsDefined(Provider))
            yield return new ValidationResult("must be None, SearXNG or Brave", [nameof(Provider)]);
        if (Provider == WebSearchProvider.SearXNG && BaseUrl is null)
            yield return new ValidationResult("is required for SearXNG (the instance's address, such as http://searxng:8080)", [nameof(BaseUrl)]);
        if (BaseUrl is not null && (!BaseUrl.IsAbsoluteUri || BaseUrl.Scheme is not ("http" or "https")))
            yield return new ValidationResult("must be an absolute http or https URL", [nameof(BaseUrl)]);
        if (Provider == WebSearchProvider.Brave && string.IsNullOrWhiteSpace(ApiKey))
            yield return new ValidationResult("is required for Brave (the subscription token)", [nameof(ApiKey)]);
    }
}
