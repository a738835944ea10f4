using CsvHelper;

namespace AiHub.Credits.Bulk;

/// <summary>One record of a CSV file and the line it starts on (a quoted field may span lines).</summary>
internal sealed record CsvRecord(int Line, IReadOnlyList<string> Fields);

internal sealed class CsvFormatException(int line, string message) : Exception(message)
{
    public int Line { get; } = line;
}

/// <summary>RFC 4180 through CsvHelper: fields separated by commas, records by CRLF or LF, quoted fields may hold commas, line breaks and doubled quotes.</summary>
internal static class Csv
{
    static readonly CsvReaderOptions ReadOptions = CsvReaderOptions.Default with
    {
        Separator = ',',
        HasHeader = false,
        TrimWhitespace = false,
        TrackLineNumbers = true,
        SkipEmptyLines = true,
        FieldCountMismatch = CsvFieldCountHandling.Allow,
        MalformedData = CsvMalformedDataHandling.Recover,
    };

    /// <remarks>Text that starts like a formula gets a leading <c>'</c> so a spreadsheet keeps it as text; numbers are written as numbers, so <c>-5</c> stays <c>-5</c>.</remarks>
    static readonly CsvWriterOptions WriteOptions = CsvWriterOptions.Default with
    {
        Separator = ',',
        NewLine = "\r\n",
        Injection = CsvInjection.Escape,
        FormatProvider = System.Globalization.CultureInfo.InvariantCulture,
        WriteByteOrderMark = false,
    };

    /// <summary>A CSV file as UTF-8 bytes, its records written by <paramref name="write"/>, each ended with <see cref="CsvWriter.EndRecord"/>.</summary>
    public static byte[] Write(Action<CsvWriter> write)
    {
        using var stream = new MemoryStream();
        using (var csv = CsvWriter.Create(stream, WriteOptions, leaveOpen: true))
            write(csv);
        return stream.ToArray();
    }

    /// <remarks>Blank lines are skipped, so that a trailing newline or a gap between rows is not a row of one empty field.</remarks>
    public static List<CsvRecord> Parse(string text)
    {
        CsvMalformedRecord? malformed = null;
        var options = ReadOptions with { OnMalformedRecord = record => malformed ??= record };
        var records = new List<CsvRecord>();
        using var reader = CsvReader.FromText(text.StartsWith('\uFEFF') ? text[1..] : text, options);
        while (reader.Read())
        {
            // The reader recovers from bad quoting by guessing; a file of money movements must say instead.
            if (malformed is not null)
                throw Broken(malformed.Value);
            var fields = new string[reader.FieldCount];
            for (var i = 0; i < fields.Length; i++)
                fields[i] = reader.GetString(i);
            records.Add(new CsvRecord((int)reader.LineNumber, fields));
        }
        if (malformed is not null)
            throw Broken(malformed.Value);
        return records;
    }

    static CsvFormatException Broken(CsvMalformedRecord record) => new((int)record.LineNumber, record.Reason switch
    {
        CsvMalformedReason.UnterminatedQuote => "A quoted field is never closed.",
        CsvMalformedReason.TextAfterClosingQuote => "Text after the closing quote of a field; put it inside the quotes.",
        _ => "A quote inside a field that does not start with one; quote the whole field and double the quotes inside it.",
    });
}
