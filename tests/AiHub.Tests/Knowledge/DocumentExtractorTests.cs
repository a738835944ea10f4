using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Chunking;
using AiHub.Knowledge.Ingestion.Documents;
using Microsoft.Extensions.Time.Testing;

namespace AiHub.Tests.Knowledge;

public sealed class DocumentExtractorTests
{
    static readonly DocumentLimits Limits = new();

    static Task<ExtractedDocument> Extract(IDocumentExtractor extractor, byte[] bytes) =>
        extractor.ExtractAsync(new MemoryStream(bytes), TestContext.Current.CancellationToken);

    static Task<ExtractedDocument> Extract(IDocumentExtractor extractor, string text) => Extract(extractor, Encoding.UTF8.GetBytes(text));

    // Paragraphs of several lines each, as on a real page: the layout analysis estimates line spacing from them.
    static readonly string[][] ThreePages =
    [
        ["Apples grow on trees in the orchard behind the farm. " + DocumentSamples.Prose(1, 40), "The harvest starts in September. " + DocumentSamples.Prose(2, 30)],
        ["Bananas ripen in the warehouse at a steady temperature. " + DocumentSamples.Prose(3, 35), "They are shipped green. " + DocumentSamples.Prose(4, 45)],
        ["Cherries are picked by hand in early summer. " + DocumentSamples.Prose(5, 30), "A late frost can ruin the crop. " + DocumentSamples.Prose(6, 40)],
    ];

    [Fact]
    public async Task A_pdf_gives_each_paragraph_with_its_page_and_the_title()
    {
        var doc = await Extract(new PdfExtractor(Limits), DocumentSamples.Pdf(ThreePages, title: "Fruit handbook"));

        Assert.Equal("Fruit handbook", doc.Title);
        Assert.Equal(3, doc.PageCount);
        for (var page = 0; page < 3; page++)
        {
            var texts = doc.Blocks.Where(b => b.Page == page + 1).Select(b => b.Text).ToList();
            Assert.Equal(ThreePages[page], texts);
        }
        var text = BlockCollector.TextOf(doc);
        Assert.All(doc.Blocks, b => Assert.Equal(b.Text, text.Substring((int)b.Offset, b.Text.Length)));
    }

    [Fact]
    public async Task A_long_pdf_paragraph_wrapped_over_lines_reads_as_one_paragraph()
    {
        var paragraph = DocumentSamples.Prose(3, 120);
        var doc = await Extract(new PdfExtractor(Limits), DocumentSamples.Pdf([[paragraph, "Short closing line."]]));
        Assert.Equal([paragraph, "Short closing line."], doc.Blocks.Select(b => b.Text));
    }

    [Fact]
    public async Task A_two_column_pdf_page_reads_the_left_column_before_the_right()
    {
        var builder = new UglyToad.PdfPig.Writer.PdfDocumentBuilder();
        var font = builder.AddStandard14Font(UglyToad.PdfPig.Fonts.Standard14Fonts.Standard14Font.Helvetica);
        var page = builder.AddPage(595, 842);
        page.AddText("A heading across the page", 16, new UglyToad.PdfPig.Core.PdfPoint(50, 800), font);
        string[] left = ["Left column first line of text", "left column second line here", "left column third line ends."];
        string[] right = ["Right column first line of text", "right column second line here", "right column third line ends."];
        for (var i = 0; i < 3; i++)
        {
            page.AddText(left[i], 10, new UglyToad.PdfPig.Core.PdfPoint(50, 760 - i * 13), font);
            // The right column starts a little higher, so baseline order alone would read it first.
            page.AddText(right[i], 10, new UglyToad.PdfPig.Core.PdfPoint(320, 770 - i * 13), font);
        }

        var doc = await Extract(new PdfExtractor(Limits), builder.Build());

        Assert.Equal(["A heading across the page", string.Join(' ', left), string.Join(' ', right)], doc.Blocks.Select(b => b.Text));
    }

    [Fact]
    public async Task Pdf_chunks_cite_the_page_their_text_is_on()
    {
        var pages = Enumerable.Range(0, 3).Select(p => (IReadOnlyList<string>)[.. Enumerable.Range(0, 6).Select(i => $"Page{p + 1} " + DocumentSamples.Prose(p * 10 + i, 60))]).ToList();
        var doc = await Extract(new PdfExtractor(Limits), DocumentSamples.Pdf(pages));

        var chunks = new Chunker().Chunk(doc, new ChunkingOptions(MaxTokens: 200, OverlapTokens: 30));

        Assert.True(chunks.Count > 3);
        Assert.Equal([1, 2, 3], chunks.Select(c => c.Page!.Value).Distinct());
        foreach (var chunk in chunks)
        {
            var marker = $"Page{chunk.Page} ";
            Assert.DoesNotContain(Enumerable.Range(1, 3).Where(p => p != chunk.Page), p => chunk.Text.Contains($"Page{p} ", StringComparison.Ordinal));
            Assert.Contains(doc.Blocks, b => b.Page == chunk.Page && b.Text.StartsWith(marker, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_truncated_pdf_fails_with_a_clear_message()
    {
        var pdf = DocumentSamples.Pdf(ThreePages);
        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new PdfExtractor(Limits), pdf[..(pdf.Length / 3)]));
        Assert.Equal(PdfExtractor.Damaged, error.Message);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task A_garbled_pdf_fails_with_a_clear_message()
    {
        var garbage = new byte[20_000];
        new Random(5).NextBytes(garbage);
        var pdf = "%PDF-1.7\n"u8.ToArray().Concat(garbage).ToArray();
        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new PdfExtractor(Limits), pdf));
        Assert.Equal(PdfExtractor.Damaged, error.Message);
    }

    [Fact]
    public async Task A_password_protected_pdf_says_so()
    {
        // A standard security handler in the trailer whose user password is not empty: the reader cannot open it.
        var pdf = Encoding.Latin1.GetString(DocumentSamples.Pdf(ThreePages));
        var trailer = pdf.LastIndexOf("trailer", StringComparison.Ordinal);
        Assert.True(trailer > 0, "the sample PDF has a classic trailer");
        var open = pdf.IndexOf("<<", trailer, StringComparison.Ordinal) + 2;
        var encrypt = "/Encrypt << /Filter /Standard /V 1 /R 2 /P -44 /O <" + new string('A', 64) + "> /U <" + new string('B', 64) + "> >> "
            + "/ID [<0123456789ABCDEF0123456789ABCDEF> <0123456789ABCDEF0123456789ABCDEF>] ";
        var encrypted = Encoding.Latin1.GetBytes(pdf[..open] + encrypt + pdf[open..]);

        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new PdfExtractor(Limits), encrypted));

        Assert.Equal(PdfExtractor.Encrypted, error.Message);
    }

    [Fact]
    public async Task A_pdf_without_a_text_layer_says_so()
    {
        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new PdfExtractor(Limits), DocumentSamples.PdfWithoutText()));
        Assert.Equal(PdfExtractor.NoText, error.Message);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task A_pdf_over_the_page_limit_is_refused()
    {
        var pdf = DocumentSamples.Pdf([["One."], ["Two."], ["Three."]]);
        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new PdfExtractor(Limits with { MaxPdfPages = 2 }), pdf));
        Assert.Equal("The PDF has 3 pages; the limit is 2. Split it into smaller documents.", error.Message);
    }

    [Fact]
    public async Task A_word_document_gives_headings_paragraphs_lists_and_table_rows()
    {
        var docx = DocumentSamples.Docx(body =>
        {
            body.Append(DocumentSamples.Para("Operations manual", "Title"));
            body.Append(DocumentSamples.Para("Setup", "Heading1"));
            body.Append(DocumentSamples.Para("Install the package first."));
            body.Append(DocumentSamples.Para("Linux", "Heading2"));
            body.Append(DocumentSamples.Para("Use the system package manager."));
            body.Append(DocumentSamples.Para("Run apt-get update", "ListParagraph"));
            body.Append(DocumentSamples.Table(["Distribution", "Command"], ["Debian", "apt-get install aihub"]));
            body.Append(DocumentSamples.Para("Usage", "Heading1"));
            body.Append(DocumentSamples.Para("Start it and open the browser."));
        }, title: "Ops manual");

        var doc = await Extract(new DocxExtractor(Limits), docx);

        Assert.Equal("Ops manual", doc.Title);
        var rows = doc.Blocks.Select(b => (b.Kind, b.Text, string.Join(" › ", b.HeadingPath))).ToList();
        Assert.Equal(
        [
            (DocumentBlockKind.Heading, "Operations manual", "Operations manual"),
            (DocumentBlockKind.Heading, "Setup", "Operations manual › Setup"),
            (DocumentBlockKind.Paragraph, "Install the package first.", "Operations manual › Setup"),
            (DocumentBlockKind.Heading, "Linux", "Operations manual › Setup › Linux"),
            (DocumentBlockKind.Paragraph, "Use the system package manager.", "Operations manual › Setup › Linux"),
            (DocumentBlockKind.ListItem, "Run apt-get update", "Operations manual › Setup › Linux"),
            (DocumentBlockKind.TableRow, "Distribution | Command", "Operations manual › Setup › Linux"),
            (DocumentBlockKind.TableRow, "Debian | apt-get install aihub", "Operations manual › Setup › Linux"),
            (DocumentBlockKind.Heading, "Usage", "Operations manual › Usage"),
            (DocumentBlockKind.Paragraph, "Start it and open the browser.", "Operations manual › Usage"),
        ], rows);
    }

    [Fact]
    public async Task A_word_document_without_a_styles_part_still_knows_its_headings_and_title()
    {
        var docx = DocumentSamples.Docx(body =>
        {
            body.Append(DocumentSamples.Para("Quarterly report", "Title"));
            body.Append(DocumentSamples.Para("Revenue", "Heading1"));
            body.Append(DocumentSamples.Para("It grew."));
        }, withStyles: false);

        var doc = await Extract(new DocxExtractor(Limits), docx);

        Assert.Equal("Quarterly report", doc.Title);
        Assert.Equal(["Quarterly report", "Revenue"], doc.Blocks[^1].HeadingPath);
    }

    [Fact]
    public async Task A_zip_bomb_disguised_as_a_word_document_is_refused_before_it_is_expanded()
    {
        var bomb = ZipBomb.Value;
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new DocxExtractor(Limits), bomb));

        Assert.Contains("zip bomb", error.Message, StringComparison.Ordinal);
        Assert.Contains("word/document.xml", error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"refusing took {clock.Elapsed}");
    }

    // One GiB of zeros compresses to about a megabyte; built once, in memory.
    static readonly Lazy<byte[]> ZipBomb = new(() =>
    {
        using var stream = new MemoryStream();
        using (var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var types = zip.CreateEntry("[Content_Types].xml").Open())
                types.Write("<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>"u8);
            using var main = zip.CreateEntry("word/document.xml", CompressionLevel.Fastest).Open();
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 1024; i++)
                main.Write(zeros);
        }
        return stream.ToArray();
    });

    [Fact]
    public async Task A_word_document_with_too_many_entries_is_refused()
    {
        var entries = Enumerable.Range(0, 30).Select(i => ($"word/media/{i}.txt", "x")).Append(("word/document.xml", "<w:document/>")).ToArray();
        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new DocxExtractor(Limits with { MaxZipEntries = 20 }), DocumentSamples.Zip(entries)));
        Assert.StartsWith("The Word document holds 31 files, more than the 20", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_part_that_inflates_past_its_cap_is_refused_whatever_the_directory_says()
    {
        var docx = DocumentSamples.Docx(body =>
        {
            for (var i = 0; i < 400; i++)
                body.Append(DocumentSamples.Para(DocumentSamples.Prose(i, 40)));
        });
        var limits = Limits with { MaxDocxPartBytes = 20_000 };

        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new DocxExtractor(limits), docx));

        Assert.StartsWith("A part of the Word document expands past", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_damaged_word_document_fails_with_a_clear_message()
    {
        var docx = DocumentSamples.Docx(body => body.Append(DocumentSamples.Para("Hello")));
        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new DocxExtractor(Limits), docx[..(docx.Length / 2)]));
        Assert.Equal(DocxExtractor.Damaged, error.Message);
    }

    [Fact]
    public async Task Markdown_gives_heading_paths_lists_code_and_table_rows()
    {
        const string markdown = """
            ---
            title: front matter is not text
            ---
            # Guide

            Welcome to the *guide*, with `code` and a [link](https://example.com).

            ## Install

            - Download the archive
            - Unpack it

            ```sh
            tar xf aihub.tgz
            ./aihub
            ```

            | Option | Default |
            | --- | --- |
            | Port | 5080 |

            ### Windows

            Use the installer &amp; follow it.

            ## Run

            Start it.
            """;

        var doc = await Extract(new MarkdownExtractor(Limits), markdown);

        Assert.Equal("Guide", doc.Title);
        var rows = doc.Blocks.Select(b => (b.Kind, b.Text, string.Join(" › ", b.HeadingPath))).ToList();
        Assert.Equal(
        [
            (DocumentBlockKind.Heading, "Guide", "Guide"),
            (DocumentBlockKind.Paragraph, "Welcome to the guide, with code and a link.", "Guide"),
            (DocumentBlockKind.Heading, "Install", "Guide › Install"),
            (DocumentBlockKind.ListItem, "Download the archive", "Guide › Install"),
            (DocumentBlockKind.ListItem, "Unpack it", "Guide › Install"),
            (DocumentBlockKind.Code, "tar xf aihub.tgz\n./aihub", "Guide › Install"),
            (DocumentBlockKind.TableRow, "Option | Default", "Guide › Install"),
            (DocumentBlockKind.TableRow, "Port | 5080", "Guide › Install"),
            (DocumentBlockKind.Heading, "Windows", "Guide › Install › Windows"),
            (DocumentBlockKind.Paragraph, "Use the installer & follow it.", "Guide › Install › Windows"),
            (DocumentBlockKind.Heading, "Run", "Guide › Run"),
            (DocumentBlockKind.Paragraph, "Start it.", "Guide › Run"),
        ], rows);
    }

    [Fact]
    public async Task Html_keeps_the_readable_text_and_never_the_scripts_or_the_chrome()
    {
        const string html = """
            <!doctype html>
            <html><head><title>Release notes</title><style>p { color: red }</style>
            <script>var secret = "script text";</script></head>
            <body>
              <nav><a href="/">Home</a> navigation text</nav>
              <header>Site header text</header>
              <main>
                <h1>Version 2</h1>
                <p>Faster &amp; smaller, with <b>bold</b> claims.</p>
                <script>document.write("more script text")</script>
                <h2>Changes</h2>
                <ul><li>New search</li><li>Old bugs fixed</li></ul>
                <table><tr><th>Area</th><th>Change</th></tr><tr><td>API</td><td>v2 routes</td></tr></table>
                <div>Loose text in a div<p>and a paragraph inside it.</p></div>
                <pre>line one
            line two</pre>
                <noscript>Enable JavaScript</noscript>
              </main>
              <aside>Related links text</aside>
              <footer>Footer text</footer>
            </body></html>
            """;

        var doc = await Extract(new HtmlExtractor(Limits), html);

        Assert.Equal("Release notes", doc.Title);
        var rows = doc.Blocks.Select(b => (b.Kind, b.Text, string.Join(" › ", b.HeadingPath))).ToList();
        Assert.Equal(
        [
            (DocumentBlockKind.Heading, "Version 2", "Version 2"),
            (DocumentBlockKind.Paragraph, "Faster & smaller, with bold claims.", "Version 2"),
            (DocumentBlockKind.Heading, "Changes", "Version 2 › Changes"),
            (DocumentBlockKind.ListItem, "New search", "Version 2 › Changes"),
            (DocumentBlockKind.ListItem, "Old bugs fixed", "Version 2 › Changes"),
            (DocumentBlockKind.TableRow, "Area | Change", "Version 2 › Changes"),
            (DocumentBlockKind.TableRow, "API | v2 routes", "Version 2 › Changes"),
            (DocumentBlockKind.Paragraph, "Loose text in a div", "Version 2 › Changes"),
            (DocumentBlockKind.Paragraph, "and a paragraph inside it.", "Version 2 › Changes"),
            (DocumentBlockKind.Code, "line one\nline two", "Version 2 › Changes"),
        ], rows);
        var text = BlockCollector.TextOf(doc);
        Assert.DoesNotContain("script text", text, StringComparison.Ordinal);
        Assert.DoesNotContain("color", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Text_is_split_into_paragraphs_at_blank_lines()
    {
        var doc = await Extract(new TextExtractor(Limits), "First   paragraph\nwraps here.\n\n\n  Second\tone.\r\n\r\nThird\u0007 one.\n");
        Assert.Equal(["First paragraph wraps here.", "Second one.", "Third one."], doc.Blocks.Select(b => b.Text));
        Assert.Equal([0L, 29, 42], doc.Blocks.Select(b => b.Offset));
    }

    [Fact]
    public async Task Utf16_text_is_decoded_by_its_bom()
    {
        var bytes = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("Grüße.\n\nZweiter Absatz.")).ToArray();
        var doc = await Extract(new TextExtractor(Limits), bytes);
        Assert.Equal(["Grüße.", "Zweiter Absatz."], doc.Blocks.Select(b => b.Text));
    }

    [Fact]
    public async Task Text_is_normalised_to_nfc()
    {
        var doc = await Extract(new TextExtractor(Limits), "Cafe\u0301 au lait");
        Assert.Equal("Caf\u00e9 au lait", doc.Blocks[0].Text);
    }

    [Fact]
    public async Task Csv_rows_read_as_header_value_pairs()
    {
        const string csv = "name,city,note\nAda,London,\"First, programmer\"\nAlan,Wilmslow,\"Said \"\"hello\"\"\nand left\"\n\n";
        var doc = await Extract(new CsvExtractor(Limits), csv);
        Assert.Equal(
            ["name: Ada; city: London; note: First, programmer", "name: Alan; city: Wilmslow; note: Said \"hello\" and left"],
            doc.Blocks.Select(b => b.Text));
        Assert.All(doc.Blocks, b => Assert.Equal(DocumentBlockKind.TableRow, b.Kind));
    }

    [Fact]
    public async Task Csv_without_a_header_row_names_its_columns()
    {
        var doc = await Extract(new CsvExtractor(Limits), "1;2.5;x\n3;4;y\n");
        Assert.Equal(["Column 1: 1; Column 2: 2.5; Column 3: x", "Column 1: 3; Column 2: 4; Column 3: y"], doc.Blocks.Select(b => b.Text));
    }

    [Fact]
    public async Task Csv_past_the_row_limit_is_refused()
    {
        var csv = "id,value\n" + string.Concat(Enumerable.Range(0, 11).Select(i => $"{i},v{i}\n"));
        var error = await Assert.ThrowsAsync<IngestionException>(() => Extract(new CsvExtractor(Limits with { MaxCsvRows = 10 }), csv));
        Assert.Equal("The CSV file has more than 10 rows, the limit; split it into smaller files.", error.Message);
    }

    [Fact]
    public async Task A_document_larger_than_the_limit_is_refused()
    {
        var error = await Assert.ThrowsAsync<IngestionException>(() =>
            Extract(new TextExtractor(Limits with { MaxBytes = 2 * 1024 * 1024 }), new string('a', 3 * 1024 * 1024)));
        Assert.Equal("The document is larger than 2 MB, the limit for one document.", error.Message);
    }

    [Fact]
    public async Task Text_past_the_character_limit_is_refused()
    {
        var error = await Assert.ThrowsAsync<IngestionException>(() =>
            Extract(new TextExtractor(Limits with { MaxTextChars = 100 }), string.Join("\n\n", Enumerable.Repeat("twenty characters ok", 10))));
        Assert.StartsWith("The document has more than 100 characters of text", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_picker_refuses_a_document_with_no_text()
    {
        var extractors = new DocumentExtractors([new TextExtractor(Limits)], Limits, TimeProvider.System);
        var error = await Assert.ThrowsAsync<IngestionException>(() =>
            extractors.ExtractAsync(SourceFormat.Text, new MemoryStream("  \n\n \t\n"u8.ToArray()), TestContext.Current.CancellationToken));
        Assert.Equal("The document has no text to index.", error.Message);
    }

    [Fact]
    public async Task An_extraction_that_runs_past_the_time_limit_fails_with_the_reason()
    {
        var time = new FakeTimeProvider();
        var hanging = new HangingExtractor();
        var extractors = new DocumentExtractors([hanging], Limits with { Timeout = TimeSpan.FromSeconds(30) }, time);

        var extraction = extractors.ExtractAsync(SourceFormat.Text, new MemoryStream(), TestContext.Current.CancellationToken);
        await hanging.Started.Task.WaitAsync(TestContext.Current.CancellationToken);
        time.Advance(TimeSpan.FromSeconds(31));

        var error = await Assert.ThrowsAsync<IngestionException>(() => extraction);
        Assert.Equal("Reading the document took longer than 30 seconds, the limit; split it into smaller documents.", error.Message);
    }

    sealed class HangingExtractor : IDocumentExtractor
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Handles(SourceFormat format) => true;

        public async Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct)
        {
            Started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
            throw new InvalidOperationException("unreachable");
        }
    }
}
