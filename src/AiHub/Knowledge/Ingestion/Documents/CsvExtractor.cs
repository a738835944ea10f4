using System.Globalization;
using System.Text;

namespace AiHub.Knowledge.Ingestion.Documents;

/// <summary>
/// A CSV file read record by record: each row becomes "header: value; header: value", so a chunk of rows still says
/// what each value is. The first row is the header when it looks like one (all distinct, none blank or a number).
/// </summary>
internal sealed class CsvExtractor(DocumentLimits limits) : IDocumentExtractor
{
    public bool Handles(SourceFormat format) => format == SourceFormat.Csv;

    public async Task<ExtractedDocument> ExtractAsync(Stream content, CancellationToken ct)
    {
        using var text = TextExtractor.Reader(content, limits);
        var sample = new char[16 * 1024];
        var sampled = await text.ReadBlockAsync(sample.AsMemory(), ct);
        var head = new string(sample, 0, sampled);
        var delimiter = CsvReader.DetectDelimiter(head.Length < sample.Length ? head + "\n" : head)
            ?? throw new IngestionException("The CSV file has no consistent delimiter (comma, semicolon, tab or bar) on its first lines.");
        var reader = new CsvReader(new ChainedReader(head, text), delimiter);
        var blocks = new BlockCollector(limits, ct);
        IReadOnlyList<string>? headers = null;
        var rows = 0;
        while (await reader.ReadRecordAsync(ct) is { } record)
        {
            if (record.All(string.IsNullOrWhiteSpace))
                continue;
            if (headers is null)
            {
                if (LooksLikeHeader(record))
                {
                    headers = record.Select(h => h.Trim()).ToList();
                    continue;
                }
                headers = [.. Enumerable.Range(1, record.Count).Select(i => string.Create(CultureInfo.InvariantCulture, $"Column {i}"))];
            }
            if (++rows > limits.MaxCsvRows)
                throw new IngestionException(string.Create(CultureInfo.InvariantCulture,
                    $"The CSV file has more than {limits.MaxCsvRows:N0} rows, the limit; split it into smaller files."));
            blocks.Add(RowText(headers, record), DocumentBlockKind.TableRow);
        }
        return blocks.Build(null);
    }

    static bool LooksLikeHeader(List<string> record) =>
        record.All(f => !string.IsNullOrWhiteSpace(f) && !double.TryParse(f, NumberStyles.Any, CultureInfo.InvariantCulture, out _))
        && record.Select(f => f.Trim()).Distinct(StringComparer.OrdinalIgnoreCase).Count() == record.Count;

    static string RowText(IReadOnlyList<string> headers, List<string> record)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < record.Count; i++)
        {
            var value = record[i].Trim();
            if (value.Length == 0)
                continue;
            if (sb.Length > 0)
                sb.Append("; ");
            var header = i < headers.Count ? headers[i] : string.Create(CultureInfo.InvariantCulture, $"Column {i + 1}");
            sb.Append(header).Append(": ").Append(value);
        }
        return sb.ToString();
    }

    /// <summary>The sample already read, then the rest of the reader.</summary>
    sealed class ChainedReader(string first, TextReader rest) : TextReader
    {
        int _position;

        public override async ValueTask<int> ReadAsync(Memory<char> buffer, CancellationToken cancellationToken = default)
        {
            if (_position < first.Length)
            {
                var count = Math.Min(buffer.Length, first.Length - _position);
                first.AsMemory(_position, count).CopyTo(buffer);
                _position += count;
                return count;
            }
            return await rest.ReadAsync(buffer, cancellationToken);
        }

        public override int Read(Span<char> buffer)
        {
            if (_position < first.Length)
            {
                var count = Math.Min(buffer.Length, first.Length - _position);
                first.AsSpan(_position, count).CopyTo(buffer);
                _position += count;
                return count;
            }
            return rest.Read(buffer);
        }
    }
}
