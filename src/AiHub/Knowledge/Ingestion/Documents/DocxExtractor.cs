using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Xml;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>
/// A Word document's paragraphs, headings (the Title and Heading styles, or an outline level), list items and table
/// rows. The ZIP is inspected before OpenXml opens it, and every part is read through a byte cap, so a zip bomb is
/// refused without being expanded.
/// </summary>
internal sealed class DocxExtractor(DocumentLimits limits) : IDocumentExtractor
{
    public const string Damaged = "The Word document could not be read: it is damaged or not a .docx file.";

    public bool Handles(SourceFormat format) => format == SourceFormat.Docx;

    public async Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct)
    {
        var bytes = await CappedStream.ReadAllAsync(content, limits.MaxBytes, ct);
        using var memory = new MemoryStream(bytes, writable: false);
        CheckArchive(memory, limits);
        memory.Position = 0;
        WordprocessingDocument word;
        try
        {
            word = WordprocessingDocument.Open(memory, false, new OpenSettings { MaxCharactersInPart = limits.MaxDocxPartBytes });
        }
        catch (Exception e) when (e is OpenXmlPackageException or InvalidDataException or FileFormatException or IOException or XmlException)
        {
            throw new IngestionException(Damaged, inner: e);
        }
        using (word)
        {
            var main = word.MainDocumentPart ?? throw new IngestionException(Damaged);
            try
            {
                var levels = HeadingLevels(main.StyleDefinitionsPart);
                var blocks = new BlockCollector(limits, ct);
                string? firstTitle = null;
                using var reader = new OpenXmlPartReader(Capped(main.GetStream()), main.Features, new OpenXmlPartReaderOptions());
                while (reader.Read())
                {
                    ct.ThrowIfCancellationRequested();
                    if (!reader.IsStartElement)
                        continue;
                    if (reader.ElementType == typeof(Paragraph))
                    {
                        var paragraph = (Paragraph)reader.LoadCurrentElement()!;
                        var title = AddParagraph(paragraph, levels, blocks);
                        firstTitle ??= title;
                    }
                    else if (reader.ElementType == typeof(Table))
                        AddTable((Table)reader.LoadCurrentElement()!, blocks);
                }
                var documentTitle = word.PackageProperties.Title;
                return blocks.Build(string.IsNullOrWhiteSpace(documentTitle) ? firstTitle : documentTitle);
            }
            catch (Exception e) when (e is OpenXmlPackageException or InvalidDataException or XmlException or InvalidOperationException)
            {
                throw new IngestionException(Damaged, inner: e);
            }
        }
    }

    /// <summary>Refuses an archive whose declared sizes would expand past the limits, before anything is decompressed.</summary>
    internal static void CheckArchive(Stream seekable, DocumentLimits limits)
    {
        try
        {
            using var zip = new ZipArchive(seekable, ZipArchiveMode.Read, leaveOpen: true);
            if (zip.Entries.Count > limits.MaxZipEntries)
                throw new IngestionException(string.Create(CultureInfo.InvariantCulture,
                    $"The Word document holds {zip.Entries.Count:N0} files, more than the {limits.MaxZipEntries:N0} a document may; it was refused as a possible zip bomb."));
            long total = 0;
            foreach (var entry in zip.Entries)
            {
                total += entry.Length;
                if (entry.Length > limits.ZipRatioFloorBytes && entry.Length > (long)limits.MaxZipRatio * Math.Max(1, entry.CompressedLength))
                    throw new IngestionException(string.Create(CultureInfo.InvariantCulture,
                        $"The Word document contains a part that expands more than {limits.MaxZipRatio}:1 ({entry.FullName}: {entry.CompressedLength:N0} bytes to {entry.Length:N0}); it was refused as a possible zip bomb."));
            }
            if (total > limits.MaxZipUncompressedBytes)
                throw new IngestionException(string.Create(CultureInfo.InvariantCulture,
                    $"The Word document would expand to {total / (1024 * 1024):N0} MB, more than the {limits.MaxZipUncompressedBytes / (1024 * 1024):N0} MB limit; it was refused as a possible zip bomb."));
        }
        catch (InvalidDataException e)
        {
            throw new IngestionException(Damaged, inner: e);
        }
    }

    // A part's declared size may lie; the cap counts the bytes actually inflated.
    Stream Capped(Stream part) => CappedStream.Over(part, limits.MaxDocxPartBytes, string.Create(CultureInfo.InvariantCulture,
        $"A part of the Word document expands past {limits.MaxDocxPartBytes / (1024 * 1024):N0} MB; it was refused as a possible zip bomb."));

    /// <summary>Heading level by style id: Title is 1, "heading N" is N + 1, or the style's outline level + 2.</summary>
    Dictionary<string, int> HeadingLevels(StyleDefinitionsPart? styles)
    {
        var levels = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        if (styles is null)
            return levels;
        using var reader = new OpenXmlPartReader(Capped(styles.GetStream()), styles.Features, new OpenXmlPartReaderOptions());
        while (reader.Read())
        {
            if (!reader.IsStartElement || reader.ElementType != typeof(Style))
                continue;
            var style = (Style)reader.LoadCurrentElement()!;
            var id = style.StyleId?.Value;
            if (id is null)
                continue;
            var name = style.StyleName?.Val?.Value ?? id;
            if (string.Equals(name, "Title", StringComparison.OrdinalIgnoreCase) || string.Equals(id, "Title", StringComparison.OrdinalIgnoreCase))
                levels[id] = 1;
            else if ((HeadingNumber(name) ?? HeadingNumber(id)) is { } n)
                levels[id] = n + 1;
            else if (style.StyleParagraphProperties?.OutlineLevel?.Val?.Value is { } outline && outline < 9)
                levels[id] = outline + 2;
        }
        return levels;
    }

    static int? HeadingNumber(string name)
    {
        var s = name.Replace(" ", "", StringComparison.Ordinal);
        return s.StartsWith("heading", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(s.AsSpan(7), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 9
            ? n : null;
    }

    /// <summary>Adds the paragraph; returns its text when it is in the Title style.</summary>
    static string? AddParagraph(Paragraph paragraph, Dictionary<string, int> levels, BlockCollector blocks)
    {
        var text = TextOf(paragraph);
        if (string.IsNullOrWhiteSpace(text))
            return null;
        var properties = paragraph.ParagraphProperties;
        var styleId = properties?.ParagraphStyleId?.Val?.Value;
        int? level = styleId is not null && levels.TryGetValue(styleId, out var l) ? l
            : HeadingNumber(styleId ?? "") is { } n ? n + 1
            : string.Equals(styleId, "Title", StringComparison.OrdinalIgnoreCase) ? 1
            : properties?.OutlineLevel?.Val?.Value is { } outline && outline < 9 ? outline + 2
            : null;
        if (level is { } headingLevel)
        {
            blocks.Heading(headingLevel, text);
            return headingLevel == 1 ? text : null;
        }
        var isListItem = properties?.NumberingProperties is not null
            || (styleId?.StartsWith("List", StringComparison.OrdinalIgnoreCase) ?? false);
        blocks.Add(text, isListItem ? DocumentBlockKind.ListItem : DocumentBlockKind.Paragraph);
        return null;
    }

    static void AddTable(Table table, BlockCollector blocks)
    {
        foreach (var row in table.Elements<TableRow>())
        {
            var cells = row.Elements<TableCell>()
                .Select(c => string.Join(' ', c.Descendants<Paragraph>().Select(TextOf)).Trim())
                .ToList();
            if (cells.Any(c => c.Length > 0))
                blocks.Add(string.Join(" | ", cells), DocumentBlockKind.TableRow);
        }
    }

    /// <summary>The visible text: runs' text, tabs and breaks as spaces; deleted text and field codes left out.</summary>
    static string TextOf(Paragraph paragraph)
    {
        var sb = new StringBuilder();
        foreach (var element in paragraph.Descendants())
        {
            switch (element)
            {
                case Text t:
                    sb.Append(t.Text);
                    break;
                case TabChar or Break or CarriageReturn:
                    sb.Append(' ');
                    break;
            }
        }
        return sb.ToString();
    }
}
