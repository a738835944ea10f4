using System.Text.Json;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.AI;
using static AiHub.IntegrationTests.Chat.ChatToolCalls;

namespace AiHub.IntegrationTests.Chat;

/// <summary>
/// The <c>web_search</c> tool against a search service that speaks SearXNG's or Brave's wire format: the model gets a
/// short list of title, URL and snippet, or a sentence saying why not, never an exception.
/// </summary>
/// <remarks>On SQLite only: nothing here is stored, and the endpoint tests in ChatToolTests cover PostgreSQL.</remarks>
public abstract class WebSearchTests(SearchHostFixture fixture)
{
    protected IdentityHost Host => fixture.Host;

    protected FakeSearch Search => fixture.Search;

    protected static Task<string> SearchAsync(IdentityHost host, string query, int? count = null)
    {
        var arguments = new AIFunctionArguments { ["query"] = query };
        if (count is not null)
            arguments["count"] = count;
        return InvokeAsync(host, "web_search", arguments);
    }

    protected static List<(string Title, string Url, string Snippet)> Parse(string answer)
    {
        using var json = JsonDocument.Parse(answer);
        return [.. json.RootElement.EnumerateArray().Select(r =>
        {
            Assert.Equal(["title", "url", "snippet"], r.EnumerateObject().Select(p => p.Name));
            return (r.GetProperty("title").GetString()!, r.GetProperty("url").GetString()!, r.GetProperty("snippet").GetString()!);
        })];
    }

    [Fact]
    public async Task Results_reach_the_model_as_title_url_and_snippet()
    {
        Search.Reset();
        Search.Returns(
            new FakeSearchResult("Async in Rust", "https://rust-lang.org/async", "How async Rust works &amp; why."),
            new FakeSearchResult("Tokio", "https://tokio.rs/", "An async runtime for Rust."));

        var answer = await SearchAsync(Host, "async Rust");

        Assert.Equal([("Async in Rust", "https://rust-lang.org/async", "How async Rust works & why."), ("Tokio", "https://tokio.rs/", "An async runtime for Rust.")],
            Parse(answer));
        Assert.Equal("async Rust", Assert.Single(Search.Requests).Query["q"]);
    }

    [Fact]
    public async Task The_count_is_clamped_to_the_configured_maximum()
    {
        Search.Reset();

        var asDefault = Parse(await SearchAsync(Host, "penguins"));
        var tooMany = Parse(await SearchAsync(Host, "penguins", 50));
        var two = Parse(await SearchAsync(Host, "penguins", 2));
        var none = Parse(await SearchAsync(Host, "penguins", 0));

        Assert.Equal([3, 3, 2, 1], new[] { asDefault.Count, tooMany.Count, two.Count, none.Count });
        Assert.Equal(["https://example.com/penguins/1", "https://example.com/penguins/2", "https://example.com/penguins/3"], asDefault.Select(r => r.Url));
    }

    [Fact]
    public async Task No_match_is_said_in_words()
    {
        Search.Reset();
        Search.Returns();

        Assert.Equal("No web results for \"zxqv\".", await SearchAsync(Host, "zxqv"));
    }

    [Fact]
    public async Task An_empty_or_overlong_query_is_refused_without_asking_the_service()
    {
        Search.Reset();

        var empty = await SearchAsync(Host, "   ");
        var tooLong = await SearchAsync(Host, new string('a', 401));

        Assert.Equal("Web search failed: the query is empty; give some words to search for.", empty);
        Assert.Equal("Web search failed: the query is longer than 400 characters; shorten it.", tooLong);
        Assert.Empty(Search.Requests);
    }

    [Fact]
    public async Task An_error_status_becomes_a_sentence_and_a_warning()
    {
        Search.Reset();
        Search.FailWith(503);

        var answer = await SearchAsync(Host, "status");

        Assert.Equal("Web search failed: the search service answered 503.", answer);
        Assert.Contains(fixture.Logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("failed (status 503)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_slow_service_times_out_into_a_sentence()
    {
        Search.Reset();
        Search.AnswerAfter(TimeSpan.FromSeconds(5));
        var started = DateTimeOffset.UtcNow;

        var answer = await SearchAsync(Host, "slow");

        Assert.Equal("Web search failed: the search service did not answer within 1 s.", answer);
        Assert.True(DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(4), "the timeout did not cut the wait short");
    }

    [Theory]
    [InlineData("<html><body>Bad gateway</body></html>")]
    [InlineData("{\"results\": 5, \"web\": {\"results\": 5}}")]
    [InlineData("[1, 2]")]
    public async Task An_answer_that_is_not_the_expected_json_becomes_a_sentence(string body)
    {
        Search.Reset();
        Search.AnswerWith(body);

        Assert.Equal("Web search failed: the search service's answer could not be read.", await SearchAsync(Host, "garbled"));
    }

    [Fact]
    public async Task An_unreachable_service_becomes_a_sentence()
    {
        await using var host = await HostWithUnreachableServiceAsync();

        Assert.Equal("Web search failed: the search service could not be reached.", await SearchAsync(host, "anyone"));
    }

    /// <summary>This class's settings, pointing at a loopback port nobody listens on.</summary>
    protected abstract Task<IdentityHost> HostWithUnreachableServiceAsync();

    protected static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}

public sealed class SearxngSearchFixture() : SearchHostFixture("Sqlite", Searxng);

public sealed class BraveSearchFixture() : SearchHostFixture("Sqlite", Brave);

public sealed class SearxngWebSearchTests(SearxngSearchFixture fixture) : WebSearchTests(fixture), IClassFixture<SearxngSearchFixture>
{
    [Fact]
    public async Task SearXNG_is_asked_for_json_under_its_path_prefix()
    {
        Search.Reset();

        await SearchAsync(Host, "north & south");

        var request = Assert.Single(Search.Requests);
        Assert.Equal(FakeSearch.SearxngPrefix + "/search", request.Path);
        Assert.Equal(("north & south", "json"), (request.Query["q"], request.Query["format"]));
    }

    protected override Task<IdentityHost> HostWithUnreachableServiceAsync() =>
        IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["WebSearch:Provider"] = "SearXNG",
            ["WebSearch:BaseUrl"] = $"http://127.0.0.1:{ClosedPort()}/",
        });
}

public sealed class BraveWebSearchTests(BraveSearchFixture fixture) : WebSearchTests(fixture), IClassFixture<BraveSearchFixture>
{
    [Fact]
    public async Task Brave_gets_its_token_and_count_and_the_token_never_reaches_the_log()
    {
        Search.Reset();
        Search.Returns(new FakeSearchResult("Penguins", "https://example.org/penguins", "Emperor penguins huddle in winter."));

        var found = Parse(await SearchAsync(Host, "penguins huddle", 2));
        Search.FailWith(500);
        await SearchAsync(Host, "penguins huddle");

        var request = Search.Requests[0];
        Assert.Equal("/res/v1/web/search", request.Path);
        Assert.Equal((FakeSearch.BraveToken, "application/json"), (request.Headers["X-Subscription-Token"], request.Headers["Accept"]));
        Assert.Equal(("penguins huddle", "2"), (request.Query["q"], request.Query["count"]));
        // Brave marks the matched words with <strong>: the model reads the plain words.
        Assert.Equal("Emperor penguins huddle in winter.", Assert.Single(found).Snippet);
        var logs = fixture.Logs.Lines;
        Assert.Contains(logs, l => l.Contains("failed (status 500)", StringComparison.Ordinal));
        Assert.Contains(logs, l => l.Contains("/res/v1/web/search", StringComparison.Ordinal));
        Assert.Contains(logs, l => l.Contains("X-Subscription-Token", StringComparison.Ordinal));
        Assert.DoesNotContain(logs, l => l.Contains(FakeSearch.BraveToken, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_refused_token_is_a_readable_failure()
    {
        await using var host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["WebSearch:Provider"] = "Brave",
            ["WebSearch:BaseUrl"] = Search.BraveUrl,
            ["WebSearch:ApiKey"] = "BSA-revoked-token",
        });

        Assert.Equal("Web search failed: the search service answered 401.", await SearchAsync(host, "anything"));
    }

    protected override Task<IdentityHost> HostWithUnreachableServiceAsync() =>
        IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>
        {
            ["WebSearch:Provider"] = "Brave",
            ["WebSearch:BaseUrl"] = $"http://127.0.0.1:{ClosedPort()}/",
            ["WebSearch:ApiKey"] = FakeSearch.BraveToken,
        });
}
