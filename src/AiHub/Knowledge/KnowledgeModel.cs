using AiHub.Data;
using AiHub.Identity;
using AiHub.Knowledge.Ingestion;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Knowledge;

/// <summary>A collection of sources in a workspace that answers can be grounded in and cite.</summary>
internal sealed class KnowledgeBase : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    public required string Name { get; set; }

    public string? Description { get; set; }

    /// <summary><c>provider/model</c> of the embedding model, or null: the knowledge base is searched by its words alone.</summary>
    public string? EmbeddingModel { get; set; }

    /// <summary>Known once the model has embedded something.</summary>
    public int? EmbeddingDimensions { get; set; }

    public Guid CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }
}

internal enum SourceOrigin
{
    Upload,
    Url,
}

/// <summary>Where a source's ingestion stands; the order is the order of the steps.</summary>
internal enum SourceStatus
{
    /// <summary>A multipart upload that has not completed yet.</summary>
    Uploading,
    Pending,
    Extracting,
    Transcribing,
    Chunking,
    Embedding,
    Completed,
    Failed,
}

/// <summary>The steps a source has finished: each records itself here so that a retry or a restart skips it.</summary>
[Flags]
internal enum IngestionSteps
{
    None = 0,
    Fetched = 1,
    Extracted = 2,
    Chunked = 4,
    Embedded = 8,
    Indexed = 16,
}

/// <summary>One document, recording or page in a knowledge base, and how far its ingestion has come.</summary>
internal sealed class KnowledgeSource : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    public Guid KnowledgeBaseId { get; set; }

    public required string Title { get; set; }

    public SourceOrigin Origin { get; init; }

    /// <summary>The name the file was uploaded with (shown and used for downloads, never trusted for its type).</summary>
    public string? FileName { get; set; }

    /// <summary>For an import: the address asked for.</summary>
    public string? Url { get; set; }

    /// <summary>Sniffed from the content; null until the bytes arrived.</summary>
    public SourceFormat? Format { get; set; }

    /// <summary>The media type served on download, derived from <see cref="Format"/>.</summary>
    public string? ContentType { get; set; }

    public long SizeBytes { get; set; }

    public required string BlobKey { get; init; }

    public SourceStatus Status { get; set; }

    /// <summary>0–100 within the whole ingestion.</summary>
    public int Progress { get; set; }

    public IngestionSteps Steps { get; set; }

    public int Attempts { get; set; }

    /// <summary>Why the source failed, or why the last attempt did, in words a user can act on.</summary>
    public string? LastError { get; set; }

    public int? PageCount { get; set; }

    public double? DurationSeconds { get; set; }

    public int ChunkCount { get; set; }

    /// <summary>The model its chunks' vectors came from; differs from the knowledge base's while a re-embed is due.</summary>
    public string? EmbeddedWith { get; set; }

    /// <summary>Whether the storage bytes (and for a video, its place) were counted against the plan.</summary>
    public bool QuotaCounted { get; set; }

    public Guid CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }
}

/// <summary>A piece of a source as it is searched and cited.</summary>
/// <remarks>
/// The id is an integer so that it is SQLite's rowid, which the FTS5 index refers to. The vector (<c>embedding</c>:
/// a float32 blob on SQLite, a pgvector <c>vector</c> on PostgreSQL) and PostgreSQL's <c>search</c> tsvector are
/// columns the migrations add and raw SQL reads and writes: EF has no one type for both.
/// </remarks>
internal sealed class KnowledgeChunk : ITenantOwned
{
    public long Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid KnowledgeBaseId { get; set; }

    public Guid SourceId { get; init; }

    public int Ordinal { get; init; }

    public required string Text { get; set; }

    public int TokenCount { get; set; }

    public int? Page { get; init; }

    public string? HeadingPath { get; init; }

    public double? StartSeconds { get; init; }

    public double? EndSeconds { get; init; }

    public long StartOffset { get; init; }

    public long EndOffset { get; init; }

    public int? FirstSegment { get; init; }

    public int? LastSegment { get; init; }

    /// <summary>The model of the vector in <c>embedding</c>; null when the chunk has none.</summary>
    public string? EmbeddingModel { get; set; }
}

/// <summary>One segment of a recording's transcript, as transcribed or as corrected by hand.</summary>
internal sealed class TranscriptSegmentRow : ITenantOwned
{
    public Guid OrganizationId { get; init; }

    public Guid SourceId { get; init; }

    public int Index { get; init; }

    public double Start { get; init; }

    public double End { get; init; }

    public required string Text { get; set; }

    /// <summary>JSON of the words with their times, when the transcriber gave them; dropped when the text is corrected.</summary>
    public string? Words { get; set; }

    public bool Edited { get; set; }
}

/// <summary>A multipart upload in progress: a client that lost its connection asks which parts arrived and sends the rest.</summary>
internal sealed class UploadSession : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    public Guid KnowledgeBaseId { get; init; }

    /// <summary>The source it becomes; created with the session in status <see cref="SourceStatus.Uploading"/>.</summary>
    public Guid SourceId { get; init; }

    public Guid CreatedBy { get; init; }

    public long SizeBytes { get; init; }

    public long PartBytes { get; init; }

    public required string MultipartId { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }
}

/// <summary>The knowledge base a member has chosen to focus on in a workspace.</summary>
internal sealed class KnowledgeFocus : ITenantOwned
{
    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    public Guid UserId { get; init; }

    public Guid KnowledgeBaseId { get; set; }
}

/// <summary>A question asked of a workspace's knowledge, kept for the creator's insight page.</summary>
internal sealed class KnowledgeQuestion : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    public required string Text { get; init; }

    /// <summary>Lower-cased, whitespace-collapsed: how questions asked alike are counted together.</summary>
    public required string Normalized { get; init; }

    /// <summary>The best fused score; low or none means no good source (a content gap).</summary>
    public double? TopScore { get; init; }

    public bool Answered { get; init; }

    public DateTimeOffset AskedAt { get; init; }
}

/// <summary>A source (and moment or page) that a question's answer cited.</summary>
internal sealed class KnowledgeCitation : ITenantOwned
{
    public long Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid QuestionId { get; init; }

    public Guid SourceId { get; init; }

    public long ChunkId { get; init; }

    public int? Page { get; init; }

    public double? StartSeconds { get; init; }

    public int Rank { get; init; }
}

internal sealed class KnowledgeModelConfiguration :
    IEntityTypeConfiguration<KnowledgeBase>,
    IEntityTypeConfiguration<KnowledgeSource>,
    IEntityTypeConfiguration<KnowledgeChunk>,
    IEntityTypeConfiguration<TranscriptSegmentRow>,
    IEntityTypeConfiguration<UploadSession>,
    IEntityTypeConfiguration<KnowledgeFocus>,
    IEntityTypeConfiguration<KnowledgeQuestion>,
    IEntityTypeConfiguration<KnowledgeCitation>
{
    public const int NameLength = 200;
    public const int DescriptionLength = 2000;
    public const int ModelLength = 200;
    public const int TitleLength = 500;
    public const int UrlLength = 2048;
    public const int ErrorLength = 2000;
    public const int QuestionLength = 2000;

    public void Configure(EntityTypeBuilder<KnowledgeBase> builder)
    {
        builder.ToTable("knowledge_bases");
        builder.Property(k => k.Name).HasMaxLength(NameLength);
        builder.Property(k => k.Description).HasMaxLength(DescriptionLength);
        builder.Property(k => k.EmbeddingModel).HasMaxLength(ModelLength);
        builder.HasIndex(k => new { k.OrganizationId, k.WorkspaceId, k.CreatedAt });
        builder.HasOne<Organization>().WithMany().HasForeignKey(k => k.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Workspace>().WithMany().HasForeignKey(k => k.WorkspaceId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<KnowledgeSource> builder)
    {
        builder.ToTable("knowledge_sources");
        builder.Property(s => s.Title).HasMaxLength(TitleLength);
        builder.Property(s => s.FileName).HasMaxLength(TitleLength);
        builder.Property(s => s.Url).HasMaxLength(UrlLength);
        builder.Property(s => s.Origin).HasConversion<string>().HasMaxLength(16);
        builder.Property(s => s.Format).HasConversion<string>().HasMaxLength(16);
        builder.Property(s => s.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(s => s.ContentType).HasMaxLength(100);
        builder.Property(s => s.BlobKey).HasMaxLength(300);
        builder.Property(s => s.LastError).HasMaxLength(ErrorLength);
        builder.Property(s => s.EmbeddedWith).HasMaxLength(ModelLength);
        builder.HasIndex(s => new { s.OrganizationId, s.KnowledgeBaseId, s.CreatedAt });
        builder.HasIndex(s => new { s.OrganizationId, s.WorkspaceId, s.Status });
        builder.HasOne<Organization>().WithMany().HasForeignKey(s => s.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<KnowledgeBase>().WithMany().HasForeignKey(s => s.KnowledgeBaseId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<KnowledgeChunk> builder)
    {
        builder.ToTable("knowledge_chunks");
        builder.Property(c => c.Id).ValueGeneratedOnAdd();
        builder.Property(c => c.HeadingPath).HasMaxLength(1000);
        builder.Property(c => c.EmbeddingModel).HasMaxLength(ModelLength);
        builder.HasIndex(c => new { c.SourceId, c.Ordinal }).IsUnique();
        builder.HasIndex(c => new { c.OrganizationId, c.KnowledgeBaseId, c.EmbeddingModel });
        builder.HasOne<Organization>().WithMany().HasForeignKey(c => c.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<KnowledgeSource>().WithMany().HasForeignKey(c => c.SourceId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<TranscriptSegmentRow> builder)
    {
        builder.ToTable("transcript_segments");
        builder.HasKey(s => new { s.SourceId, s.Index });
        builder.HasOne<Organization>().WithMany().HasForeignKey(s => s.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<KnowledgeSource>().WithMany().HasForeignKey(s => s.SourceId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<UploadSession> builder)
    {
        builder.ToTable("upload_sessions");
        builder.Property(u => u.MultipartId).HasMaxLength(1024);
        builder.HasIndex(u => u.ExpiresAt);
        builder.HasOne<Organization>().WithMany().HasForeignKey(u => u.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<KnowledgeSource>().WithMany().HasForeignKey(u => u.SourceId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<KnowledgeFocus> builder)
    {
        builder.ToTable("knowledge_focus");
        builder.HasKey(f => new { f.WorkspaceId, f.UserId });
        builder.HasOne<Organization>().WithMany().HasForeignKey(f => f.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Workspace>().WithMany().HasForeignKey(f => f.WorkspaceId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(f => f.UserId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<KnowledgeBase>().WithMany().HasForeignKey(f => f.KnowledgeBaseId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<KnowledgeQuestion> builder)
    {
        builder.ToTable("knowledge_questions");
        builder.Property(q => q.Text).HasMaxLength(QuestionLength);
        builder.Property(q => q.Normalized).HasMaxLength(QuestionLength);
        builder.HasIndex(q => new { q.OrganizationId, q.WorkspaceId, q.AskedAt });
        builder.HasOne<Organization>().WithMany().HasForeignKey(q => q.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Workspace>().WithMany().HasForeignKey(q => q.WorkspaceId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<KnowledgeCitation> builder)
    {
        builder.ToTable("knowledge_citations");
        builder.Property(c => c.Id).ValueGeneratedOnAdd();
        builder.HasIndex(c => new { c.OrganizationId, c.SourceId });
        builder.HasOne<Organization>().WithMany().HasForeignKey(c => c.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<KnowledgeQuestion>().WithMany().HasForeignKey(c => c.QuestionId).OnDelete(DeleteBehavior.Cascade);
        // A citation outlives neither its source nor its chunk: the insight page counts what can still be opened.
        builder.HasOne<KnowledgeSource>().WithMany().HasForeignKey(c => c.SourceId).OnDelete(DeleteBehavior.Cascade);
    }
}
