using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Knowledge.Ingestion.Media;

/// <summary>The <c>Media</c> section: where ffmpeg and pocketsphinx live and how hard transcription may work.</summary>
internal sealed class MediaSettings
{
    public const string Section = "Media";

    public const string DefaultModelDirectory = "/usr/share/pocketsphinx/model/en-us";

    [Required]
    public string FfmpegPath { get; set; } = "ffmpeg";

    [Required]
    public string FfprobePath { get; set; } = "ffprobe";

    [Required]
    public string PocketsphinxPath { get; set; } = "pocketsphinx_continuous";

    /// <summary>The folder holding Debian's pocketsphinx-en-us model: <c>en-us/</c>, <c>en-us.lm.bin</c>, <c>cmudict-en-us.dict</c>.</summary>
    [Required]
    public string PocketsphinxModelDirectory { get; set; } = DefaultModelDirectory;

    /// <summary>Pocketsphinx processes run at once for one recording; 0 means one per processor.</summary>
    [Range(0, 64)]
    public int TranscriptionParallelism { get; set; }

    /// <summary>The largest upload a transcription service takes in one request (OpenAI's limit is 25 MB).</summary>
    [Range(32_000, 1_000_000_000)]
    public long MaxTranscriptionUploadBytes { get; set; } = 25 * 1024 * 1024;

    /// <summary>The longest one ffmpeg, ffprobe or pocketsphinx run may take before it is stopped.</summary>
    [Duration("00:00:10", "06:00:00")]
    public TimeSpan ProcessTimeout { get; set; } = TimeSpan.FromMinutes(30);

    public int Parallelism => TranscriptionParallelism > 0 ? TranscriptionParallelism : Environment.ProcessorCount;
}

/// <summary>The <c>Transcription</c> section: an OpenAI-compatible transcription service; without a BaseUrl, pocketsphinx transcribes offline.</summary>
internal sealed class TranscriptionSettings : IValidatableObject
{
    public const string Section = "Transcription";

    /// <summary>Such as <c>https://api.openai.com/v1</c> or a faster-whisper-server's <c>http://whisper:8000/v1</c>.</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>Sent as a bearer token; never logged.</summary>
    public string? ApiKey { get; set; }

    [Required]
    public string Model { get; set; } = "whisper-1";

    /// <summary>The longest one upload may take to be answered.</summary>
    [Duration("00:00:05", "02:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);

    public bool UsesService => BaseUrl is not null;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (BaseUrl is not null && (!BaseUrl.IsAbsoluteUri || BaseUrl.Scheme is not ("http" or "https")))
            yield return new ValidationResult("must be an absolute http or https URL", [nameof(BaseUrl)]);
    }
}
