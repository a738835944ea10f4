using System.Text;

namespace AiHub.Credits.Bulk;

/// <summary>One record of a CSV file and the line it starts on (a quoted field may span lines).</summary>
internal sealed record CsvRecord(int Line, IReadOnlyList<string> Fields);

internal sealed class CsvFormatException(int line, string message) : Exception(message)
{
    public int Line { get; } = line;
}

/// <summary>RFC 4180: fields separated by commas, records by CRLF or LF, quoted fields may hold commas, line breaks and doubled quotes.</summary>
internal static class Csv
{
    /// <summary>Writes one record, each cell made safe for spreadsheets by <see cref="Cell"/>, ended by CRLF.</summary>
    public static void AppendRecord(StringBuilder csv, IEnumerable<string> cells)
    {
        csv.AppendJoin(',', cells.Select(Cell));
        csv.Append("\r\n");
    }

    /// <summary>
    /// A cell as a spreadsheet will read it: text that starts like a formula (<c>= + - @</c>, tab, CR) gets a leading
    /// <c>'</c> so it stays text, while a number, negative or not, stays a number; then quoted when it must be.
    /// </summary>
    public static string Cell(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' && !IsNumber(value))
            value = "'" + value;
        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    static bool IsNumber(string value) =>
        decimal.TryParse(value, System.Globalization.NumberStyles.AllowLeadingSign | System.Globalization.NumberStyles.AllowDecimalPoint,
            System.Globalization.CultureInfo.InvariantCulture, out _);

    /// <remarks>Blank lines are skipped, so that a trailing newline or a gap between rows is not a row of one empty field.</remarks>
    public static List<CsvRecord> Parse(string text)
    {
        var records = new List<CsvRecord>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var (line, start) = (1, 1);
        var (quoted, closedQuote, any) = (false, false, false);
        var i = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c != '"')
                {
                    if (c == '\n' || (c == '\r' && (i + 1 == text.Length || text[i + 1] != '\n')))
                        line++;
                    field.Append(c);
                }
                else if (i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else
                {
                    (quoted, closedQuote) = (false, true);
                }
                continue;
            }
            switch (c)
            {
                case '"' when field.Length > 0 || closedQuote:
                    throw new CsvFormatException(line, "A quote inside a field that does not start with one; quote the whole field and double the quotes inside it.");
                case '"':
                    (quoted, any) = (true, true);
                    break;
                case ',':
                    fields.Add(field.ToString());
                    field.Clear();
                    (closedQuote, any) = (false, true);
                    break;
                case '\r' or '\n':
                    if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                        i++;
                    End();
                    line++;
                    start = line;
                    break;
                default:
                    if (closedQuote)
                        throw new CsvFormatException(line, "Text after the closing quote of a field; put it inside the quotes.");
                    field.Append(c);
                    any = true;
                    break;
            }
        }
        if (quoted)
            throw new CsvFormatException(start, "A quoted field is never closed.");
        End();
        return records;

        void End()
        {
            if (any)
            {
                fields.Add(field.ToString());
                records.Add(new CsvRecord(start, [.. fields]));
            }
            fields.Clear();
            field.Clear();
            (closedQuote, any) = (false, false);
        }
    }
}
