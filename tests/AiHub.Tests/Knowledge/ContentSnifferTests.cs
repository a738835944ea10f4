using System.Text;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Documents;

namespace AiHub.Tests.Knowledge;

public sealed class ContentSnifferTests
{
    static SourceFormat? Format(byte[] bytes, string? name = null) => ContentSniffer.Sniff(bytes, name).Format;

    static byte[] Bytes(params int[] values) => [.. values.Select(v => (byte)v)];

    static byte[] WithTail(byte[] head, int length = 64)
    {
        var bytes = new byte[Math.Max(length, head.Length)];
        head.CopyTo(bytes, 0);
        for (var i = head.Length; i < bytes.Length; i++)
            bytes[i] = (byte)(i * 7);
        return bytes;
    }

    [Fact]
    public void A_pdf_is_known_by_its_header_whatever_its_name()
    {
        var pdf = DocumentSamples.Pdf([["Hello."]]);
        Assert.Equal(SourceFormat.Pdf, Format(pdf, "notes.txt"));
        Assert.Equal(SourceFormat.Pdf, Format(pdf, null));
    }

    [Fact]
    public void A_word_document_is_a_zip_holding_word_document_xml()
    {
        var docx = DocumentSamples.Docx(b => b.Append(DocumentSamples.Para("Hello")));
        Assert.Equal(SourceFormat.Docx, Format(docx, "report.zip"));
        using var stream = new MemoryStream(docx);
        Assert.Equal(SourceFormat.Docx, ContentSniffer.Sniff(stream, "report.bin").Format);
        Assert.Equal(0, stream.Position);
    }

    [Fact]
    public void The_stream_form_finds_the_main_part_of_a_word_document_past_the_head()
    {
        // 200 KB of incompressible filler first: the head shows no word/ entry; the central directory does.
        var filler = new byte[200_000];
        new Random(1).NextBytes(filler);
        using var stream = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(stream, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var first = zip.CreateEntry("media/image1.bin", System.IO.Compression.CompressionLevel.NoCompression).Open())
                first.Write(filler);
            using var main = zip.CreateEntry("word/document.xml").Open();
            main.Write("<w:document/>"u8);
        }
        Assert.Null(ContentSniffer.Sniff(stream.GetBuffer().AsSpan(0, ContentSniffer.HeadLength), "a.docx").Format);
        stream.Position = 0;
        Assert.Equal(SourceFormat.Docx, ContentSniffer.Sniff(stream, "a.docx").Format);
    }

    [Fact]
    public void A_zip_that_is_not_a_word_document_is_refused_with_the_reason()
    {
        var zip = DocumentSamples.Zip(("readme.txt", "hello"), ("data/rows.csv", "a,b"));
        var head = ContentSniffer.Sniff(zip, "report.docx");
        using var stream = new MemoryStream(zip);
        var full = ContentSniffer.Sniff(stream, "report.docx");

        foreach (var result in new[] { head, full })
        {
            Assert.Null(result.Format);
            Assert.StartsWith("The file is a ZIP archive, not a Word document", result.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_excel_workbook_is_named_as_such()
    {
        var xlsx = DocumentSamples.Zip(("[Content_Types].xml", "<Types/>"), ("xl/workbook.xml", "<workbook/>"));
        using var stream = new MemoryStream(xlsx);
        var result = ContentSniffer.Sniff(stream, "book.docx");
        Assert.Null(result.Format);
        Assert.Contains("an Excel workbook, not a Word document", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_file_is_refused()
    {
        var result = ContentSniffer.Sniff([], "empty.pdf");
        Assert.Null(result.Format);
        Assert.Equal("The file is empty.", result.Reason);
    }

    [Theory]
    [InlineData("photo.pdf")]
    [InlineData("photo.txt")]
    [InlineData("photo.csv")]
    public void A_png_is_refused_whatever_it_is_called(string name)
    {
        var png = WithTail(Bytes(0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A));
        var result = ContentSniffer.Sniff(png, name);
        Assert.Null(result.Format);
        Assert.StartsWith("This looks like a PNG image; upload a PDF", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_executable_is_refused_with_its_kind()
    {
        var exe = WithTail([.. "MZ"u8.ToArray(), 0x90, 0x00]);
        Assert.StartsWith("This looks like a Windows executable", ContentSniffer.Sniff(exe, "setup.pdf").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_old_office_file_is_told_to_be_saved_as_docx()
    {
        var doc = WithTail(Bytes(0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1));
        Assert.Contains("older Office file", ContentSniffer.Sniff(doc, "letter.doc").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_binary_is_refused_even_with_a_text_name()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        bytes[0] = 0x01;
        var result = ContentSniffer.Sniff(bytes, "notes.txt");
        Assert.Null(result.Format);
        Assert.StartsWith("The file is binary data", result.Reason, StringComparison.Ordinal);
    }

    public static TheoryData<string, byte[], string> Media() => new()
    {
        { "mp3 with ID3", WithTail([.. "ID3"u8.ToArray(), 4, 0]), "Audio" },
        { "mp3 frame", WithTail(Bytes(0xFF, 0xFB, 0x90, 0x64)), "Audio" },
        { "wav", WithTail([.. "RIFF"u8.ToArray(), 0x24, 0, 0, 0, .. "WAVEfmt "u8.ToArray()]), "Audio" },
        { "ogg", WithTail([.. "OggS"u8.ToArray(), 0, 2]), "Audio" },
        { "flac", WithTail([.. "fLaC"u8.ToArray(), 0]), "Audio" },
        { "m4a", WithTail([0, 0, 0, 0x20, .. "ftypM4A "u8.ToArray(), 0, 0, 0, 0]), "Audio" },
        { "mp4", WithTail([0, 0, 0, 0x20, .. "ftypisom"u8.ToArray(), 0, 0, 2, 0]), "Video" },
        { "mov", WithTail([0, 0, 0, 0x14, .. "ftypqt  "u8.ToArray(), 0, 0, 0, 0]), "Video" },
        { "webm", WithTail(Bytes(0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81)), "Video" },
    };

    [Theory]
    [MemberData(nameof(Media))]
    public void Media_is_known_by_its_container(string kind, byte[] bytes, string expected) =>
        Assert.True(Format(bytes, "upload.pdf")?.ToString() == expected, kind);

    [Fact]
    public void A_heic_photo_in_an_iso_box_is_not_taken_for_video()
    {
        var heic = WithTail([0, 0, 0, 0x18, .. "ftypheic"u8.ToArray(), 0, 0, 0, 0]);
        Assert.Null(Format(heic, "photo.mp4"));
    }

    [Theory]
    [InlineData("<!DOCTYPE html><html><body><p>Hi</p></body></html>", "page.txt", "Html")]
    [InlineData("\n  <!-- saved page -->\n<html lang=\"en\"><p>Hi</p></html>", null, "Html")]
    [InlineData("<div>\n<head><title>x</title></head><body>hi</body>", "x.md", "Html")]
    [InlineData("name,age\nAda,36\nAlan,41\n", "people.csv", "Csv")]
    [InlineData("name;age\nAda;36\nAlan;41\n", "people.CSV", "Csv")]
    [InlineData("name,age\nAda,36\n\"Turing, Alan\",41\n", "people.csv", "Csv")]
    [InlineData("name,age\nAda,36\nAlan\n", "people.csv", "Text")]
    [InlineData("name,age\nAda,36\nAlan,41\n", "people.txt", "Text")]
    [InlineData("Just a line of text, with a comma.\nAnd another.\n", "notes.md", "Markdown")]
    [InlineData("Intro\n\n## Install\n\nRun it.\n", "notes.txt", "Markdown")]
    [InlineData("#hashtag is not a heading\nplain words\n", null, "Text")]
    [InlineData("Dear team,\n\nthe results are in.\n", "letter.pdf", "Text")]
    public void Text_is_narrowed_by_content_and_name(string text, string? name, string expected) =>
        Assert.Equal(expected, Format(Encoding.UTF8.GetBytes(text), name)?.ToString());

    [Fact]
    public void Utf16_text_with_a_bom_is_text()
    {
        var utf16 = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("Grüße aus Köln.\nZweite Zeile.")).ToArray();
        Assert.Equal(SourceFormat.Text, Format(utf16, "gruss.txt"));
        var bigEndian = Encoding.BigEndianUnicode.GetPreamble().Concat(Encoding.BigEndianUnicode.GetBytes("# Titel\n\nText.")).ToArray();
        Assert.Equal(SourceFormat.Markdown, Format(bigEndian, null));
    }

    [Fact]
    public void Utf16_without_a_bom_has_nuls_and_is_not_text()
    {
        var utf16 = Encoding.Unicode.GetBytes("Hello there, this is text.");
        Assert.Null(Format(utf16, "hello.txt"));
    }

    [Fact]
    public void A_head_cut_in_the_middle_of_a_character_is_still_text()
    {
        var text = Encoding.UTF8.GetBytes(new string('a', 100) + "€");
        Assert.Equal(SourceFormat.Text, Format(text[..^1], "cut.txt"));
        Assert.Equal(SourceFormat.Text, Format(text[..^2], "cut.txt"));
    }

    [Fact]
    public void Latin1_text_is_refused_with_a_hint_to_save_it_as_utf8()
    {
        var latin1 = Encoding.Latin1.GetBytes("Caf\u00e9 cr\u00e8me \u00e0 la carte, na\u00efve fa\u00e7ade and more text here.");
        var result = ContentSniffer.Sniff(latin1, "menu.txt");
        Assert.Null(result.Format);
        Assert.Contains("save it as UTF-8", result.Reason, StringComparison.Ordinal);
    }
}
