using System.Text;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>A small RFC 4180 reader: quoted fields, doubled quotes, line breaks inside quotes; one record at a time.</summary>
internal sealed class CsvReader(TextReader reader, char delimiter, int maxFieldChars = 1_000_000)
{
    static readonly char[] Candidates = [',', ';', '\t', '|'];

    /// <summary>
    /// The delimiter whose count is the same, and at least one, on every complete record of the sample (two records
    /// at least); null when no candidate is consistent, so the text is not a table.
    /// </summary>
    public static char? DetectDelimiter(string sample)
    {
        // The sample may end mid-record: drop the last line unless the sample ends with a newline.
        var end = sample.EndsWith('\n') ? sample.Length : sample.LastIndexOf('\n');
        if (end <= 0)
            return null;
        var complete = sample[..end];
        foreach (var candidate in Candidates)
        {
            var counts = CountPerRecord(complete, candidate, maxRecords: 50);
            if (counts.Count >= 2 && counts[0] >= 1 && counts.All(c => c == counts[0]))
                return candidate;
        }
        return null;
    }

    static List<int> CountPerRecord(string text, char delimiter, int maxRecords)
    {
        var counts = new List<int>();
        var count = 0;
        var quoted = false;
        var empty = true;
        foreach (var c in text)
        {
            if (c == '"')
                quoted = !quoted;
            else if (!quoted && c == delimiter)
                count++;
            else if (!quoted && c == '\n')
            {
                if (!empty || count > 0)
                    counts.Add(count);
                if (counts.Count >= maxRecords)
                    return counts;
                count = 0;
                empty = true;
                continue;
            }
            if (c is not ('\r' or ' '))
                empty = false;
        }
        if (!empty || count > 0)
            counts.Add(count);
        return counts;
    }

    readonly char[] _buffer = new char[16 * 1024];
    int _position;
    int _length;

    /// <summary>The next record's fields, or null at the end.</summary>
    public async ValueTask<List<string>?> ReadRecordAsync(CancellationToken ct)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var any = false;
        while (true)
        {
            if (_position == _length && !await FillAsync(ct))
            {
                if (!any)
                    return null;
                fields.Add(field.ToString());
                return fields;
            }
            var c = _buffer[_position++];
            any = true;
            if (quoted)
            {
                if (c != '"')
                    Append(field, c);
                else if ((_position < _length || await FillAsync(ct)) && _buffer[_position] == '"')
                {
                    _position++;
                    field.Append('"');
                }
                else
                    quoted = false;
                continue;
            }
            if (c == '"' && field.Length == 0)
                quoted = true;
            else if (c == delimiter)
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else if (c == '\n')
            {
                fields.Add(field.ToString());
                return fields;
            }
            else if (c != '\r')
                Append(field, c);
        }
    }

    async ValueTask<bool> FillAsync(CancellationToken ct)
    {
        _length = await reader.ReadAsync(_buffer.AsMemory(), ct);
        _position = 0;
        return _length > 0;
    }

    void Append(StringBuilder field, char c)
    {
        if (field.Length >= maxFieldChars)
            throw new IngestionException($"A CSV field is longer than {maxFieldChars:N0} characters; the file is not a table that can be read.");
        field.Append(c);
    }
}
