using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Knowledge;

internal sealed class KnowledgeSettings
{
    public const string Section = "Knowledge";

    /// <summary>The largest file anyone may upload, whatever the plan allows.</summary>
    [Range(1, long.MaxValue)]
    public long MaxFileBytes { get; set; } = 4L * 1024 * 1024 * 1024;

    /// <summary>The part size a resumable upload is cut into (the blob store's minimum at least).</summary>
    [Range(5L * 1024 * 1024, 1024L * 1024 * 1024)]
    public long UploadPartBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>How long an unfinished resumable upload can be continued.</summary>
    [Duration("00:01:00", "30.00:00:00")]
    public TimeSpan UploadLifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The largest page or file a URL import fetches.</summary>
    [Range(1, long.MaxValue)]
    public long ImportMaxBytes { get; set; } = 200L * 1024 * 1024;

    [Duration("00:00:01", "01:00:00")]
    public TimeSpan ImportTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Chunk size and overlap, in tokens.</summary>
    [Range(50, 4000)]
    public int ChunkTokens { get; set; } = 400;

    [Range(0, 1000)]
    public int ChunkOverlapTokens { get; set; } = 60;

    /// <summary>Transcription is charged per started minute of audio (credits), when a transcription provider is configured.</summary>
    [Range(0, 1000)]
    public decimal TranscriptionCreditsPerMinute { get; set; } = 0.006m;
}
