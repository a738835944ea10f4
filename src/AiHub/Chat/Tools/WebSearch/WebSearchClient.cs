using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Tools.WebSearch;

internal sealed record WebResult(string Title, string Url, string Snippet);

/// <summary>Why a search gave no results: said in a sentence the model can read and pass on.</summary>
internal sealed class WebSearchFailedException(string reason) : Exception(reason);

/// <summary>Asks the configured search service (SearXNG or Brave) and reduces its answer to title, URL and snippet.</summary>
internal sealed partial class WebSearchClient(HttpClient http, IOptions<WebSearchSettings> options, ILogger<WebSearchClient> logger)
{
    public const string BraveTokenHeader = "X-Subscription-Token";
    public const int MaxQueryLength = 400;
    const int MaxSnippetLength = 400;

    readonly WebSearchSettings _settings = options.Value;

    /// <exception cref="WebSearchFailedException">The service could not be reached, refused, was too slow or answered something unreadable.</exception>
    public async Task<IReadOnlyList<WebResult>> SearchAsync(string query, int count, CancellationToken ct)
    {
        using var request = _settings.Provider switch
        {
            WebSearchProvider.SearXNG => SearxngRequest(query),
            WebSearchProvider.Brave => BraveRequest(query, count),
            _ => throw new WebSearchFailedException("no search service is configured."),
        };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_settings.Timeout);
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw Failed($"the search service answered {(int)response.StatusCode}.", (int)response.StatusCode);
            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            using var json = await JsonDocument.ParseAsync(body, cancellationToken: timeout.Token);
            var results = _settings.Provider == WebSearchProvider.Brave ? ParseBrave(json.RootElement) : ParseSearxng(json.RootElement);
            return [.. results.Take(count)];
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw Failed($"the search service did not answer within {_settings.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s.", null);
        }
        catch (HttpRequestException e)
        {
            throw Failed("the search service could not be reached.", (int?)e.StatusCode, e.HttpRequestError.ToString());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw Failed("the search service's answer could not be read.", null, e.GetType().Name);
        }
    }

    HttpRequestMessage SearxngRequest(string query) =>
        new(HttpMethod.Get, Relative($"search?q={Uri.EscapeDataString(query)}&format=json"));

    HttpRequestMessage BraveRequest(string query, int count)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Relative($"res/v1/web/search?q={Uri.EscapeDataString(query)}&count={count.ToString(CultureInfo.InvariantCulture)}"));
        request.Headers.TryAddWithoutValidation(BraveTokenHeader, _settings.ApiKey);
        request.Headers.Accept.ParseAdd("application/json");
        return request;
    }

    /// <summary>Relative to the base URL's path, so that a service behind a path prefix (<c>https://host/searx/</c>) keeps it.</summary>
    Uri Relative(string pathAndQuery)
    {
        var path = _settings.ServiceUrl.AbsolutePath.TrimEnd('/');
        return new Uri(_settings.ServiceUrl, path + "/" + pathAndQuery);
    }

    /// <summary>SearXNG's <c>format=json</c>: <c>{ "results": [ { "title", "url", "content" } ] }</c>.</summary>
    static List<WebResult> ParseSearxng(JsonElement root) =>
        Results(root.GetProperty("results"), "content");

    /// <summary>Brave's web search: <c>{ "type": "search", "web": { "results": [ { "title", "url", "description" } ] } }</c>; no <c>web</c> when nothing matched.</summary>
    static List<WebResult> ParseBrave(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new JsonException("not an object");
        return root.TryGetProperty("web", out var web) && web.ValueKind == JsonValueKind.Object && web.TryGetProperty("results", out var results)
            ? Results(results, "description")
            : [];
    }

    static List<WebResult> Results(JsonElement results, string snippetName)
    {
        if (results.ValueKind != JsonValueKind.Array)
            throw new JsonException("results is not an array");
        var list = new List<WebResult>();
        foreach (var result in results.EnumerateArray())
        {
            var url = Text(result, "url");
            if (string.IsNullOrWhiteSpace(url))
                continue;
            list.Add(new WebResult(Clean(Text(result, "title")), url, Shorten(Clean(Text(result, snippetName)))));
        }
        return list;
    }

    static string Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";

    // Brave marks the matched words with <strong>; the model needs the words, not the markup.
    static string Clean(string text) => Whitespace().Replace(WebUtility.HtmlDecode(Tags().Replace(text, "")), " ").Trim();

    static string Shorten(string text) => text.Length <= MaxSnippetLength ? text : text[..(MaxSnippetLength - 1)].TrimEnd() + "…";

    WebSearchFailedException Failed(string reason, int? status, string? detail = null)
    {
        LogFailed(logger, _settings.Provider, status, detail ?? reason);
        return new WebSearchFailedException(reason);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Web search through {Provider} failed (status {Status}): {Reason}")]
    private static partial void LogFailed(ILogger logger, WebSearchProvider provider, int? status, string reason);

    [GeneratedRegex("<[^>]*>")]
    private static partial Regex Tags();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
