using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Ingestion.Media;

/// <summary>
/// Offline transcription with Debian's pocketsphinx and its US English model: no service, no key, no cost. Long audio
/// is cut at pauses into pieces that run in parallel, one process each.
/// </summary>
internal sealed partial class PocketsphinxTranscriber(IOptions<MediaSettings> options, TimeProvider time, ILogger<PocketsphinxTranscriber> logger) : ITranscriber
{
    public const string NotInstalledMessage =
        "pocketsphinx is not installed on this server: an operator must install the Debian packages pocketsphinx and pocketsphinx-en-us.";

    /// <summary>A piece's own length: a minute keeps every process busy for a while without leaving one long tail.</summary>
    public const double PieceSeconds = 60;
    public const double OverlapSeconds = 1;

    /// <summary>A silence this long between two words starts a new segment.</summary>
    public const double SegmentPauseSeconds = 0.6;
    public const double SegmentMaxSeconds = 15;

    /// <summary>
    /// A narrower search than the defaults: on flite test speech it halves the CPU per second of audio (5.8x to 11x real
    /// time on one core) for a word error rate of 8 % instead of 6 %.
    /// </summary>
    static readonly string[] DecoderFlags = ["-maxhmmpf", "3000", "-topn", "2"];

    readonly MediaSettings _settings = options.Value;

    public string Name => "pocketsphinx";

    public async Task<Transcript> TranscribeAsync(string wavPath, double durationSeconds, IProgress<double>? progress, CancellationToken ct)
    {
        var model = _settings.PocketsphinxModelDirectory;
        string hmm = Path.Combine(model, "en-us"), lm = Path.Combine(model, "en-us.lm.bin"), dict = Path.Combine(model, "cmudict-en-us.dict");
        if (!Directory.Exists(hmm) || !File.Exists(lm) || !File.Exists(dict))
            throw new IngestionException(NotInstalledMessage);

        var audio = WavAudio.Open(wavPath);
        var duration = audio.DurationSeconds;
        var pieces = duration <= PieceSeconds + (2 * OverlapSeconds)
            ? [new AudioPiece(0, 0, duration, 0, duration)]
            : AudioPieces.Plan(audio.FrameLoudness(), duration, PieceSeconds + (2 * OverlapSeconds), OverlapSeconds);

        var directory = Directory.CreateTempSubdirectory("aihub-sphinx-");
        var heard = new double[pieces.Count];
        void Report(int piece, double seconds)
        {
            if (progress is null)
                return;
            lock (heard)
            {
                heard[piece] = Math.Max(heard[piece], seconds);
                progress.Report(Math.Clamp(heard.Sum() / Math.Max(duration, 0.001), 0, 1));
            }
        }
        try
        {
            var results = new IReadOnlyList<TranscriptWord>[pieces.Count];
            await Parallel.ForEachAsync(pieces, new ParallelOptions { MaxDegreeOfParallelism = _settings.Parallelism, CancellationToken = ct }, async (piece, token) =>
            {
                var path = pieces.Count == 1 ? wavPath : Path.Combine(directory.FullName, $"piece-{piece.Index:D5}.wav");
                if (pieces.Count > 1)
                    audio.WritePiece(piece.Start, piece.End, path);
                results[piece.Index] = await DecodeAsync(path, hmm, lm, dict, seconds => Report(piece.Index, seconds), token);
                Report(piece.Index, piece.Length);
            });
            var words = AudioPieces.MergeWords(pieces.Select(p => (p, results[p.Index])));
            progress?.Report(1);
            return new Transcript("en", duration, Group(words));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    async Task<IReadOnlyList<TranscriptWord>> DecodeAsync(string wavPath, string hmm, string lm, string dict, Action<double> heard, CancellationToken ct)
    {
        var result = await ExternalProcess.RunAsync(_settings.PocketsphinxPath,
            ["-infile", wavPath, "-time", "yes", "-hmm", hmm, "-lm", lm, "-dict", dict, .. DecoderFlags],
            _settings.ProcessTimeout, time, NotInstalledMessage,
            line =>
            {
                if (ParseWordLine(line) is { } word)
                    heard(word.End);
            }, ct);
        if (result.ExitCode != 0)
        {
            logger.LogWarning("pocketsphinx failed (exit {ExitCode}): {Stderr}", result.ExitCode, result.StandardError);
            throw new IngestionException("The speech recogniser failed on this recording.");
        }
        return ParseWords(result.StandardOutput);
    }

    /// <summary>The recognised words of pocketsphinx's <c>-time yes</c> output, without sentence marks, silences, noises and alternate-pronunciation tags.</summary>
    internal static List<TranscriptWord> ParseWords(string output)
    {
        var words = new List<TranscriptWord>();
        foreach (var line in output.Split('\n'))
            if (ParseWordLine(line) is { } word)
                words.Add(word);
        return words;
    }

    static TranscriptWord? ParseWordLine(string line)
    {
        var match = WordLine().Match(line.TrimEnd('\r'));
        if (!match.Success)
            return null;
        var text = match.Groups["word"].Value;
        if (text.StartsWith('<') || text.StartsWith('[') || text.StartsWith("++", StringComparison.Ordinal))
            return null;
        text = Alternate().Replace(text, "");
        if (text.Length == 0)
            return null;
        var start = double.Parse(match.Groups["start"].Value, CultureInfo.InvariantCulture);
        var end = double.Parse(match.Groups["end"].Value, CultureInfo.InvariantCulture);
        return new TranscriptWord(start, Math.Max(start, end), text);
    }

    /// <summary>Words into segments: a new one at each pause of <see cref="SegmentPauseSeconds"/> or when one would pass <see cref="SegmentMaxSeconds"/>.</summary>
    internal static List<TranscriptSegment> Group(IReadOnlyList<TranscriptWord> words)
    {
        var segments = new List<TranscriptSegment>();
        var current = new List<TranscriptWord>();
        void Close()
        {
            if (current.Count == 0)
                return;
            var text = new StringBuilder();
            foreach (var word in current)
                text.Append(text.Length == 0 ? "" : " ").Append(word.Text);
            segments.Add(new TranscriptSegment(segments.Count, current[0].Start, current[^1].End, text.ToString(), [.. current]));
            current.Clear();
        }
        foreach (var word in words)
        {
            if (current.Count > 0 && (word.Start - current[^1].End >= SegmentPauseSeconds || word.End - current[0].Start > SegmentMaxSeconds))
                Close();
            current.Add(word);
        }
        Close();
        return segments;
    }

    // "word 1.230 1.310 0.738499": the word, its start and end in seconds, and its posterior probability.
    [GeneratedRegex(@"^(?<word>\S+) (?<start>\d+(?:\.\d+)?) (?<end>\d+(?:\.\d+)?) (?<p>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$")]
    private static partial Regex WordLine();

    // "read(2)": the dictionary's second pronunciation of "read".
    [GeneratedRegex(@"\(\d+\)$")]
    private static partial Regex Alternate();
}
