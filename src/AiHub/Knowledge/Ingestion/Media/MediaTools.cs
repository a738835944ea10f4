using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Ingestion.Media;

/// <param name="DurationSeconds">The container's duration, or the longest stream's; null when neither says.</param>
/// <param name="AudioCodec">The first audio stream's codec (such as <c>aac</c>), null without audio.</param>
/// <param name="Container">ffprobe's format name, such as <c>mov,mp4,m4a,3gp,3g2,mj2</c> or <c>wav</c>.</param>
internal sealed record MediaInfo(double? DurationSeconds, bool HasAudio, bool HasVideo, string? AudioCodec, string Container);

/// <summary>ffprobe and ffmpeg (Debian's), called directly: what a media file holds, and its first audio stream as 16 kHz mono PCM.</summary>
internal sealed class MediaTools(IOptions<MediaSettings> options, TimeProvider time, ILogger<MediaTools> logger)
{
    public const string NoAudioMessage = "The file has no audio track to transcribe.";
    public const string NotInstalledMessage = "ffmpeg is not installed on this server: an operator must install the Debian package ffmpeg.";
    public const string UnreadableMessage = "The file could not be read as audio or video: it may be damaged or in a format ffmpeg does not know.";

    readonly MediaSettings _settings = options.Value;

    /// <exception cref="IngestionException">ffprobe is missing, or the file is not media it can read.</exception>
    public async Task<MediaInfo> ProbeAsync(string path, CancellationToken ct = default)
    {
        var result = await RunAsync(_settings.FfprobePath,
            ["-v", "error", "-hide_banner", "-print_format", "json",
             "-show_entries", "format=format_name,duration:stream=index,codec_type,codec_name,duration:stream_disposition=attached_pic",
             "-i", "file:" + path], ct);
        if (result.ExitCode != 0)
        {
            logger.LogWarning("ffprobe could not read a media file (exit {ExitCode}): {Stderr}", result.ExitCode, result.StandardError);
            throw new IngestionException(UnreadableMessage);
        }
        try
        {
            return Parse(result.StandardOutput);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            logger.LogWarning(e, "ffprobe's answer could not be read");
            throw new IngestionException(UnreadableMessage);
        }
    }

    internal static MediaInfo Parse(string ffprobeJson)
    {
        using var json = JsonDocument.Parse(ffprobeJson);
        var root = json.RootElement;
        var format = root.GetProperty("format");
        var container = format.TryGetProperty("format_name", out var name) ? name.GetString() ?? "" : "";
        double? duration = Seconds(format);
        string? audioCodec = null;
        bool hasAudio = false, hasVideo = false;
        if (root.TryGetProperty("streams", out var streams))
            foreach (var stream in streams.EnumerateArray())
            {
                var type = stream.TryGetProperty("codec_type", out var t) ? t.GetString() : null;
                if (type == "audio" && !hasAudio)
                {
                    hasAudio = true;
                    audioCodec = stream.TryGetProperty("codec_name", out var codec) ? codec.GetString() : null;
                }
                // An mp3's cover art is a video stream to ffprobe, but nobody would call the file a video.
                var coverArt = stream.TryGetProperty("disposition", out var disposition)
                    && disposition.TryGetProperty("attached_pic", out var pic) && pic.GetInt32() == 1;
                if (type == "video" && !coverArt)
                    hasVideo = true;
                if (duration is null && Seconds(stream) is { } streamSeconds)
                    duration = streamSeconds;
            }
        return new MediaInfo(duration, hasAudio, hasVideo, audioCodec, container);

        static double? Seconds(JsonElement element) =>
            element.TryGetProperty("duration", out var d) && d.ValueKind == JsonValueKind.String
                && double.TryParse(d.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
                ? seconds
                : null;
    }

    /// <summary>
    /// Writes the first audio stream of <paramref name="inputPath"/> as 16 kHz mono 16-bit PCM WAV: the one input both
    /// transcribers take, so a video is never handed on as if it were audio.
    /// </summary>
    /// <exception cref="IngestionException">No audio stream, ffmpeg missing, or the file cannot be decoded (all fatal); a run past the time limit (transient).</exception>
    public async Task<WavAudio> ExtractAudioAsync(string inputPath, string outputWavPath, CancellationToken ct)
    {
        var info = await ProbeAsync(inputPath, ct);
        if (!info.HasAudio)
            throw new IngestionException(NoAudioMessage);
        var result = await RunAsync(_settings.FfmpegPath,
            ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", "file:" + inputPath,
             "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le",
             "-map_metadata", "-1", "-fflags", "+bitexact", "-f", "wav", "file:" + outputWavPath], ct);
        if (result.ExitCode != 0 || !File.Exists(outputWavPath))
        {
            logger.LogWarning("ffmpeg could not decode the audio of a media file (exit {ExitCode}): {Stderr}", result.ExitCode, result.StandardError);
            throw new IngestionException("The audio track could not be decoded: the file may be damaged or cut short.");
        }
        return WavAudio.Open(outputWavPath);
    }

    /// <summary>Encodes a 16 kHz mono WAV as mono MP3 at <paramref name="kilobitsPerSecond"/>: about an eighth of the size, which speech recognisers take as well.</summary>
    public async Task EncodeCompactAsync(string wavPath, string mp3Path, int kilobitsPerSecond, CancellationToken ct)
    {
        var result = await RunAsync(_settings.FfmpegPath,
            ["-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", "file:" + wavPath,
             "-ac", "1", "-ar", "16000", "-c:a", "libmp3lame", "-b:a", kilobitsPerSecond.ToString(CultureInfo.InvariantCulture) + "k",
             "-map_metadata", "-1", "-id3v2_version", "0", "-write_xing", "0", "-f", "mp3", "file:" + mp3Path], ct);
        if (result.ExitCode != 0 || !File.Exists(mp3Path))
        {
            logger.LogWarning("ffmpeg could not encode audio for upload (exit {ExitCode}): {Stderr}", result.ExitCode, result.StandardError);
            throw new IngestionException("The audio could not be prepared for the transcription service.");
        }
    }

    // "file:" keeps a name such as "concat:…" or "-x" from being read as a protocol or an option.
    Task<ProcessResult> RunAsync(string program, string[] arguments, CancellationToken ct) =>
        ExternalProcess.RunAsync(program, arguments, _settings.ProcessTimeout, time, NotInstalledMessage, null, ct);
}
