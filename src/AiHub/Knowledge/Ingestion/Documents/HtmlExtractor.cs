using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>
/// An HTML page's readable text through AngleSharp: scripts, styles and the page's chrome (navigation, header,
/// footer, asides) are dropped; h1–h6 make the heading path; paragraphs, list items, preformatted text and table rows
/// are blocks, and loose text between them is a paragraph of its own.
/// </summary>
internal sealed class HtmlExtractor(DocumentLimits limits) : IDocumentExtractor
{
    static readonly HashSet<string> Dropped = new(StringComparer.OrdinalIgnoreCase)
    {
        "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "svg", "math", "iframe",
        "object", "embed", "canvas", "form", "button", "select", "head",
    };

    // Elements that end the run of inline text before them.
    static readonly HashSet<string> BlockLevel = new(StringComparer.OrdinalIgnoreCase)
    {
        "address", "article", "blockquote", "body", "dd", "details", "dialog", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "hr", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "ul", "h1", "h2", "h3", "h4", "h5", "h6", "br", "caption",
    };

    public bool Handles(SourceFormat format) => format == SourceFormat.Html;

    public async Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct)
    {
        var html = await TextExtractor.ReadAllTextAsync(content, limits, ct);
        var parser = new HtmlParser(new HtmlParserOptions { IsScripting = false });
        using var document = await parser.ParseDocumentAsync(html, ct);
        var blocks = new BlockCollector(limits, ct);
        var walker = new Walker(blocks);
        if (document.Body is { } body)
            walker.Visit(body);
        walker.Flush();
        var title = document.Title;
        if (string.IsNullOrWhiteSpace(title))
            title = document.QuerySelector("h1")?.TextContent;
        return blocks.Build(title);
    }

    sealed class Walker(BlockCollector blocks)
    {
        readonly StringBuilder _loose = new();

        public void Visit(INode node)
        {
            foreach (var child in node.ChildNodes)
            {
                switch (child)
                {
                    case IText text:
                        _loose.Append(text.Data);
                        break;
                    case IElement element:
                        Element(element);
                        break;
                }
            }
        }

        void Element(IElement element)
        {
            var name = element.LocalName;
            if (Dropped.Contains(name) || element.HasAttribute("hidden") || element.GetAttribute("aria-hidden") == "true")
                return;
            if (!BlockLevel.Contains(name))
            {
                Visit(element);
                return;
            }
            Flush();
            switch (name)
            {
                case "h1" or "h2" or "h3" or "h4" or "h5" or "h6":
                    blocks.Heading(name[1] - '0', InlineText(element));
                    break;
                case "p" or "dt" or "dd" or "figcaption" or "caption" or "summary":
                    Leaf(element, DocumentBlockKind.Paragraph);
                    break;
                case "li":
                    Leaf(element, DocumentBlockKind.ListItem);
                    break;
                case "pre":
                    blocks.Add(element.TextContent, DocumentBlockKind.Code);
                    break;
                case "tr":
                    var cells = element.Children.Where(c => c.LocalName is "td" or "th").Select(c => InlineText(c).Trim());
                    blocks.Add(string.Join(" | ", cells), DocumentBlockKind.TableRow);
                    break;
                default:
                    Visit(element);
                    Flush();
                    break;
            }
        }

        /// <summary>A paragraph or list item: its own inline text, then any blocks nested in it (a list inside an item).</summary>
        void Leaf(IElement element, DocumentBlockKind kind)
        {
            var own = new StringBuilder();
            var nested = new List<IElement>();
            foreach (var child in element.ChildNodes)
            {
                if (child is IText text)
                    own.Append(text.Data);
                else if (child is IElement e && !Dropped.Contains(e.LocalName))
                {
                    if (BlockLevel.Contains(e.LocalName) && e.LocalName != "br")
                        nested.Add(e);
                    else if (e.LocalName == "br")
                        own.Append(' ');
                    else
                        own.Append(InlineText(e));
                }
            }
            blocks.Add(own.ToString(), kind);
            foreach (var e in nested)
                Element(e);
        }

        public void Flush()
        {
            if (_loose.Length == 0)
                return;
            blocks.Add(_loose.ToString(), DocumentBlockKind.Paragraph);
            _loose.Clear();
        }

        static string InlineText(IElement element)
        {
            var sb = new StringBuilder();
            foreach (var node in element.ChildNodes)
            {
                if (node is IText text)
                    sb.Append(text.Data);
                else if (node is IElement e && !Dropped.Contains(e.LocalName))
                    sb.Append(e.LocalName == "br" ? " " : InlineText(e)).Append(BlockLevel.Contains(e.LocalName) ? " " : "");
            }
            return sb.ToString();
        }
    }
}
