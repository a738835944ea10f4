using System.Globalization;
using System.Text.Json;
using AiHub.Infrastructure.Blobs;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Media;
using Microsoft.Extensions.Options;

namespace AiHub.Generation.Jobs;

/// <summary>What ffprobe read from a stored output, and the thumbnail made of it (null without ffmpeg or when the file could not be read).</summary>
internal sealed record OutputMedia(int? Width, int? Height, double? DurationSeconds, string? ThumbnailKey, long ThumbnailBytes)
{
    public static readonly OutputMedia Unknown = new(null, null, null, null, 0);
}

/// <summary>
/// A JPEG about <see cref="Width"/> px wide of each output (a video's poster frame, an image scaled down), made with
/// Debian's ffmpeg and kept at <see cref="GenerationBlobs.Thumbnail"/>; ffprobe reads the real size and duration.
/// </summary>
/// <remarks>A missing or failing ffmpeg never fails a job: the output is kept without a thumbnail, and its size falls back to the requested one.</remarks>
internal sealed partial class GenerationThumbnails(IBlobStore blobs, IOptions<MediaSettings> media, TimeProvider clock, ILogger<GenerationThumbnails> log)
{
    public const int Width = 480;

    /// <summary>A thumbnail never needs more: a 480 px JPEG is tens of kilobytes.</summary>
    const long MaxThumbnailBytes = 8L * 1024 * 1024;

    int _missingLogged;

    public async Task<OutputMedia> MakeAsync(Guid orgId, Guid jobId, int index, string outputKey, bool video, CancellationToken ct)
    {
        var folder = Directory.CreateTempSubdirectory("aihub-thumb-");
        try
        {
            var input = Path.Combine(folder.FullName, "output");
            await using (var source = await blobs.OpenReadAsync(outputKey, ct))
            {
                if (source is null)
                    return OutputMedia.Unknown;
                await using var file = new FileStream(input, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous);
                await source.CopyToAsync(file, ct);
            }
            var (width, height, duration) = await ProbeAsync(input, ct);
            var thumbnail = Path.Combine(folder.FullName, "thumb.jpg");
            // A poster frame a second in (or halfway through a shorter clip): the very first frame is often black.
            var seek = video ? Math.Min(1.0, (duration ?? 0) / 2) : 0;
            List<string> arguments = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"];
            if (seek > 0)
                arguments.AddRange(["-ss", seek.ToString("0.###", CultureInfo.InvariantCulture)]);
            arguments.AddRange(["-i", "file:" + input, "-frames:v", "1", "-vf", $"scale='min({Width},iw)':-2", "-q:v", "4",
                "-map_metadata", "-1", "-f", "image2", "-c:v", "mjpeg", "file:" + thumbnail]);
            var result = await RunAsync(media.Value.FfmpegPath, arguments, ct);
            if (result.ExitCode != 0 || !File.Exists(thumbnail) || new FileInfo(thumbnail).Length == 0)
            {
                LogThumbnailFailed(jobId, index, result.ExitCode, result.StandardError);
                return new(width, height, duration, null, 0);
            }
            var key = GenerationBlobs.Thumbnail(orgId, jobId, index);
            await using var jpeg = File.OpenRead(thumbnail);
            var bytes = await blobs.PutAsync(key, jpeg, MaxThumbnailBytes, ct);
            return new(width, height, duration, key, bytes);
        }
        catch (IngestionException e) when (!e.Transient)
        {
            if (Interlocked.Exchange(ref _missingLogged, 1) == 0)
                LogToolsMissing(media.Value.FfmpegPath);
            return OutputMedia.Unknown;
        }
        catch (IngestionException e)
        {
            LogThumbnailTimedOut(jobId, index, e.Message);
            return OutputMedia.Unknown;
        }
        finally
        {
            try
            {
                folder.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A leftover temp folder is harmless; the job must not fail for it.
            }
        }
    }

    async Task<(int?, int?, double?)> ProbeAsync(string path, CancellationToken ct)
    {
        var result = await RunAsync(media.Value.FfprobePath,
            ["-v", "error", "-hide_banner", "-print_format", "json", "-select_streams", "v:0",
             "-show_entries", "format=format_name,duration:stream=codec_type,width,height,duration", "-i", "file:" + path], ct);
        if (result.ExitCode != 0)
            return (null, null, null);
        try
        {
            var info = MediaTools.Parse(result.StandardOutput);
            using var json = JsonDocument.Parse(result.StandardOutput);
            int? width = null, height = null;
            if (json.RootElement.TryGetProperty("streams", out var streams) && streams.GetArrayLength() > 0)
            {
                var stream = streams[0];
                width = stream.TryGetProperty("width", out var w) && w.TryGetInt32(out var wi) && wi > 0 ? wi : null;
                height = stream.TryGetProperty("height", out var h) && h.TryGetInt32(out var hi) && hi > 0 ? hi : null;
            }
            return (width, height, info.DurationSeconds);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            return (null, null, null);
        }
    }

    Task<ProcessResult> RunAsync(string program, IEnumerable<string> arguments, CancellationToken ct) =>
        ExternalProcess.RunAsync(program, arguments, media.Value.ProcessTimeout, clock, MediaTools.NotInstalledMessage, null, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ffmpeg ({Program}) is not installed: generations are kept without thumbnails. Install the Debian package ffmpeg to have them.")]
    partial void LogToolsMissing(string program);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Generation {JobId}: no thumbnail for output {Index} (ffmpeg exit {ExitCode}): {Stderr}")]
    partial void LogThumbnailFailed(Guid jobId, int index, int exitCode, string stderr);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Generation {JobId}: no thumbnail for output {Index}: {Reason}")]
    partial void LogThumbnailTimedOut(Guid jobId, int index, string reason);
}
