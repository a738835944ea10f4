using System.Text.Json.Serialization;
using AiHub.Data;
using AiHub.Infrastructure.Json;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Generation;

internal enum GenerationKind
{
    Image,
    Video,
}

/// <summary>A job's state; written <c>queued</c>, <c>in_progress</c>, <c>completed</c>, <c>failed</c>, <c>cancelled</c>, as OpenAI writes a video's.</summary>
internal enum GenerationStatus
{
    Queued,

    [JsonStringEnumMemberName("in_progress")]
    InProgress,
    Completed,
    Failed,
    Cancelled,
}

/// <summary>
/// One generation: what was asked (model, prompt, settings), where the provider's job stands, what it holds and cost,
/// and its outputs. A durable work item drives it; every step is safe to repeat after a restart.
/// </summary>
internal sealed class GenerationJob : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    /// <summary>Who asked: the member, or the creator of the API key that asked.</summary>
    public Guid UserId { get; init; }

    public Guid? ApiKeyId { get; init; }

    /// <summary>The surface it came through when not the app or the API (mcp); kept on its usage record.</summary>
    public string? Channel { get; init; }

    public string? ClientId { get; init; }

    public GenerationKind Kind { get; init; }

    /// <summary>The deployment provider's name (lower case), as in <c>Providers:N:Name</c>.</summary>
    public required string Provider { get; init; }

    public required string Model { get; init; }

    public required string Prompt { get; init; }

    /// <summary>Width x height, such as <c>1280x720</c>.</summary>
    public required string Size { get; init; }

    /// <summary>A video's length as asked.</summary>
    public int? Seconds { get; init; }

    /// <summary>An image model's quality (low, medium, high; standard, hd), when it has one.</summary>
    public string? Quality { get; init; }

    /// <summary>How many images were asked for; 1 for a video.</summary>
    public int Count { get; init; }

    /// <summary>The reference image stored with the job (an upload, or a copy of an earlier output).</summary>
    public string? InputBlobKey { get; init; }

    public string? InputContentType { get; init; }

    /// <summary>The earlier generation whose output is the input image, when one is.</summary>
    public Guid? InputGenerationId { get; init; }

    /// <summary>The video this one remixes.</summary>
    public Guid? RemixOfId { get; init; }

    public GenerationStatus Status { get; set; }

    /// <summary>0 to 100, as the provider reports it.</summary>
    public int Progress { get; set; }

    /// <summary>Why it failed, in words a person can act on (the provider's moderation reason included).</summary>
    public string? Error { get; set; }

    /// <summary>A stable code for <see cref="Error"/>: <see cref="GenerationErrors"/>.</summary>
    public string? ErrorCode { get; set; }

    /// <summary>The provider's id of its job (a video); saved before polling, so a restart resumes rather than asks again.</summary>
    public string? ProviderJobId { get; set; }

    /// <summary>The ledger hold of the worst case, taken at submit; settled on completion, voided on failure or cancel.</summary>
    public Guid? HoldId { get; set; }

    public long HeldMicros { get; set; }

    /// <summary>What was charged: set once, when the hold is settled.</summary>
    public long CostMicros { get; set; }

    /// <summary>Where a signed POST goes when the job ends; checked by the outbound policy.</summary>
    public string? CallbackUrl { get; init; }

    /// <summary>The callback's signing secret, protected with Data Protection.</summary>
    public string? CallbackSecretProtected { get; init; }

    public DateTimeOffset? CallbackSentAt { get; set; }

    /// <summary>The bytes its outputs (and input image) take, counted against the plan's storage.</summary>
    public long StorageBytes { get; set; }

    public bool QuotaCounted { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }

    /// <summary>When the provider was first asked; the job's time limit counts from here.</summary>
    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }

    public bool IsFinished => Status is GenerationStatus.Completed or GenerationStatus.Failed or GenerationStatus.Cancelled;
}

/// <summary>One file a generation produced, kept in the blob store with its thumbnail.</summary>
internal sealed class GenerationOutput : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid JobId { get; init; }

    public int Index { get; init; }

    public required string BlobKey { get; init; }

    public required string ContentType { get; init; }

    public long SizeBytes { get; init; }

    public int? Width { get; init; }

    public int? Height { get; init; }

    public double? DurationSeconds { get; init; }

    /// <summary>A small JPEG (a video's poster frame); null when ffmpeg could not make one.</summary>
    public string? ThumbnailBlobKey { get; init; }

    public long ThumbnailBytes { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal static class GenerationStatuses
{
    public static string Name(GenerationStatus status) => status == GenerationStatus.InProgress ? "in_progress" : ApiJson.Name(status);

    public static GenerationStatus? Parse(string? name) =>
        Enum.GetValues<GenerationStatus>().Select(s => (GenerationStatus?)s).FirstOrDefault(s => Name(s!.Value) == name?.Trim().ToLowerInvariant());
}

/// <summary>The codes of <see cref="GenerationJob.ErrorCode"/>.</summary>
internal static class GenerationErrors
{
    /// <summary>The provider's moderation refused the prompt or the input; nothing is charged.</summary>
    public const string Refused = "refused";

    /// <summary>The provider failed the job, or could not be reached after retries; nothing is charged.</summary>
    public const string ProviderFailed = "provider_failed";

    /// <summary>The job ran past <c>Generation:MaxJobDuration</c>; nothing is charged.</summary>
    public const string TimedOut = "timed_out";

    /// <summary>The outputs do not fit the plan's storage; nothing is charged.</summary>
    public const string StorageFull = "storage_full";
}

/// <summary>Where a generation's files live in the blob store.</summary>
internal static class GenerationBlobs
{
    public static string Prefix(Guid orgId, Guid jobId) => $"orgs/{orgId:N}/generations/{jobId:N}/";

    public static string Input(Guid orgId, Guid jobId) => Prefix(orgId, jobId) + "input";

    public static string Output(Guid orgId, Guid jobId, int index, string extension) => Prefix(orgId, jobId) + $"output-{index}.{extension}";

    public static string Thumbnail(Guid orgId, Guid jobId, int index) => Prefix(orgId, jobId) + $"thumb-{index}.jpg";
}

internal sealed class GenerationModelConfiguration : IEntityTypeConfiguration<GenerationJob>, IEntityTypeConfiguration<GenerationOutput>
{
    public const int PromptLength = 32_000;
    public const int ErrorLength = 2000;
    public const int UrlLength = 2000;

    public void Configure(EntityTypeBuilder<GenerationJob> builder)
    {
        builder.ToTable("generation_jobs", t =>
        {
            t.HasCheckConstraint("ck_generation_jobs_progress", "progress BETWEEN 0 AND 100");
            t.HasCheckConstraint("ck_generation_jobs_count", "count BETWEEN 1 AND 10");
        });
        builder.Property(j => j.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(j => j.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(j => j.Provider).HasMaxLength(64);
        builder.Property(j => j.Model).HasMaxLength(128);
        builder.Property(j => j.Prompt).HasMaxLength(PromptLength);
        builder.Property(j => j.Size).HasMaxLength(32);
        builder.Property(j => j.Quality).HasMaxLength(32);
        builder.Property(j => j.Channel).HasMaxLength(16);
        builder.Property(j => j.ClientId).HasMaxLength(100);
        builder.Property(j => j.InputBlobKey).HasMaxLength(300);
        builder.Property(j => j.InputContentType).HasMaxLength(100);
        builder.Property(j => j.Error).HasMaxLength(ErrorLength);
        builder.Property(j => j.ErrorCode).HasMaxLength(32);
        builder.Property(j => j.ProviderJobId).HasMaxLength(200);
        builder.Property(j => j.CallbackUrl).HasMaxLength(UrlLength);
        builder.Property(j => j.CallbackSecretProtected).HasMaxLength(1000);
        builder.HasIndex(j => new { j.OrganizationId, j.WorkspaceId, j.CreatedAt });
        builder.HasIndex(j => new { j.OrganizationId, j.Status });
        builder.HasOne<Organization>().WithMany().HasForeignKey(j => j.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Workspace>().WithMany().HasForeignKey(j => j.WorkspaceId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<GenerationOutput> builder)
    {
        builder.ToTable("generation_outputs");
        builder.Property(o => o.BlobKey).HasMaxLength(300);
        builder.Property(o => o.ThumbnailBlobKey).HasMaxLength(300);
        builder.Property(o => o.ContentType).HasMaxLength(100);
        builder.HasIndex(o => new { o.JobId, o.Index }).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(o => o.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<GenerationJob>().WithMany().HasForeignKey(o => o.JobId).OnDelete(DeleteBehavior.Cascade);
    }
}
