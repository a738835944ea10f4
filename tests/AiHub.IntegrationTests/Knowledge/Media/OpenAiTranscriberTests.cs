using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Media;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AiHub.IntegrationTests.Knowledge.Media;

/// <summary>The OpenAI-compatible transcriber against the fake provider's <c>/v1/audio/transcriptions</c>, which answers one "segment N" per 5 s it hears.</summary>
public sealed class OpenAiTranscriberTests : IDisposable
{
    const string Key = "sk-transcribe-test";

    readonly string _dir = Directory.CreateTempSubdirectory("aihub-openai-transcribe-test-").FullName;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static OpenAiTranscriber Transcriber(FakeLlm fake, HttpClient http, long maxUploadBytes = 25 * 1024 * 1024)
    {
        var media = new MediaSettings { MaxTranscriptionUploadBytes = maxUploadBytes };
        var tools = new MediaTools(Options.Create(media), TimeProvider.System, NullLogger<MediaTools>.Instance);
        var settings = new TranscriptionSettings { BaseUrl = fake.OpenAiEndpoint, ApiKey = Key, Model = "whisper-1" };
        return new OpenAiTranscriber(http, tools, Options.Create(settings), Options.Create(media), TimeProvider.System, NullLogger<OpenAiTranscriber>.Instance);
    }

    async Task<WavAudio> SpeechAsync(params (double, string)[] lines)
    {
        var wav = await SpeechFixtures.SynthesiseAsync(lines, _dir, asVideo: false);
        var tools = new MediaTools(Options.Create(new MediaSettings()), TimeProvider.System, NullLogger<MediaTools>.Instance);
        return await tools.ExtractAudioAsync(wav, Path.Combine(_dir, "audio.wav"), Ct);
    }

    [Fact]
    public async Task A_short_recording_is_sent_whole_and_its_verbose_json_segments_and_words_are_kept()
    {
        await using var fake = await FakeLlm.StartAsync();
        using var http = new HttpClient();
        var audio = await SpeechAsync((1, "Please open the door."), (9, "Close the window."));

        var transcript = await Transcriber(fake, http).TranscribeAsync(audio.Path, audio.DurationSeconds, null, Ct);

        var request = Assert.Single(fake.Requests);
        Assert.Equal("/v1/audio/transcriptions", request.Path);
        Assert.Equal("Bearer " + Key, request.Headers["Authorization"]);
        Assert.Equal("whisper-1", request.Model);
        Assert.Equal("verbose_json", request.Body!.Value.GetProperty("response_format").GetString());
        Assert.Equal(["segment", "word"], request.Body.Value.GetProperty("timestamp_granularities[]").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(new FileInfo(audio.Path).Length, request.Upload!.Bytes);
        Assert.Equal("english", transcript.Language);
        Assert.Equal(["segment 1", "segment 2", "segment 3"], transcript.Segments.Select(s => s.Text));
        Assert.Equal([0.0, 5, 10], transcript.Segments.Select(s => s.Start));
        Assert.Equal(["segment", "2"], transcript.Segments[1].Words!.Select(w => w.Text));
        Assert.InRange(transcript.Segments[^1].End, audio.DurationSeconds - 0.05, audio.DurationSeconds + 0.05);
    }

    [Fact]
    public async Task A_recording_over_the_upload_limit_is_sent_in_compact_pieces_whose_times_are_shifted_and_merged()
    {
        await using var fake = await FakeLlm.StartAsync();
        // One-second segments against two seconds of overlap each side: a repeat would show as segments on top of each other.
        fake.TranscriptionSegmentSeconds = 1;
        using var http = new HttpClient();
        var audio = await SpeechAsync((1, "The weather is nice today."), (14, "Please open the door."), (27, "We will meet at the station."), (40, "Close the window."));
        const long limit = 40_000;
        Assert.True(new FileInfo(audio.Path).Length > 10 * limit);
        var reports = new List<double>();

        var transcript = await Transcriber(fake, http, limit).TranscribeAsync(audio.Path, audio.DurationSeconds, new SyncProgress(reports.Add), Ct);

        var uploads = fake.Requests.Select(r => r.Upload!).ToList();
        Assert.True(uploads.Count >= 4, $"{uploads.Count} uploads");
        Assert.All(uploads, u => Assert.InRange(u.Bytes, 1, limit));
        Assert.All(uploads, u => Assert.Equal("audio/mpeg", u.ContentType));
        // Together the pieces cover the recording, and each overlaps the next by a few seconds.
        Assert.InRange(uploads.Sum(u => u.DurationSeconds!.Value), audio.DurationSeconds, audio.DurationSeconds + (uploads.Count * 5));

        var segments = transcript.Segments;
        Assert.Equal(Enumerable.Range(0, segments.Count), segments.Select(s => s.Index));
        for (var i = 1; i < segments.Count; i++)
        {
            Assert.True(segments[i].Start >= segments[i - 1].Start, $"segment {i} starts at {segments[i].Start}, before {segments[i - 1].Start}");
            // The overlap is heard twice but kept once: no two segments cover the same stretch for more than a segment's half.
            Assert.True(segments[i].Start >= segments[i - 1].End - 0.6, $"segment {i} ({segments[i].Start}) repeats the one before (ends {segments[i - 1].End})");
        }
        Assert.InRange(segments[^1].End, audio.DurationSeconds - 1, audio.DurationSeconds + 0.5);
        // Shifted onto the recording's clock: later pieces' segments lie late in the recording, not back at zero.
        Assert.InRange(segments.Count(s => s.Start < 5), 4, 6);
        var boundaries = uploads.Count - 1;
        Assert.InRange(segments.Sum(s => s.End - s.Start), audio.DurationSeconds - boundaries, audio.DurationSeconds + boundaries);
        Assert.Equal(1, reports[^1], 3);
        Assert.Equal(reports.Order(), reports);
    }

    [Theory]
    [InlineData(429, true)]
    [InlineData(503, true)]
    [InlineData(400, false)]
    [InlineData(401, false)]
    public async Task A_busy_service_is_tried_again_later_and_a_refusal_fails_for_good(int status, bool transient)
    {
        await using var fake = await FakeLlm.StartAsync();
        using var http = new HttpClient();
        var audio = await SpeechAsync((0.5, "Hello there."));
        fake.Enqueue(FakeScript.Status(status, TimeSpan.FromSeconds(1)));

        var error = await Assert.ThrowsAsync<IngestionException>(() => Transcriber(fake, http).TranscribeAsync(audio.Path, audio.DurationSeconds, null, Ct));

        Assert.Equal(transient, error.Transient);
        Assert.Contains($"HTTP {status}", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_service_that_cannot_be_reached_is_tried_again_later()
    {
        var fake = await FakeLlm.StartAsync();
        var transcriber = Transcriber(fake, new HttpClient());
        await fake.DisposeAsync();
        var audio = await SpeechAsync((0.5, "Hello there."));

        var error = await Assert.ThrowsAsync<IngestionException>(() => transcriber.TranscribeAsync(audio.Path, audio.DurationSeconds, null, Ct));

        Assert.True(error.Transient);
    }

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
