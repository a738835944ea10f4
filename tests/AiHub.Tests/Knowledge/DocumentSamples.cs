using System.IO.Compression;
using System.Text;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace AiHub.Tests.Knowledge;

/// <summary>Documents built in the test itself, so every sample's content is known exactly.</summary>
internal static class DocumentSamples
{
    /// <summary>A PDF with one list of paragraphs per page, each paragraph wrapped into lines like a real page.</summary>
    public static byte[] Pdf(IReadOnlyList<IReadOnlyList<string>> pages, string? title = null)
    {
        var builder = new PdfDocumentBuilder();
        if (title is not null)
            builder.DocumentInformation.Title = title;
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        foreach (var paragraphs in pages)
        {
            var page = builder.AddPage(595, 842);
            var y = 800.0;
            foreach (var paragraph in paragraphs)
            {
                foreach (var line in Wrap(paragraph, 85))
                {
                    page.AddText(line, 10, new PdfPoint(50, y), font);
                    y -= 13;
                }
                y -= 14;
            }
        }
        return builder.Build();
    }

    /// <summary>A PDF whose only page has a drawing and no text, like a scan without a text layer.</summary>
    public static byte[] PdfWithoutText()
    {
        var builder = new PdfDocumentBuilder();
        var page = builder.AddPage(595, 842);
        page.DrawRectangle(new PdfPoint(50, 50), 200, 100, 2, fill: true);
        return builder.Build();
    }

    public static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new StringBuilder();
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }
            if (line.Length > 0)
                line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0)
            yield return line.ToString();
    }

    /// <summary>A Word document with a styles part that defines Title and Heading 1–3, as Word writes them.</summary>
    public static byte[] Docx(Action<Body> fill, string? title = null, bool withStyles = true)
    {
        using var stream = new MemoryStream();
        using (var word = WordprocessingDocument.Create(stream, WordprocessingDocumentType.Document))
        {
            var main = word.AddMainDocumentPart();
            main.Document = new Document(new Body());
            fill(main.Document.Body!);
            if (withStyles)
            {
                var styles = main.AddNewPart<StyleDefinitionsPart>();
                styles.Styles = new Styles(
                    Style("Normal", "Normal"),
                    Style("Title", "Title"),
                    Style("Heading1", "heading 1"),
                    Style("Heading2", "heading 2"),
                    Style("Heading3", "heading 3"),
                    Style("ListParagraph", "List Paragraph"));
            }
            if (title is not null)
                word.PackageProperties.Title = title;
        }
        return stream.ToArray();
    }

    static Style Style(string id, string name) =>
        new(new StyleName { Val = name }) { Type = StyleValues.Paragraph, StyleId = id };

    public static Paragraph Para(string text, string? style = null)
    {
        var paragraph = new Paragraph(new Run(new Text(text) { Space = SpaceProcessingModeValues.Preserve }));
        if (style is not null)
            paragraph.PrependChild(new ParagraphProperties(new ParagraphStyleId { Val = style }));
        return paragraph;
    }

    public static Table Table(params string[][] rows) =>
        new(rows.Select(r => new TableRow(r.Select(c => new TableCell(Para(c))))));

    /// <summary>A ZIP of the given entries (name, content).</summary>
    public static byte[] Zip(params (string Name, string Content)[] entries)
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(Encoding.UTF8.GetBytes(content));
            }
        }
        return stream.ToArray();
    }

    /// <summary>Text of about <paramref name="words"/> words in sentences, different for each seed.</summary>
    public static string Prose(int seed, int words)
    {
        string[] vocabulary = ["the", "index", "stores", "each", "chunk", "with", "its", "page", "and", "heading", "so",
            "answers", "cite", "sources", "exactly", "while", "search", "ranks", "passages", "by", "meaning", "lexical",
            "overlap", "between", "neighbours", "keeps", "context", "across", "boundaries", "tokens", "count"];
        var random = new Random(seed);
        var sb = new StringBuilder();
        var inSentence = 0;
        for (var i = 0; i < words; i++)
        {
            var word = vocabulary[random.Next(vocabulary.Length)];
            if (inSentence == 0)
                word = char.ToUpperInvariant(word[0]) + word[1..];
            sb.Append(word);
            inSentence++;
            if (inSentence >= 8 + random.Next(10) || i == words - 1)
            {
                sb.Append('.');
                inSentence = 0;
            }
            if (i < words - 1)
                sb.Append(' ');
        }
        return sb.ToString();
    }
}
