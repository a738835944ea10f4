using System.Text;
using AiHub.Knowledge.Ingestion.Chunking;
using AiHub.Knowledge.Ingestion.Documents;
using BenchmarkDotNet.Attributes;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;

namespace AiHub.Benchmarks;

/// <summary>
/// What ingesting a PDF costs before embedding: layout analysis of every page, then token-aware chunking. One
/// operation is one page of a 100-page document of ordinary prose, so pages per second is one over the mean.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class PdfIngestionBenchmarks
{
    const int Pages = 100;

    static readonly string[] Vocabulary =
    [
        "the", "service", "stores", "each", "record", "with", "its", "owner", "and", "a", "timestamp", "so", "that",
        "reports", "can", "be", "rebuilt", "later", "while", "customers", "expect", "answers", "within", "seconds",
        "during", "peak", "hours", "when", "traffic", "doubles", "because", "billing", "runs", "at", "month", "end",
    ];

    byte[] _pdf = [];
    readonly PdfExtractor _extractor = new(new DocumentLimits());
    readonly Chunker _chunker = new();
    readonly ChunkingOptions _options = new();

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        var builder = new PdfDocumentBuilder();
        builder.DocumentInformation.Title = "Operations handbook";
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        for (var p = 0; p < Pages; p++)
        {
            var page = builder.AddPage(595, 842);
            var y = 800.0;
            // About 450 words a page, in paragraphs of 3 to 10 lines, like a report.
            while (y > 120)
            {
                foreach (var line in Paragraph(random))
                {
                    page.AddText(line, 10, new PdfPoint(56, y), font);
                    y -= 13;
                }
                y -= 12;
            }
        }
        _pdf = builder.Build();
    }

    static IEnumerable<string> Paragraph(Random random)
    {
        var lines = random.Next(3, 11);
        var sb = new StringBuilder();
        var inSentence = 0;
        for (var l = 0; l < lines; l++)
        {
            sb.Clear();
            while (sb.Length < 80)
            {
                var word = Vocabulary[random.Next(Vocabulary.Length)];
                if (inSentence++ == 0)
                    word = char.ToUpperInvariant(word[0]) + word[1..];
                sb.Append(word);
                if (inSentence > 8 + random.Next(12))
                {
                    sb.Append('.');
                    inSentence = 0;
                }
                sb.Append(' ');
            }
            yield return sb.ToString().TrimEnd();
        }
    }

    [Benchmark(OperationsPerInvoke = Pages)]
    public async Task<int> ExtractAndChunk()
    {
        var doc = await _extractor.ExtractAsync(new MemoryStream(_pdf), CancellationToken.None);
        return _chunker.Chunk(doc, _options).Count;
    }
}
