using System.Globalization;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Exceptions;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>A PDF's text page by page, as the layout's blocks in reading order, each with its 1-based page.</summary>
internal sealed class PdfExtractor(DocumentLimits limits) : IDocumentExtractor
{
    public const string Damaged = "The PDF could not be read: it is damaged or not a PDF.";
    public const string Encrypted = "The PDF is password-protected; remove the password and upload it again.";
    public const string NoText = "The PDF has no text layer (it may be scanned images); text recognition is not supported.";

    public bool Handles(SourceFormat format) => format == SourceFormat.Pdf;

    public async Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct)
    {
        var bytes = await CappedStream.ReadAllAsync(content, limits.MaxBytes, ct);
        var blocks = new BlockCollector(limits, ct);
        PdfDocument pdf;
        try
        {
            pdf = PdfDocument.Open(bytes, new ParsingOptions { SkipMissingFonts = true });
        }
        catch (PdfDocumentEncryptedException e)
        {
            throw new IngestionException(Encrypted, inner: e);
        }
        // PdfPig reports a broken file through many exception types (format, index, null reference, cast); each
        // means the same thing to the user, and none is worth a retry.
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new IngestionException(Damaged, inner: e);
        }
        using (pdf)
        {
            int pageCount;
            string? title;
            try
            {
                pageCount = pdf.NumberOfPages;
                title = pdf.Information.Title;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new IngestionException(Damaged, inner: e);
            }
            if (pageCount > limits.MaxPdfPages)
                throw new IngestionException(string.Create(CultureInfo.InvariantCulture,
                    $"The PDF has {pageCount:N0} pages; the limit is {limits.MaxPdfPages:N0}. Split it into smaller documents."));
            var letters = 0;
            for (var number = 1; number <= pageCount; number++)
            {
                ct.ThrowIfCancellationRequested();
                Page page;
                try
                {
                    page = pdf.GetPage(number);
                }
                catch (Exception e) when (e is not OperationCanceledException and not IngestionException)
                {
                    throw new IngestionException(Damaged, inner: e);
                }
                letters += page.Letters.Count;
                foreach (var text in PageBlocks(page))
                    blocks.Add(text, DocumentBlockKind.Paragraph, number);
            }
            if (letters == 0 || blocks.Count == 0)
                throw new IngestionException(NoText);
            return blocks.Build(title, pageCount);
        }
    }

    /// <summary>The page's paragraphs in reading order (<see cref="PdfLayout"/>), or its plain text if the layout fails.</summary>
    static List<string> PageBlocks(Page page)
    {
        if (page.Letters.Count == 0)
            return [];
        try
        {
            return [.. PdfLayout.Paragraphs(page.GetWords()).Select(lines => JoinLines(lines))];
        }
        // The layout is a heuristic over odd geometry; the page's own text is still worth indexing.
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IndexOutOfRangeException or ArithmeticException)
        {
            return [page.Text];
        }
    }

    /// <summary>Lines of a block as one paragraph; a word hyphenated across a line break is joined again.</summary>
    static string JoinLines(IEnumerable<string> lines)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var line in lines)
        {
            var text = line.Trim();
            if (text.Length == 0)
                continue;
            if (sb.Length > 0)
            {
                if (sb.Length >= 2 && sb[^1] == '-' && char.IsLetter(sb[^2]) && char.IsLower(text[0]))
                    sb.Length--;
                else
                    sb.Append(' ');
            }
            sb.Append(text);
        }
        return sb.ToString();
    }
}
