using AiHub.Chat.Grounding;
using AiHub.Chat.Pages;
using AiHub.Knowledge.Grounding;

namespace AiHub.Tests;

/// <summary>How a cited passage is labelled and linked, and how an answer's [n] markers become links to it.</summary>
public sealed class CitationTests
{
    static readonly Guid Ws = Guid.Parse("0193a000-0000-7000-8000-000000000001");
    static readonly Guid Source = Guid.Parse("0193a000-0000-7000-8000-000000000002");

    [Theory]
    [InlineData(3, null, "p. 3")]
    [InlineData(null, 83.9, "1:23")]
    [InlineData(null, 5.0, "0:05")]
    [InlineData(null, 3725.0, "1:02:05")]
    [InlineData(null, null, "")]
    public void A_page_or_moment_is_labelled_as_people_read_it(int? page, double? start, string label) =>
        Assert.Equal(label, Citations.Label(page, start));

    [Fact]
    public void A_link_opens_the_source_at_its_page_or_its_second()
    {
        Assert.Equal($"/knowledge/{Ws}/sources/{Source}#page=3", Citations.Link(Ws, Source, 3, null));
        Assert.Equal($"/knowledge/{Ws}/sources/{Source}#t=83", Citations.Link(Ws, Source, null, 83.9));
        Assert.Equal($"/knowledge/{Ws}/sources/{Source}", Citations.Link(Ws, Source, null, null));
    }

    [Fact]
    public void A_snippet_is_one_line_cut_at_a_word()
    {
        var snippet = Citations.Snippet("First line\n\nsecond   line " + string.Concat(Enumerable.Repeat("word ", 100)), 60);
        Assert.StartsWith("First line second line word", snippet);
        Assert.EndsWith("word…", snippet);
        Assert.True(snippet.Length <= 61);
        Assert.Equal("Short text.", Citations.Snippet("  Short\ttext. ", 200));
    }

    [Fact]
    public void Cited_markers_link_to_their_source_in_the_same_tab_but_not_inside_code_or_when_uncited()
    {
        ChatCitation[] cited = [new(1, Source, 7, "Handbook", 3, null, null, "p. 3", "…", $"/knowledge/{Ws}/sources/{Source}#page=3")];

        var html = ChatMarkdown.Render("Refunds take 14 days [1]. See [2] and `[1]`.", cited).Value;

        Assert.Contains($"<a href=\"/knowledge/{Ws}/sources/{Source}#page=3\" class=\"aihub-cite\" title=\"Handbook, p. 3\" data-testid=\"chat-citation-marker\">[1]</a>", html);
        Assert.Contains("See [2] and", html);
        Assert.Contains("<code>[1]</code>", html);
        Assert.DoesNotContain("target=\"_blank\"", html);
    }

    [Fact]
    public void A_citation_whose_link_leaves_the_app_is_not_linked()
    {
        ChatCitation[] cited = [new(1, Source, 7, "Handbook", null, null, null, "", "…", "javascript:alert(1)")];

        Assert.DoesNotContain("<a", ChatMarkdown.Render("See [1].", cited).Value);
    }
}
