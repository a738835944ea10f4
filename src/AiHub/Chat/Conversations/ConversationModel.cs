using AiHub.Data;
using AiHub.Identity;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Chat.Conversations;

/// <summary>One chat of one user inside a workspace; private to its owner, readable by others only through a share link.</summary>
internal sealed class Conversation : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid WorkspaceId { get; init; }

    public Guid OwnerId { get; init; }

    public required string Title { get; set; }

    /// <summary>False until a title was generated or set by the user; an automatic title never replaces a set one.</summary>
    public bool TitleGenerated { get; set; }

    /// <summary>The conversation's own layer, sent after the org's and the workspace's.</summary>
    public string? SystemPrompt { get; set; }

    /// <summary>The model last chosen here.</summary>
    public string? Model { get; set; }

    /// <summary>The knowledge bases that ground its answers; empty: the member's focused knowledge base, if any.</summary>
    public List<Guid> KnowledgeBaseIds { get; set; } = [];

    public DateTimeOffset? PinnedAt { get; set; }

    public DateTimeOffset? ArchivedAt { get; set; }

    /// <summary>The hash of the read-only link's token; the token itself is shown once and never stored.</summary>
    public string? ShareTokenHash { get; set; }

    public DateTimeOffset? SharedAt { get; set; }

    /// <summary>The message whose path from its root is shown and sent to the model.</summary>
    public Guid? CurrentLeafId { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }
}

internal enum MessageRole
{
    User,
    Assistant,
    System,
    Tool,
}

internal enum MessageStatus
{
    Complete,
    Streaming,
    Incomplete,
    Cancelled,
    Failed,
}

/// <summary>A tool the model called while answering, with what it returned.</summary>
internal sealed record ToolCallRecord(string CallId, string Name, string Arguments, string? Result);

/// <summary>One message of a conversation's tree: an edit or a regeneration is a sibling, so no answer is ever overwritten.</summary>
/// <remarks>Named apart from Microsoft.Extensions.AI's ChatMessage, which the engine builds from these.</remarks>
internal sealed class StoredMessage : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid ConversationId { get; init; }

    /// <summary>Null for a root.</summary>
    public Guid? ParentId { get; init; }

    public MessageRole Role { get; init; }

    public required string Content { get; set; }

    public MessageStatus Status { get; set; }

    public string? Provider { get; set; }

    public string? Model { get; set; }

    public string? FinishReason { get; set; }

    public long? InputTokens { get; set; }

    public long? OutputTokens { get; set; }

    public long? EstimatedInputTokens { get; set; }

    public long? EstimatedOutputTokens { get; set; }

    /// <summary>Whether the token counts are the provider's own rather than the tokenizer's estimate.</summary>
    public bool UsageReported { get; set; }

    /// <remarks>Integer micro-credits, as everywhere in money.</remarks>
    public long CostMicros { get; set; }

    /// <summary>JSON: a list of <see cref="ToolCallRecord"/>.</summary>
    public string? ToolCalls { get; set; }

    /// <summary>JSON of the ProblemDetails that ended the answer, when it did not complete.</summary>
    public string? Error { get; set; }

    /// <summary>JSON: the numbered sources the answer cites, as the citation events sent them.</summary>
    public string? Citations { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? CompletedAt { get; set; }
}

/// <summary>The org's layer of the system prompt; the workspace's is <see cref="Workspace.SystemPrompt"/>.</summary>
internal sealed class OrgSystemPrompt : ITenantOwned
{
    public Guid OrganizationId { get; init; }

    public required string Text { get; set; }

    public Guid UpdatedBy { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

internal sealed class ConversationModelConfiguration :
    IEntityTypeConfiguration<Conversation>,
    IEntityTypeConfiguration<StoredMessage>,
    IEntityTypeConfiguration<OrgSystemPrompt>,
    IPostgresModelConfiguration
{
    public const int TitleLength = 200;
    public const int ModelLength = 200;
    public const int SystemPromptLength = 20_000;
    public const int ContentLength = 100_000;

    public void Configure(EntityTypeBuilder<Conversation> builder)
    {
        builder.ToTable("conversations");
        builder.Property(c => c.Title).HasMaxLength(TitleLength);
        builder.Property(c => c.SystemPrompt).HasMaxLength(SystemPromptLength);
        builder.Property(c => c.Model).HasMaxLength(ModelLength);
        builder.Property(c => c.ShareTokenHash).HasMaxLength(64);
        builder.HasIndex(c => new { c.OrganizationId, c.WorkspaceId, c.OwnerId, c.UpdatedAt });
        builder.HasIndex(c => c.ShareTokenHash).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(c => c.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<Workspace>().WithMany().HasForeignKey(c => c.WorkspaceId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(c => c.OwnerId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<StoredMessage> builder)
    {
        builder.ToTable("chat_messages");
        builder.Property(m => m.Role).HasConversion<string>().HasMaxLength(16);
        builder.Property(m => m.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(m => m.Provider).HasMaxLength(64);
        builder.Property(m => m.Model).HasMaxLength(ModelLength);
        builder.Property(m => m.FinishReason).HasMaxLength(64);
        builder.HasIndex(m => new { m.ConversationId, m.ParentId, m.CreatedAt });
        builder.HasOne<Conversation>().WithMany().HasForeignKey(m => m.ConversationId).OnDelete(DeleteBehavior.Cascade);
        // No cascade between messages: deleting the conversation removes the whole tree in one statement.
        builder.HasOne<StoredMessage>().WithMany().HasForeignKey(m => m.ParentId).OnDelete(DeleteBehavior.NoAction);
    }

    public void Configure(EntityTypeBuilder<OrgSystemPrompt> builder)
    {
        builder.ToTable("system_prompts");
        builder.HasKey(p => p.OrganizationId);
        builder.Property(p => p.Text).HasMaxLength(SystemPromptLength);
        builder.HasOne<Organization>().WithMany().HasForeignKey(p => p.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    /// <summary>GIN indexes for <c>to_tsvector('simple', …)</c> over titles and contents, which search matches with <c>websearch_to_tsquery</c>.</summary>
    public void ConfigurePostgres(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Conversation>().HasIndex(c => c.Title, "ix_conversations_title_fts").HasMethod("GIN").IsTsVectorExpressionIndex("simple");
        modelBuilder.Entity<StoredMessage>().HasIndex(m => m.Content, "ix_chat_messages_content_fts").HasMethod("GIN").IsTsVectorExpressionIndex("simple");
    }
}
