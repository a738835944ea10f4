using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Ganss.Xss;
using AiHub.Chat.Grounding;
using AngleSharp.Dom;
using Markdig;
using Markdig.Renderers;
using Markdig.Renderers.Html;
using Markdig.Syntax;
using Microsoft.AspNetCore.Components;

namespace AiHub.Chat.Pages;

/// <summary>
/// An answer's markdown as safe HTML: raw HTML in the markdown is shown as text, and the result is sanitized as well,
/// because a model repeats whatever a user or a web page put in front of it.
/// </summary>
internal static partial class ChatMarkdown
{
    static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseAdvancedExtensions().DisableHtml().Build();

    static readonly HtmlSanitizer Sanitizer = CreateSanitizer();

    public static MarkupString Render(string? markdown)
    {
        if (string.IsNullOrEmpty(markdown))
            return new MarkupString("");
        using var writer = new StringWriter();
        var renderer = new HtmlRenderer(writer);
        Pipeline.Setup(renderer);
        renderer.ObjectRenderers.Replace<CodeBlockRenderer>(new HighlightingCodeBlockRenderer());
        renderer.Render(Markdown.Parse(markdown, Pipeline));
        writer.Flush();
        return new MarkupString(Sanitizer.Sanitize(writer.ToString()));
    }

    /// <summary>
    /// The answer with each <c>[n]</c> it cites made a link to its source, at its page or moment. The links are added
    /// after sanitising, from the citations the server made (app-relative addresses only), so the model writes none.
    /// </summary>
    public static MarkupString Render(string? markdown, IReadOnlyList<ChatCitation>? citations)
    {
        var html = Render(markdown);
        var links = (citations ?? []).Where(c => c.Link.StartsWith("/knowledge/", StringComparison.Ordinal))
            .GroupBy(c => c.Index).ToDictionary(g => g.Key, g => g.First());
        return links.Count == 0 ? html : new MarkupString(LinkCitations(html.Value, links));
    }

    static string LinkCitations(string html, Dictionary<int, ChatCitation> links)
    {
        var document = new AngleSharp.Html.Parser.HtmlParser().ParseDocument("<body>" + html + "</body>");
        var body = document.Body!;
        // Code shows what it says, and a link cannot hold a link.
        var texts = body.Descendants<IText>().Where(t => t.ParentElement?.Closest("a, code, pre") is null).ToList();
        foreach (var text in texts)
        {
            var value = text.Data;
            var matches = CitationMarker().Matches(value).Where(m => links.ContainsKey(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
            if (matches.Count == 0)
                continue;
            var parent = text.Parent!;
            var at = 0;
            foreach (var m in matches)
            {
                parent.InsertBefore(document.CreateTextNode(value[at..m.Index]), text);
                var citation = links[int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)];
                var link = document.CreateElement("a");
                link.SetAttribute("href", citation.Link);
                link.SetAttribute("class", "aihub-cite");
                link.SetAttribute("title", citation.Label.Length > 0 ? $"{citation.Title}, {citation.Label}" : citation.Title);
                link.SetAttribute("data-testid", "chat-citation-marker");
                link.TextContent = m.Value;
                parent.InsertBefore(link, text);
                at = m.Index + m.Length;
            }
            parent.InsertBefore(document.CreateTextNode(value[at..]), text);
            parent.RemoveChild(text);
        }
        return body.InnerHtml;
    }

    [GeneratedRegex(@"\[(\d{1,3})\]")]
    private static partial Regex CitationMarker();

    static HtmlSanitizer CreateSanitizer()
    {
        var sanitizer = new HtmlSanitizer();
        sanitizer.AllowedSchemes.Add("mailto");
        // Links from a model open elsewhere and tell the target nothing about the chat.
        sanitizer.PostProcessNode += (_, e) =>
        {
            if (e.Node is AngleSharp.Dom.IElement { TagName: "A" } link)
            {
                link.SetAttribute("target", "_blank");
                link.SetAttribute("rel", "noopener noreferrer nofollow");
            }
        };
        sanitizer.AllowedAttributes.Add("target");
        sanitizer.AllowedAttributes.Add("rel");
        // Classes only for the code colouring: a model cannot borrow the page's own classes.
        sanitizer.AllowedAttributes.Add("class");
        foreach (var name in new[] { "aihub-code", "tok-kw", "tok-str", "tok-num", "tok-com" })
            sanitizer.AllowedClasses.Add(name);
        sanitizer.RemovingCssClass += (_, e) => e.Cancel = e.CssClass.StartsWith("language-", StringComparison.Ordinal) && e.Tag.TagName == "CODE";
        // Media that loads from elsewhere the moment it shows would tell that host whatever a model put in its address.
        foreach (var tag in new[] { "video", "audio", "source", "track", "picture", "iframe", "object", "embed" })
            sanitizer.AllowedTags.Remove(tag);
        foreach (var attribute in new[] { "srcset", "poster", "background", "lowsrc", "dynsrc", "longdesc", "style" })
            sanitizer.AllowedAttributes.Remove(attribute);
        // A picture carried in the answer itself loads nothing from elsewhere, so it may show.
        sanitizer.FilterUrl += (_, e) =>
        {
            if (e.SanitizedUrl is null && e.Tag.TagName == "IMG" && DataImage().IsMatch(e.OriginalUrl))
                e.SanitizedUrl = e.OriginalUrl;
        };
        sanitizer.PostProcessDom += (_, e) =>
        {
            foreach (var image in e.Document.QuerySelectorAll("img").ToList())
                ShowRemoteImageAsLink(image);
        };
        return sanitizer;
    }

    /// <summary>
    /// A remote image becomes a link that names its host: the page loads nothing from a host the model chose until the
    /// reader clicks. Embedded (<c>data:</c>) and same-origin images stay.
    /// </summary>
    static void ShowRemoteImageAsLink(AngleSharp.Dom.IElement image)
    {
        var src = image.GetAttribute("src") ?? "";
        if (IsLocalImage(src))
            return;
        var document = image.Owner!;
        var alt = image.GetAttribute("alt") is { Length: > 0 } a ? a : "image";
        var host = RemoteHost(src);
        var label = host is null ? $"[{alt}]" : $"[{alt}] ({host})";
        AngleSharp.Dom.IElement replacement;
        // A link cannot hold a link, so an image inside one becomes its text.
        if (host is null || image.Closest("a") is not null)
            replacement = document.CreateElement("span");
        else
        {
            replacement = document.CreateElement("a");
            replacement.SetAttribute("href", src);
            replacement.SetAttribute("target", "_blank");
            replacement.SetAttribute("rel", "noopener noreferrer nofollow");
            replacement.SetAttribute("title", "Open the image");
        }
        replacement.TextContent = label;
        image.Replace(replacement);
    }

    internal static bool IsLocalImage(string src)
    {
        if (DataImage().IsMatch(src))
            return true;
        // Browsers drop tabs and newlines and read a backslash as a slash, so "/\host" or "/\t/host" is another host.
        if (src.Length == 0 || src.Any(c => c <= ' ' || c == '\\'))
            return false;
        if (src.StartsWith("//", StringComparison.Ordinal))
            return false;
        var firstSlash = src.IndexOfAny(['/', '?', '#']);
        var scheme = src.IndexOf(':', StringComparison.Ordinal);
        return scheme < 0 || (firstSlash >= 0 && scheme > firstSlash);
    }

    static string? RemoteHost(string src)
    {
        var absolute = src.StartsWith("//", StringComparison.Ordinal) ? "https:" + src : src;
        return Uri.TryCreate(absolute, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0 ? uri.Host : null;
    }

    /// <summary>Fenced code as <c>&lt;pre&gt;&lt;code class="language-x"&gt;</c> with keywords, strings, numbers and comments in spans.</summary>
    sealed class HighlightingCodeBlockRenderer : HtmlObjectRenderer<CodeBlock>
    {
        protected override void Write(HtmlRenderer renderer, CodeBlock block)
        {
            var language = block is FencedCodeBlock { Info: { Length: > 0 } info } ? LanguageName().Match(info).Value.ToLowerInvariant() : "";
            var code = block.Lines.ToString();
            renderer.EnsureLine();
            renderer.Write("<pre class=\"aihub-code\"><code");
            if (language.Length > 0)
                renderer.Write(" class=\"language-").Write(language).Write("\"");
            renderer.Write(">");
            renderer.Write(language.Length > 0 ? Highlight(code, language) : WebUtility.HtmlEncode(code));
            renderer.WriteLine("</code></pre>");
        }
    }

    static readonly HashSet<string> HashComments = ["python", "py", "sh", "bash", "shell", "zsh", "ruby", "rb", "yaml", "yml", "toml", "r", "perl", "powershell", "ps1", "dockerfile", "makefile", "ini", "conf"];

    static readonly HashSet<string> Keywords =
    [
        "abstract", "and", "as", "async", "await", "bool", "break", "case", "catch", "class", "const", "continue", "def", "default", "del", "do", "elif",
        "else", "enum", "export", "extends", "false", "False", "finally", "fn", "for", "foreach", "from", "func", "function", "if", "impl", "import", "in",
        "int", "interface", "internal", "is", "lambda", "let", "match", "mut", "namespace", "new", "nil", "none", "None", "not", "null", "or", "override",
        "package", "pass", "private", "protected", "pub", "public", "raise", "readonly", "record", "return", "sealed", "select", "self", "static", "string",
        "struct", "super", "switch", "this", "throw", "true", "True", "try", "type", "typeof", "use", "using", "var", "void", "where", "while", "with",
        "yield", "echo", "then", "fi", "done", "esac", "local", "SELECT", "FROM", "WHERE", "INSERT", "UPDATE", "DELETE", "JOIN", "ORDER", "BY", "GROUP",
    ];

    /// <summary>A small, language-agnostic colouring: good enough to read code, not a parser of any one language.</summary>
    internal static string Highlight(string code, string language)
    {
        var tokens = HashComments.Contains(language) ? HashTokens() : SlashTokens();
        var html = new StringBuilder(code.Length + 64);
        var at = 0;
        foreach (Match m in tokens.Matches(code))
        {
            html.Append(WebUtility.HtmlEncode(code[at..m.Index]));
            var kind = m.Groups["c"].Success ? "com" : m.Groups["s"].Success ? "str" : m.Groups["n"].Success ? "num" : Keywords.Contains(m.Value) ? "kw" : null;
            if (kind is null)
                html.Append(WebUtility.HtmlEncode(m.Value));
            else
                html.Append("<span class=\"tok-").Append(kind).Append("\">").Append(WebUtility.HtmlEncode(m.Value)).Append("</span>");
            at = m.Index + m.Length;
        }
        html.Append(WebUtility.HtmlEncode(code[at..]));
        return html.ToString();
    }

    [GeneratedRegex(@"^data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$")]
    private static partial Regex DataImage();

    [GeneratedRegex(@"^[\w+#.-]+")]
    private static partial Regex LanguageName();

    [GeneratedRegex("""(?<c>//[^\n]*|/\*[\s\S]*?(?:\*/|$))|(?<s>"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?|`[^`]*`?)|(?<n>\b\d+(?:\.\d+)?\b)|(?<w>\b[A-Za-z_]\w*\b)""")]
    private static partial Regex SlashTokens();

    [GeneratedRegex("""(?<c>#[^\n]*)|(?<s>"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?)|(?<n>\b\d+(?:\.\d+)?\b)|(?<w>\b[A-Za-z_]\w*\b)""")]
    private static partial Regex HashTokens();
}
