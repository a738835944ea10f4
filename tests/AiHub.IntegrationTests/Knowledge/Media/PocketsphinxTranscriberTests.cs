using AiHub.IntegrationTests.Support;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Media;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AiHub.IntegrationTests.Knowledge.Media;

/// <summary>Speech spoken by flite, muxed into MP4 by ffmpeg, extracted and recognised offline by Debian's pocketsphinx.</summary>
public sealed class PocketsphinxTranscriberTests : IDisposable
{
    static readonly (double AtSeconds, string Sentence)[] Lines =
    [
        (1, "The weather is nice today and the sun is warm."),
        (8, "Please open the door and close the window."),
        (20, "We will meet at the train station tomorrow morning."),
        (30, "My sister likes to read books about history."),
    ];

    readonly string _dir = Directory.CreateTempSubdirectory("aihub-sphinx-test-").FullName;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static PocketsphinxTranscriber Transcriber(MediaSettings settings) =>
        new(Options.Create(settings), TimeProvider.System, NullLogger<PocketsphinxTranscriber>.Instance);

    async Task<WavAudio> ExtractAsync(IReadOnlyList<(double, string)> lines)
    {
        var mp4 = await SpeechFixtures.SynthesiseAsync(lines, _dir, asVideo: true);
        var tools = new MediaTools(Options.Create(new MediaSettings()), TimeProvider.System, NullLogger<MediaTools>.Instance);
        return await tools.ExtractAudioAsync(mp4, Path.Combine(_dir, "audio.wav"), Ct);
    }

    [Fact]
    public async Task Speech_in_a_video_is_transcribed_within_30_percent_word_error_and_each_sentence_at_its_second()
    {
        var audio = await ExtractAsync(Lines);
        var reports = new List<double>();

        var transcript = await Transcriber(new MediaSettings()).TranscribeAsync(audio.Path, audio.DurationSeconds, new SyncProgress(reports.Add), Ct);

        var text = string.Join(' ', transcript.Segments.Select(s => s.Text));
        var wer = SpeechFixtures.WordErrorRate(string.Join(' ', Lines.Select(l => l.Sentence)), text);
        Assert.True(wer <= 0.30, $"word error rate {wer:P0}: heard \"{text}\"");
        Assert.Equal("en", transcript.Language);
        Assert.InRange(transcript.DurationSeconds, 33, 40);
        // Each sentence was placed with seconds of silence around it, so each is a segment of its own.
        Assert.Equal(Lines.Length, transcript.Segments.Count);
        foreach (var ((at, _), segment) in Lines.Zip(transcript.Segments))
            Assert.InRange(segment.Start, at - 3, at + 3);
        Assert.Contains(transcript.Segments, s => Math.Abs(s.Start - 20) <= 3 && s.Text.Contains("train station", StringComparison.Ordinal));
        Assert.All(transcript.Segments, s => Assert.All(s.Words!, w => Assert.InRange(w.Start, s.Start, s.End)));
        Assert.Equal(Enumerable.Range(0, transcript.Segments.Count), transcript.Segments.Select(s => s.Index));
        Assert.Equal(1, reports[^1]);
        Assert.Equal(reports.Order(), reports);
    }

    [Fact]
    public async Task A_long_recording_is_cut_at_pauses_recognised_in_parallel_and_put_back_in_order_without_repeats()
    {
        (double, string)[] lines =
        [
            (2, "The weather is nice today and the sun is warm."),
            (57, "Please open the door and close the window."),
            (62, "We will meet at the train station tomorrow morning."),
            (118, "My sister likes to read books about history."),
            (124, "The weather is nice today and the sun is warm."),
        ];
        var audio = await ExtractAsync(lines);

        var transcript = await Transcriber(new MediaSettings { TranscriptionParallelism = 2 })
            .TranscribeAsync(audio.Path, audio.DurationSeconds, null, Ct);

        var text = string.Join(' ', transcript.Segments.Select(s => s.Text));
        var wer = SpeechFixtures.WordErrorRate(string.Join(' ', lines.Select(l => l.Item2)), text);
        Assert.True(wer <= 0.30, $"word error rate {wer:P0}: heard \"{text}\"");
        var words = transcript.Segments.SelectMany(s => s.Words!).ToList();
        Assert.Equal(words.OrderBy(w => w.Start).Select(w => w.Start), words.Select(w => w.Start));
        foreach (var (at, _) in lines)
            Assert.Contains(transcript.Segments, s => Math.Abs(s.Start - at) <= 3);
    }

    [Fact]
    public async Task A_server_without_pocketsphinx_names_the_packages_to_install()
    {
        var audio = await ExtractAsync([(0.5, "Hello.")]);

        var noModel = await Assert.ThrowsAsync<IngestionException>(() =>
            Transcriber(new MediaSettings { PocketsphinxModelDirectory = Path.Combine(_dir, "none") }).TranscribeAsync(audio.Path, audio.DurationSeconds, null, Ct));
        var noProgram = await Assert.ThrowsAsync<IngestionException>(() =>
            Transcriber(new MediaSettings { PocketsphinxPath = "/nonexistent/pocketsphinx_continuous" }).TranscribeAsync(audio.Path, audio.DurationSeconds, null, Ct));

        foreach (var error in new[] { noModel, noProgram })
        {
            Assert.Contains("pocketsphinx and pocketsphinx-en-us", error.Message, StringComparison.Ordinal);
            Assert.False(error.Transient);
        }
    }

    /// <summary>Reports on the caller's thread, unlike <see cref="Progress{T}"/>, so the list is complete when the call returns.</summary>
    sealed class SyncProgress(Action<double> report) : IProgress<double>
    {
        readonly Lock _gate = new();

        public void Report(double value)
        {
            lock (_gate)
                report(value);
        }
    }
}
