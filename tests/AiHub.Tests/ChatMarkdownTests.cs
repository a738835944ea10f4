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
}
