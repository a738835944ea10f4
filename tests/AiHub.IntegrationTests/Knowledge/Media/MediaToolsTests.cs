using AiHub.IntegrationTests.Support;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Media;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AiHub.IntegrationTests.Knowledge.Media;

/// <summary>Debian's ffprobe and ffmpeg on files ffmpeg itself made: what they hold, and their sound as 16 kHz mono PCM.</summary>
public sealed class MediaToolsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("aihub-media-test-").FullName;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static MediaTools Tools(MediaSettings? settings = null) =>
        new(Options.Create(settings ?? new MediaSettings()), TimeProvider.System, NullLogger<MediaTools>.Instance);

    async Task<string> SpeechAsync(bool asVideo = false) =>
        await SpeechFixtures.SynthesiseAsync([(1, "Please open the door.")], Path.Combine(_dir, asVideo ? "video" : "audio"), asVideo);

    public static TheoryData<string, string[], string> Formats => new()
    {
        { "speech.mp3", ["-c:a", "libmp3lame", "-b:a", "48k"], "mp3" },
        { "speech.ogg", ["-c:a", "libvorbis"], "ogg" },
        { "speech.webm", ["-c:a", "libopus"], "matroska,webm" },
        { "speech.m4a", ["-c:a", "aac"], "mov,mp4,m4a,3gp,3g2,mj2" },
    };

    [Theory]
    [MemberData(nameof(Formats))]
    public async Task Audio_in_any_common_format_is_probed_and_extracted_as_16_kHz_mono_pcm(string name, string[] codec, string container)
    {
        var wav = await SpeechAsync();
        var input = await SpeechFixtures.ConvertAsync(wav, Path.Combine(_dir, name), codec);

        var info = await Tools().ProbeAsync(input, Ct);
        var audio = await Tools().ExtractAudioAsync(input, Path.Combine(_dir, "out.wav"), Ct);

        Assert.True(info.HasAudio);
        Assert.False(info.HasVideo);
        Assert.Equal(container, info.Container);
        Assert.InRange(info.DurationSeconds!.Value, 2, 5);
        Assert.InRange(audio.DurationSeconds, info.DurationSeconds.Value - 0.2, info.DurationSeconds.Value + 0.2);
        var probed = await Tools().ProbeAsync(audio.Path, Ct);
        Assert.Equal(("wav", "pcm_s16le"), (probed.Container, probed.AudioCodec));
    }

    [Fact]
    public async Task A_wav_file_is_probed_as_audio_only()
    {
        var wav = await SpeechAsync();

        var info = await Tools().ProbeAsync(wav, Ct);

        Assert.Equal((true, false, "pcm_s16le", "wav"), (info.HasAudio, info.HasVideo, info.AudioCodec, info.Container));
    }

    [Fact]
    public async Task A_video_yields_its_first_audio_stream_only_never_the_picture()
    {
        var mp4 = await SpeechAsync(asVideo: true);

        var info = await Tools().ProbeAsync(mp4, Ct);
        var audio = await Tools().ExtractAudioAsync(mp4, Path.Combine(_dir, "out.wav"), Ct);

        Assert.Equal((true, true, "aac"), (info.HasAudio, info.HasVideo, info.AudioCodec));
        var probed = await Tools().ProbeAsync(audio.Path, Ct);
        Assert.Equal((true, false), (probed.HasAudio, probed.HasVideo));
        Assert.True(audio.DurationSeconds > 2);
    }

    [Fact]
    public async Task A_video_with_no_audio_stream_fails_for_good_with_the_reason()
    {
        var mp4 = await SpeechFixtures.SilentVideoAsync(_dir);

        var info = await Tools().ProbeAsync(mp4, Ct);
        var error = await Assert.ThrowsAsync<IngestionException>(() => Tools().ExtractAudioAsync(mp4, Path.Combine(_dir, "out.wav"), Ct));

        Assert.Equal((false, true), (info.HasAudio, info.HasVideo));
        Assert.Equal("The file has no audio track to transcribe.", error.Message);
        Assert.False(error.Transient);
        Assert.False(File.Exists(Path.Combine(_dir, "out.wav")));
    }

    [Fact]
    public async Task A_file_that_is_not_media_fails_for_good_without_showing_ffmpeg_output()
    {
        var junk = Path.Combine(_dir, "junk.mp4");
        await File.WriteAllBytesAsync(junk, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 % 251))], Ct);

        var error = await Assert.ThrowsAsync<IngestionException>(() => Tools().ExtractAudioAsync(junk, Path.Combine(_dir, "out.wav"), Ct));

        Assert.Equal(MediaTools.UnreadableMessage, error.Message);
        Assert.False(error.Transient);
        Assert.DoesNotContain(_dir, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_without_ffmpeg_says_so()
    {
        var wav = await SpeechAsync();
        var tools = Tools(new MediaSettings { FfmpegPath = "/nonexistent/ffmpeg", FfprobePath = "/nonexistent/ffprobe" });

        var error = await Assert.ThrowsAsync<IngestionException>(() => tools.ExtractAudioAsync(wav, Path.Combine(_dir, "out.wav"), Ct));

        Assert.Contains("ffmpeg is not installed on this server", error.Message, StringComparison.Ordinal);
        Assert.False(error.Transient);
    }

    [Fact]
    public async Task A_run_past_the_time_limit_is_killed_and_reported_as_transient()
    {
        // A shell that sleeps stands in for an ffprobe stuck on a file; the limit must stop it, not wait for it.
        var started = TimeProvider.System.GetTimestamp();

        var error = await Assert.ThrowsAsync<IngestionException>(() =>
            ExternalProcess.RunAsync("/bin/sh", ["-c", "sleep 60"], TimeSpan.FromSeconds(1), TimeProvider.System, "missing", null, Ct));

        Assert.True(error.Transient);
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(20));
    }
}
