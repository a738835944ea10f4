using System.Diagnostics;
using AiHub.Generation;
using AiHub.Generation.Jobs;
using AiHub.Infrastructure.Blobs;
using AiHub.IntegrationTests.Support;
using AiHub.Knowledge.Ingestion.Media;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AiHub.IntegrationTests.Generation;

/// <summary>Thumbnails made by Debian's ffmpeg from real files in a real disk blob store: a video's poster frame, an image scaled down.</summary>
public sealed class GenerationThumbnailsTests : IDisposable
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static readonly byte[] JpegStart = [0xFF, 0xD8, 0xFF];
    static readonly string[] FfmpegQuiet = ["-nostdin", "-loglevel", "error", "-y"];
    static readonly string[] ProbeSize = ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0"];

    readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("aihub-thumbs-test-");
    readonly Guid _org = Guid.NewGuid(), _job = Guid.NewGuid();

    DiskBlobStore Store() => new(Path.Combine(_folder.FullName, "blobs"));

    static GenerationThumbnails Thumbnails(DiskBlobStore store, LogCapture logs, MediaSettings? media = null) =>
        new(store, Options.Create(media ?? new MediaSettings()), TimeProvider.System, LoggerFactory.Create(b => b.AddProvider(logs)).CreateLogger<GenerationThumbnails>());

    [Fact]
    public async Task A_video_gets_a_480_px_jpeg_poster_frame_and_its_real_size_and_duration()
    {
        var store = Store();
        var key = GenerationBlobs.Output(_org, _job, 0, "mp4");
        await store.PutAsync(key, File.OpenRead(await MakeAsync("video.mp4", "-f", "lavfi", "-i", "testsrc=duration=3:size=1280x720:rate=10", "-pix_fmt", "yuv420p")), long.MaxValue, Ct);

        var media = await Thumbnails(store, new LogCapture()).MakeAsync(_org, _job, 0, key, video: true, Ct);

        Assert.Equal((1280, 720), (media.Width, media.Height));
        Assert.InRange(media.DurationSeconds ?? 0, 2.9, 3.1);
        Assert.Equal(GenerationBlobs.Thumbnail(_org, _job, 0), media.ThumbnailKey);
        var (width, height, bytes) = await ProbeStoredAsync(store, media.ThumbnailKey!);
        Assert.Equal((480, 270), (width, height));
        Assert.Equal(media.ThumbnailBytes, bytes);
    }

    [Fact]
    public async Task An_image_is_scaled_down_to_480_px_and_a_small_one_is_not_enlarged()
    {
        var store = Store();
        var large = GenerationBlobs.Output(_org, _job, 0, "png");
        var small = GenerationBlobs.Output(_org, _job, 1, "png");
        await store.PutAsync(large, File.OpenRead(await MakeAsync("large.png", "-f", "lavfi", "-i", "color=c=red:size=1024x1536", "-frames:v", "1")), long.MaxValue, Ct);
        await store.PutAsync(small, File.OpenRead(await MakeAsync("small.png", "-f", "lavfi", "-i", "color=c=blue:size=256x256", "-frames:v", "1")), long.MaxValue, Ct);
        var thumbnails = Thumbnails(store, new LogCapture());

        var big = await thumbnails.MakeAsync(_org, _job, 0, large, video: false, Ct);
        var little = await thumbnails.MakeAsync(_org, _job, 1, small, video: false, Ct);

        Assert.Equal((1024, 1536), (big.Width, big.Height));
        Assert.Null(big.DurationSeconds);
        var (bigWidth, bigHeight, _) = await ProbeStoredAsync(store, big.ThumbnailKey!);
        var (littleWidth, littleHeight, _) = await ProbeStoredAsync(store, little.ThumbnailKey!);
        Assert.Equal((480, 720), (bigWidth, bigHeight));
        Assert.Equal((256, 256), (littleWidth, littleHeight));
    }

    [Fact]
    public async Task Without_ffmpeg_there_is_no_thumbnail_and_it_is_said_once()
    {
        var store = Store();
        var key = GenerationBlobs.Output(_org, _job, 0, "png");
        await store.PutAsync(key, File.OpenRead(await MakeAsync("image.png", "-f", "lavfi", "-i", "color=c=red:size=64x64", "-frames:v", "1")), long.MaxValue, Ct);
        var logs = new LogCapture();
        var missing = new MediaSettings { FfmpegPath = "/nonexistent/ffmpeg", FfprobePath = "/nonexistent/ffprobe" };
        var thumbnails = Thumbnails(store, logs, missing);

        var first = await thumbnails.MakeAsync(_org, _job, 0, key, video: false, Ct);
        var second = await thumbnails.MakeAsync(_org, _job, 0, key, video: false, Ct);

        Assert.Equal(OutputMedia.Unknown, first);
        Assert.Equal(OutputMedia.Unknown, second);
        Assert.Null(await store.InfoAsync(GenerationBlobs.Thumbnail(_org, _job, 0), Ct));
        Assert.Single(logs.Entries, e => e.Message.Contains("not installed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_file_ffmpeg_cannot_read_is_kept_without_a_thumbnail()
    {
        var store = Store();
        var key = GenerationBlobs.Output(_org, _job, 0, "mp4");
        await store.PutAsync(key, new MemoryStream("not a video at all"u8.ToArray()), long.MaxValue, Ct);

        var media = await Thumbnails(store, new LogCapture()).MakeAsync(_org, _job, 0, key, video: true, Ct);

        Assert.Equal(OutputMedia.Unknown, media);
        Assert.NotNull(await store.InfoAsync(key, Ct));
    }

    async Task<string> MakeAsync(string name, params string[] input)
    {
        var path = Path.Combine(_folder.FullName, name);
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true };
        foreach (var argument in FfmpegQuiet.Concat(input).Append(path))
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.True(process.ExitCode == 0, error);
        return path;
    }

    async Task<(int Width, int Height, long Bytes)> ProbeStoredAsync(DiskBlobStore store, string key)
    {
        var path = Path.Combine(_folder.FullName, Guid.NewGuid().ToString("N") + ".jpg");
        await using (var source = (await store.OpenReadAsync(key, Ct))!)
        await using (var file = File.Create(path))
            await source.CopyToAsync(file, Ct);
        var head = new byte[3];
        await using (var file = File.OpenRead(path))
            await file.ReadExactlyAsync(head, Ct);
        Assert.Equal(JpegStart, head);
        var start = new ProcessStartInfo("ffprobe") { RedirectStandardOutput = true };
        foreach (var argument in ProbeSize.Append(path))
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = (await process.StandardOutput.ReadToEndAsync(Ct)).Trim().Split(',');
        await process.WaitForExitAsync(Ct);
        return (int.Parse(output[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(output[1], System.Globalization.CultureInfo.InvariantCulture),
            new FileInfo(path).Length);
    }

    public void Dispose() => _folder.Delete(recursive: true);
}
