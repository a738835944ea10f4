using System.ComponentModel;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Tools.WebSearch;

/// <summary><c>web_search</c>: the model looks something up on the web; offered only when a search service is configured.</summary>
internal sealed class WebSearchTool(WebSearchClient client, IOptions<WebSearchSettings> options) : IChatTool
{
    public const string ToolName = "web_search";

    // The model reads this text: dashes and accents as they are, not as \u escapes that cost tokens.
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    readonly WebSearchSettings _settings = options.Value;

    public string Name => ToolName;

    public string Description => About;

    public const string About =
        "Searches the web and returns the top results as a JSON list of {title, url, snippet}. Use it for recent events or facts you are unsure of, and cite the URLs you use.";

    public bool IsAvailable(ToolContext context) => _settings.Enabled;

    public AIFunction Create(ToolContext context) => AIFunctionFactory.Create(SearchAsync, Name, Description);

    /// <summary>What the model reads: the results, or why there are none. Never throws for a failed search, so the model can say what went wrong.</summary>
    public async Task<string> SearchAsync(
        [Description("What to search for, as you would type it into a search engine.")] string query,
        [Description("How many results to return; at most the configured maximum.")] int? count = null,
        CancellationToken cancellationToken = default)
    {
        query = (query ?? "").Trim();
        if (query.Length == 0)
            return "Web search failed: the query is empty; give some words to search for.";
        if (query.Length > WebSearchClient.MaxQueryLength)
            return $"Web search failed: the query is longer than {WebSearchClient.MaxQueryLength} characters; shorten it.";
        var wanted = Math.Clamp(count ?? _settings.MaxResults, 1, _settings.MaxResults);
        try
        {
            var results = await client.SearchAsync(query, wanted, cancellationToken);
            return results.Count == 0
                ? $"No web results for \"{query}\"."
                : JsonSerializer.Serialize(results, Json);
        }
        catch (WebSearchFailedException e)
        {
            return "Web search failed: " + e.Message;
        }
    }
}
