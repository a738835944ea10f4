using System.Text;
using System.Text.RegularExpressions;
using Markdig;
using Markdig.Extensions.Tables;
using Markdig.Extensions.Yaml;
using Markdig.Syntax;
using Markdig.Syntax.Inlines;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>Markdown through Markdig: headings make the path; paragraphs, list items, code blocks and table rows are blocks.</summary>
internal sealed partial class MarkdownExtractor(DocumentLimits limits) : IDocumentExtractor
{
    static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UsePipeTables().UseGridTables().UseYamlFrontMatter().Build();

    public bool Handles(SourceFormat format) => format == SourceFormat.Markdown;

    public async Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct)
    {
        var text = await TextExtractor.ReadAllTextAsync(content, limits, ct);
        var document = Markdown.Parse(text, Pipeline);
        var blocks = new BlockCollector(limits, ct);
        string? title = null;
        foreach (var block in document)
            Walk(block, blocks, inList: false, ref title);
        return blocks.Build(title);
    }

    static void Walk(Block block, BlockCollector blocks, bool inList, ref string? title)
    {
        switch (block)
        {
            case YamlFrontMatterBlock:
                break;
            case HeadingBlock heading:
                var headingText = InlineText(heading.Inline);
                if (heading.Level == 1)
                    title ??= headingText;
                blocks.Heading(heading.Level, headingText);
                break;
            case ParagraphBlock paragraph:
                blocks.Add(InlineText(paragraph.Inline), inList ? DocumentBlockKind.ListItem : DocumentBlockKind.Paragraph);
                break;
            case Table table:
                foreach (var row in table.OfType<TableRow>())
                {
                    var cells = row.OfType<TableCell>().Select(c => string.Join(' ', c.OfType<ParagraphBlock>().Select(p => InlineText(p.Inline))).Trim());
                    blocks.Add(string.Join(" | ", cells), DocumentBlockKind.TableRow);
                }
                break;
            case CodeBlock code:
                blocks.Add(code.Lines.ToString(), DocumentBlockKind.Code);
                break;
            case HtmlBlock html:
                blocks.Add(Tags().Replace(html.Lines.ToString(), " "), DocumentBlockKind.Paragraph);
                break;
            case ListBlock list:
                foreach (var item in list)
                    Walk(item, blocks, inList: true, ref title);
                break;
            case ContainerBlock container:
                foreach (var child in container)
                    Walk(child, blocks, inList, ref title);
                break;
        }
    }

    static string InlineText(ContainerInline? inline)
    {
        var sb = new StringBuilder();
        Append(inline, sb);
        return sb.ToString();
    }

    static void Append(Inline? inline, StringBuilder sb)
    {
        switch (inline)
        {
            case null:
            case HtmlInline:
                return;
            case LiteralInline literal:
                sb.Append(literal.Content);
                return;
            case CodeInline code:
                sb.Append(code.Content);
                return;
            case HtmlEntityInline entity:
                sb.Append(entity.Transcoded);
                return;
            case AutolinkInline autolink:
                sb.Append(autolink.Url);
                return;
            case LineBreakInline:
                sb.Append(' ');
                return;
            case ContainerInline container:
                foreach (var child in container)
                    Append(child, sb);
                return;
        }
    }

    [GeneratedRegex("<[^>]*>")]
    private static partial Regex Tags();
}
