using System.IO.Compression;
using System.Text;
using System.Text.Unicode;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>What a file is, or why it is refused (a sentence shown to the user as it is).</summary>
internal sealed record SniffResult(SourceFormat? Format, string? Reason)
{
    public static SniffResult Of(SourceFormat format) => new(format, null);

    public static SniffResult Refused(string reason) => new(null, reason);
}

/// <summary>
/// Tells a source's format from its bytes. The name can only narrow text to CSV or Markdown; it never makes binary
/// into text, and a header or extension that disagrees with the content is ignored.
/// </summary>
/// <remarks>
/// Use <see cref="Sniff(Stream, string?)"/> where the content is at hand: for a ZIP it reads the central directory,
/// which may lie past any head. <see cref="Sniff(ReadOnlySpan{byte}, string?)"/> judges a ZIP by the entry names its
/// head shows, so a DOCX whose main part comes after 64 KiB of other entries is only recognised by the stream form.
/// </remarks>
internal static class ContentSniffer
{
    public const int HeadLength = 64 * 1024;

    const string Accepted = "upload a PDF, Word (.docx), Markdown, HTML, text or CSV document, or an audio or video file";

    public static SniffResult Sniff(Stream seekable, string? fileName)
    {
        ArgumentNullException.ThrowIfNull(seekable);
        var start = seekable.Position;
        var head = new byte[HeadLength];
        var read = seekable.ReadAtLeast(head, HeadLength, throwOnEndOfStream: false);
        seekable.Position = start;
        var span = head.AsSpan(0, read);
        if (!IsZip(span))
            return Sniff(span, fileName);
        var result = SniffZip(seekable);
        seekable.Position = start;
        return result;
    }

    public static SniffResult Sniff(ReadOnlySpan<byte> head, string? fileName)
    {
        if (head.IsEmpty)
            return SniffResult.Refused("The file is empty.");
        if (head.StartsWith("%PDF-"u8) || StartsWithinFirstKilobyte(head, "%PDF-"u8))
            return SniffResult.Of(SourceFormat.Pdf);
        if (IsZip(head))
            return ContainsZipEntryName(head, "word/document.xml"u8)
                ? SniffResult.Of(SourceFormat.Docx)
                : SniffResult.Refused(ZipReason(OfficeKindFromNames(head)));
        // A UTF-16 byte order mark would pass for an MPEG frame header.
        if ((Has(head, 0xFF, 0xFE) || Has(head, 0xFE, 0xFF)) && Text(head) is { } utf16)
            return SniffResult.Of(Classify(utf16, fileName));
        if (Media(head) is { } media)
            return SniffResult.Of(media);
        if (KnownBinary(head) is { } refusal)
            return SniffResult.Refused(refusal);
        if (Text(head) is { } text)
            return SniffResult.Of(Classify(text, fileName));
        if (!head.Contains((byte)0) && ControlShare(Encoding.Latin1.GetString(head)) < 0.01)
            return SniffResult.Refused("The file is text in an encoding other than UTF-8 or UTF-16; save it as UTF-8 and upload it again.");
        return SniffResult.Refused($"The file is binary data of a kind that cannot be read; {Accepted}.");
    }

    /// <summary>Whether a ZIP is a Word document, from its central directory: it must hold <c>word/document.xml</c>.</summary>
    public static SniffResult SniffZip(Stream seekable)
    {
        ArgumentNullException.ThrowIfNull(seekable);
        try
        {
            using var zip = new ZipArchive(seekable, ZipArchiveMode.Read, leaveOpen: true);
            var names = zip.Entries.Select(e => e.FullName).ToList();
            if (names.Contains("word/document.xml", StringComparer.OrdinalIgnoreCase))
                return SniffResult.Of(SourceFormat.Docx);
            return SniffResult.Refused(ZipReason(OfficeKind(names)));
        }
        catch (InvalidDataException)
        {
            return SniffResult.Refused("The file looks like a ZIP archive but is damaged; upload the document again.");
        }
    }

    static string ZipReason(string? office) => office is null
        ? $"The file is a ZIP archive, not a Word document; {Accepted}."
        : $"The file is {office}, not a Word document; save it as PDF or .docx and upload that.";

    static string? OfficeKind(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (name.StartsWith("xl/", StringComparison.OrdinalIgnoreCase))
                return "an Excel workbook";
            if (name.StartsWith("ppt/", StringComparison.OrdinalIgnoreCase))
                return "a PowerPoint presentation";
            if (name.Equals("content.xml", StringComparison.OrdinalIgnoreCase))
                return "an OpenDocument file";
            if (name.Equals("META-INF/container.xml", StringComparison.OrdinalIgnoreCase))
                return "an EPUB book";
        }
        return null;
    }

    static string? OfficeKindFromNames(ReadOnlySpan<byte> head) =>
        ContainsZipEntryName(head, "xl/"u8) ? "an Excel workbook"
        : ContainsZipEntryName(head, "ppt/"u8) ? "a PowerPoint presentation"
        : null;

    static bool IsZip(ReadOnlySpan<byte> head) => head.StartsWith("PK\x03\x04"u8) || head.StartsWith("PK\x05\x06"u8);

    /// <summary>Whether a local file header in the head names an entry starting with <paramref name="prefix"/>.</summary>
    static bool ContainsZipEntryName(ReadOnlySpan<byte> head, ReadOnlySpan<byte> prefix)
    {
        var at = 0;
        while (at + 30 <= head.Length)
        {
            var found = head[at..].IndexOf("PK\x03\x04"u8);
            if (found < 0)
                return false;
            at += found;
            if (at + 30 > head.Length)
                return false;
            var nameLength = head[at + 26] | (head[at + 27] << 8);
            var name = head.Slice(at + 30, Math.Min(nameLength, Math.Max(0, head.Length - at - 30)));
            if (name.StartsWith(prefix))
                return true;
            at += 4;
        }
        return false;
    }

    // Some producers put a few bytes of junk before the header; readers accept it within the first kilobyte.
    static bool StartsWithinFirstKilobyte(ReadOnlySpan<byte> head, ReadOnlySpan<byte> magic)
    {
        var window = head[..Math.Min(head.Length, 1024)];
        var at = window.IndexOf(magic);
        return at > 0 && IsJunkPrefix(window[..at]);
    }

    static bool IsJunkPrefix(ReadOnlySpan<byte> prefix)
    {
        // A text file that quotes "%PDF-" in its body is text, not a PDF: only whitespace or a BOM may come first.
        foreach (var b in prefix)
            if (b is not ((byte)' ' or (byte)'\r' or (byte)'\n' or (byte)'\t' or 0xEF or 0xBB or 0xBF or 0))
                return false;
        return true;
    }

    static bool Has(ReadOnlySpan<byte> head, params ReadOnlySpan<byte> magic) => head.StartsWith(magic);

    static SourceFormat? Media(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith("ID3"u8))
            return SourceFormat.Audio;
        if (head.Length >= 12 && head.StartsWith("RIFF"u8))
        {
            if (head[8..12].SequenceEqual("WAVE"u8))
                return SourceFormat.Audio;
            if (head[8..12].SequenceEqual("AVI "u8))
                return SourceFormat.Video;
            return null;
        }
        if (head.StartsWith("OggS"u8))
            return head[..Math.Min(head.Length, 256)].IndexOf("theora"u8) >= 0 ? SourceFormat.Video : SourceFormat.Audio;
        if (head.StartsWith("fLaC"u8))
            return SourceFormat.Audio;
        if (Has(head, 0x1A, 0x45, 0xDF, 0xA3))
            return SourceFormat.Video;
        if (head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8))
        {
            var brand = Encoding.ASCII.GetString(head[8..12]);
            return brand switch
            {
                "M4A " or "M4B " or "M4P " or "F4A " or "F4B " => SourceFormat.Audio,
                // Still images share the ISO box format; they are refused below.
                "heic" or "heix" or "mif1" or "msf1" or "avif" or "avis" => null,
                _ => SourceFormat.Video,
            };
        }
        // An MPEG audio frame: 11 set sync bits, a real version and layer, and a bitrate that is not "bad".
        if (head.Length >= 4 && head[0] == 0xFF && (head[1] & 0xE0) == 0xE0 && (head[1] & 0x18) != 0x08
            && (head[2] & 0xF0) != 0xF0)
            return SourceFormat.Audio;
        return null;
    }

    static string? KnownBinary(ReadOnlySpan<byte> head)
    {
        string? kind =
            Has(head, 0x89, (byte)'P', (byte)'N', (byte)'G') ? "a PNG image"
            : Has(head, 0xFF, 0xD8, 0xFF) ? "a JPEG image"
            : head.StartsWith("GIF8"u8) ? "a GIF image"
            : head.Length >= 12 && head.StartsWith("RIFF"u8) && head[8..12].SequenceEqual("WEBP"u8) ? "a WebP image"
            : head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8) ? "a HEIC or AVIF image"
            : head.StartsWith("II*\0"u8) || head.StartsWith("MM\0*"u8) ? "a TIFF image"
            : head.StartsWith("BM"u8) && head.Length > 14 && head[6..10].SequenceEqual("\0\0\0\0"u8) ? "a BMP image"
            : head.StartsWith("MZ"u8) ? "a Windows executable"
            : Has(head, 0x7F, (byte)'E', (byte)'L', (byte)'F') ? "a Linux executable"
            : Has(head, 0xCF, 0xFA, 0xED, 0xFE) || Has(head, 0xCA, 0xFE, 0xBA, 0xBE) ? "a macOS executable"
            : Has(head, 0x1F, 0x8B) ? "a gzip archive"
            : Has(head, 0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C) ? "a 7-Zip archive"
            : head.StartsWith("Rar!"u8) ? "a RAR archive"
            : head.StartsWith("BZh"u8) ? "a bzip2 archive"
            : Has(head, 0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z') ? "an xz archive"
            : head.StartsWith("SQLite format 3\0"u8) ? "an SQLite database"
            : head.StartsWith("{\\rtf"u8) ? "an RTF document"
            : null;
        if (Has(head, 0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1))
            return "This looks like an older Office file (.doc, .xls or .ppt); save it as PDF or .docx and upload that.";
        return kind is null ? null : $"This looks like {kind}; {Accepted}.";
    }

    /// <summary>The head as text if it is UTF-8 (a character cut at the end of the head is allowed) or UTF-16 with a BOM.</summary>
    static string? Text(ReadOnlySpan<byte> head)
    {
        string text;
        if (Has(head, 0xFF, 0xFE) || Has(head, 0xFE, 0xFF))
        {
            var body = head[2..];
            body = body[..(body.Length & ~1)];
            text = head[0] == 0xFF ? Encoding.Unicode.GetString(body) : Encoding.BigEndianUnicode.GetString(body);
        }
        else
        {
            var body = Has(head, 0xEF, 0xBB, 0xBF) ? head[3..] : head;
            if (body.Contains((byte)0))
                return null;
            var valid = Utf8.IsValid(body);
            // The head may end in the middle of a character: allow up to three bytes cut short.
            for (var cut = 1; !valid && cut <= 3 && cut < body.Length; cut++)
                valid = Utf8.IsValid(body[..^cut]);
            if (!valid)
                return null;
            text = Encoding.UTF8.GetString(body);
        }
        if (text.Contains('\0', StringComparison.Ordinal) || ControlShare(text) > 0.01)
            return null;
        return text;
    }

    static double ControlShare(string text)
    {
        if (text.Length == 0)
            return 0;
        var controls = 0;
        foreach (var c in text)
            if (char.IsControl(c) && c is not ('\n' or '\r' or '\t' or '\f'))
                controls++;
        return (double)controls / text.Length;
    }

    static SourceFormat Classify(string text, string? fileName)
    {
        if (LooksLikeHtml(text))
            return SourceFormat.Html;
        var extension = Path.GetExtension(fileName ?? "").ToLowerInvariant();
        if (extension == ".csv" && CsvReader.DetectDelimiter(text) is not null)
            return SourceFormat.Csv;
        if (extension is ".md" or ".markdown" || HasMarkdownHeading(text))
            return SourceFormat.Markdown;
        return SourceFormat.Text;
    }

    static bool LooksLikeHtml(string text)
    {
        var s = text.AsSpan().TrimStart();
        // Skip an XML declaration and comments before the root.
        while (true)
        {
            if (s.StartsWith("<!--", StringComparison.Ordinal))
            {
                var end = s.IndexOf("-->", StringComparison.Ordinal);
                if (end < 0)
                    return false;
                s = s[(end + 3)..].TrimStart();
            }
            else if (s.StartsWith("<?xml", StringComparison.OrdinalIgnoreCase))
            {
                var end = s.IndexOf("?>", StringComparison.Ordinal);
                if (end < 0)
                    return false;
                s = s[(end + 2)..].TrimStart();
            }
            else
                break;
        }
        if (s.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase) || s.StartsWith("<html", StringComparison.OrdinalIgnoreCase))
            return true;
        var early = s[..Math.Min(s.Length, 2048)];
        return s.StartsWith("<", StringComparison.Ordinal)
            && (early.Contains("<head", StringComparison.OrdinalIgnoreCase) || early.Contains("<body", StringComparison.OrdinalIgnoreCase));
    }

    static bool HasMarkdownHeading(string text)
    {
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            var hashes = 0;
            while (hashes < line.Length && line[hashes] == '#')
                hashes++;
            if (hashes is >= 1 and <= 6 && hashes < line.Length && line[hashes] == ' ' && line[(hashes + 1)..].Trim().Length > 0)
                return true;
        }
        return false;
    }
}
