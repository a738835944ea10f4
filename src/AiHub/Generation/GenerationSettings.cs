using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Generation;

/// <summary>The <c>Generation</c> section: how long jobs may run, how often they are polled, and size limits.</summary>
internal sealed class GenerationSettings
{
    public const string Section = "Generation";

    /// <summary>A job still unfinished this long after the provider was first asked fails as timed out, and nothing is charged.</summary>
    [Duration("00:00:01", "2.00:00:00")]
    public TimeSpan MaxJobDuration { get; set; } = TimeSpan.FromHours(2);

    /// <summary>The first wait between two polls of a provider's job; it doubles up to <see cref="MaxPollInterval"/>.</summary>
    [Duration("00:00:00.010", "00:10:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    [Duration("00:00:00.010", "00:10:00")]
    public TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>One provider request (an image call answers only when the image is made, which can take a minute or two).</summary>
    [Duration("00:00:01", "00:30:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Transport failures in a row (a 5xx, a reset) a job survives before it fails.</summary>
    [Range(0, 100)]
    public int MaxTransientFailures { get; set; } = 8;

    /// <summary>The largest output file kept (a video); a larger one fails the job.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxOutputBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>The largest reference image accepted.</summary>
    [Range(1024, 1024L * 1024 * 1024)]
    public long MaxInputImageBytes { get; set; } = 25L * 1024 * 1024;

    /// <summary>How long a callback POST may take before it counts as failed (and is retried).</summary>
    [Duration("00:00:01", "00:05:00")]
    public TimeSpan CallbackTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Prices of generation models the shipped list does not price (a local image model), or other prices than it has.</summary>
    public List<GenerationPriceSetting> Prices { get; set; } = [];
}

/// <summary>
/// <c>Generation:Prices:N</c>: credits per image (by size and quality) or per second of video (by size) of a model.
/// Size and quality may be omitted: the price then holds for every size or quality of the model.
/// </summary>
internal sealed class GenerationPriceSetting
{
    /// <summary>The provider's name; any provider serving the model when omitted.</summary>
    public string? Provider { get; set; }

    public string? Model { get; set; }

    public string? Size { get; set; }

    public string? Quality { get; set; }

    /// <summary>Credits per image, or per second of video.</summary>
    public decimal? Credits { get; set; }
}
