using System.Security.Cryptography;
using System.Text.Json;
using AiHub.Chat.Grounding;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.Chat.Conversations;

/// <summary>How an assistant message ended, as the engine saw it.</summary>
internal sealed record AnswerOutcome(
    string Content,
    MessageStatus Status,
    string? Provider,
    string? Model,
    string? FinishReason,
    long? InputTokens,
    long? OutputTokens,
    long EstimatedInputTokens,
    long EstimatedOutputTokens,
    bool UsageReported,
    long CostMicros,
    IReadOnlyList<ToolCallRecord>? ToolCalls,
    string? ErrorJson,
    IReadOnlyList<ChatCitation>? Citations = null)
{
    /// <summary>Stopped before it finished: what arrived is kept, without usage (the engine's settlement, if any, is in the usage record).</summary>
    public static AnswerOutcome Cancelled(string content, string? provider, string? model, IReadOnlyList<ToolCallRecord>? toolCalls, IReadOnlyList<ChatCitation>? citations = null) =>
        new(content, MessageStatus.Cancelled, provider, model, null, null, null, 0, 0, false, 0, toolCalls is { Count: > 0 } ? toolCalls : null, null,
            citations is { Count: > 0 } ? citations : null);
}

/// <summary>A message on a path, with its siblings so that a UI can page between branches ("2 / 3").</summary>
internal sealed record MessageResponse(
    Guid Id,
    Guid? ParentId,
    MessageRole Role,
    string Content,
    MessageStatus Status,
    string? Provider,
    string? Model,
    string? FinishReason,
    long? InputTokens,
    long? OutputTokens,
    bool UsageReported,
    long CostMicros,
    IReadOnlyList<ToolCallRecord>? ToolCalls,
    JsonElement? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt,
    IReadOnlyList<Guid> SiblingIds,
    int SiblingIndex,
    IReadOnlyList<ChatCitation>? Citations = null);

/// <summary>
/// The conversation store: conversations of one owner in one workspace, and their message trees. The engine reads
/// paths and writes messages through it; the API adds listing, search, sharing and the rest.
/// </summary>
/// <remarks>Every fetch names (org, workspace, id, owner): another user's conversation is simply not found.</remarks>
internal sealed class ConversationService(AppDbContext db, TimeProvider clock)
{
    public const string DefaultTitle = "New conversation";

    public async Task<Conversation> FindOwnAsync(Guid orgId, Guid workspaceId, Guid id, Guid userId, CancellationToken ct) =>
        await db.Set<Conversation>().FirstOrDefaultAsync(c => c.OrganizationId == orgId && c.WorkspaceId == workspaceId && c.Id == id && c.OwnerId == userId, ct)
        ?? throw NotFound($"There is no conversation {id} of yours in this workspace.");

    public async Task<Conversation> CreateAsync(Guid orgId, Guid workspaceId, Guid userId, string? title, string? systemPrompt, string? model, CancellationToken ct,
        List<Guid>? knowledgeBaseIds = null)
    {
        var now = clock.GetUtcNow();
        var conversation = new Conversation
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = orgId,
            WorkspaceId = workspaceId,
            OwnerId = userId,
            Title = DefaultTitle,
            CreatedAt = now,
            UpdatedAt = now,
            KnowledgeBaseIds = knowledgeBaseIds ?? [],
        };
        if (title is not null)
        {
            conversation.Title = RequireTitle(title);
            conversation.TitleGenerated = true;
        }
        conversation.SystemPrompt = OptionalPrompt(systemPrompt);
        conversation.Model = OptionalModel(model);
        db.Add(conversation);
        await db.SaveChangesAsync(ct);
        return conversation;
    }

    /// <summary>Root to leaf; <paramref name="leafId"/> null means the conversation's current leaf (empty when it has none).</summary>
    public async Task<IReadOnlyList<StoredMessage>> PathAsync(Conversation c, Guid? leafId, CancellationToken ct) =>
        Walk(await TreeAsync(c, ct), leafId ?? c.CurrentLeafId, c.Id);

    /// <summary>The path with each message's siblings, for a UI's branch arrows.</summary>
    public async Task<IReadOnlyList<MessageResponse>> PathWithBranchesAsync(Conversation c, Guid? leafId, CancellationToken ct)
    {
        var tree = await TreeAsync(c, ct);
        var path = Walk(tree, leafId ?? c.CurrentLeafId, c.Id);
        var siblings = tree.Values.GroupBy(m => m.ParentId ?? Guid.Empty)
            .ToDictionary(g => g.Key, g => g.OrderBy(m => m.CreatedAt).ThenBy(m => m.Id).Select(m => m.Id).ToList());
        return path.Select(m =>
        {
            var ids = siblings[m.ParentId ?? Guid.Empty];
            return Describe(m, ids, ids.IndexOf(m.Id));
        }).ToList();
    }

    /// <summary>
    /// A user message: under <paramref name="parentId"/> (an assistant message of this conversation), or with null under
    /// the current leaf (a root in an empty conversation). It becomes the current leaf.
    /// </summary>
    /// <remarks>Editing a user message is a sibling of it: see <see cref="EditUserMessageAsync"/>, which also covers a root.</remarks>
    public async Task<StoredMessage> AddUserMessageAsync(Conversation c, Guid? parentId, string content, CancellationToken ct)
    {
        if (parentId is { } id)
        {
            var parent = await MessageAsync(c, id, ct);
            if (parent.Role != MessageRole.Assistant)
                throw ProblemException.Invalid("parentId", "A user message follows an assistant message.");
        }
        return await AddUserAsync(c, parentId ?? c.CurrentLeafId, content, ct);
    }

    /// <summary>A new version of user message <paramref name="messageId"/>: a sibling under the same parent, on a branch of its own.</summary>
    public async Task<StoredMessage> EditUserMessageAsync(Conversation c, Guid messageId, string content, CancellationToken ct)
    {
        var original = await MessageAsync(c, messageId, ct);
        if (original.Role != MessageRole.User)
            throw ProblemException.Invalid("messageId", "Only a user message can be edited.");
        return await AddUserAsync(c, original.ParentId, content, ct);
    }

    /// <summary>An empty, streaming answer to user message <paramref name="parentId"/>; another one under the same parent is a regeneration.</summary>
    public async Task<StoredMessage> StartAssistantAsync(Conversation c, Guid parentId, CancellationToken ct)
    {
        var parent = await MessageAsync(c, parentId, ct);
        if (parent.Role != MessageRole.User)
            throw ProblemException.Invalid("parentId", "An answer follows a user message.");
        return await AppendAsync(c, parentId, MessageRole.Assistant, "", MessageStatus.Streaming, ct);
    }

    /// <summary>Records how a streaming answer ended; an answer that already ended is left as it is.</summary>
    /// <remarks>Takes ids, not entities: the engine may finish from a scope other than the one that started the answer.</remarks>
    public async Task FinishAssistantAsync(Guid orgId, Guid messageId, AnswerOutcome outcome, CancellationToken ct)
    {
        var message = await db.Set<StoredMessage>().FirstOrDefaultAsync(m => m.OrganizationId == orgId && m.Id == messageId, ct)
            ?? throw NotFound($"There is no message {messageId} in this organisation.");
        if (message.Role != MessageRole.Assistant)
            throw new InvalidOperationException($"Message {messageId} is not an assistant message.");
        // A cancel racing the stream's own end must not overwrite the outcome recorded first.
        if (message.Status != MessageStatus.Streaming)
            return;
        if (outcome.Status == MessageStatus.Streaming)
            throw new ArgumentException("A finished answer cannot still be streaming.", nameof(outcome));
        var now = clock.GetUtcNow();
        message.Content = outcome.Content;
        message.Status = outcome.Status;
        message.Provider = outcome.Provider;
        message.Model = outcome.Model;
        message.FinishReason = outcome.FinishReason;
        message.InputTokens = outcome.InputTokens;
        message.OutputTokens = outcome.OutputTokens;
        message.EstimatedInputTokens = outcome.EstimatedInputTokens;
        message.EstimatedOutputTokens = outcome.EstimatedOutputTokens;
        message.UsageReported = outcome.UsageReported;
        message.CostMicros = outcome.CostMicros;
        message.ToolCalls = outcome.ToolCalls is { Count: > 0 } calls ? JsonSerializer.Serialize(calls, JsonSerializerOptions.Web) : null;
        message.Error = outcome.ErrorJson;
        message.Citations = outcome.Citations is { Count: > 0 } cited ? JsonSerializer.Serialize(cited, JsonSerializerOptions.Web) : null;
        message.CompletedAt = now;
        var conversation = await db.Set<Conversation>().FirstAsync(c => c.OrganizationId == orgId && c.Id == message.ConversationId, ct);
        conversation.UpdatedAt = now;
        await db.SaveChangesAsync(ct);
    }

    /// <summary>An automatic title; false when the conversation already has one (generated, or set by its owner).</summary>
    /// <remarks>One conditional update, so a rename that lands while the title is generated wins.</remarks>
    public async Task<bool> SetGeneratedTitleAsync(Guid orgId, Guid conversationId, string title, CancellationToken ct)
    {
        var text = title.Trim().Trim('"').Trim();
        if (text.Length == 0)
            return false;
        if (text.Length > ConversationModelConfiguration.TitleLength)
            text = text[..(ConversationModelConfiguration.TitleLength - 1)] + "…";
        return await db.Set<Conversation>()
            .Where(c => c.OrganizationId == orgId && c.Id == conversationId && !c.TitleGenerated)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.Title, text).SetProperty(c => c.TitleGenerated, true), ct) == 1;
    }

    /// <summary>The org's, the workspace's and the conversation's prompts, in that order, blank-line separated; null when none is set.</summary>
    public async Task<string?> SystemPromptAsync(Conversation c, CancellationToken ct)
    {
        var org = await db.Set<OrgSystemPrompt>().AsNoTracking().Where(p => p.OrganizationId == c.OrganizationId).Select(p => p.Text).FirstOrDefaultAsync(ct);
        var workspace = await db.Workspaces.AsNoTracking().Where(w => w.OrganizationId == c.OrganizationId && w.Id == c.WorkspaceId).Select(w => w.SystemPrompt).FirstOrDefaultAsync(ct);
        var layers = new[] { org, workspace, c.SystemPrompt }.Where(p => !string.IsNullOrWhiteSpace(p)).ToList();
        return layers.Count == 0 ? null : string.Join("\n\n", layers);
    }

    /// <summary>Shows the branch through <paramref name="messageId"/>: the current leaf becomes the most recent leaf below it (itself when it has no children).</summary>
    public async Task SelectBranchAsync(Conversation c, Guid messageId, CancellationToken ct)
    {
        var tree = await TreeAsync(c, ct);
        if (!tree.TryGetValue(messageId, out var start))
            throw NotFound($"There is no message {messageId} in this conversation.");
        var children = tree.Values.Where(m => m.ParentId is not null).ToLookup(m => m.ParentId!.Value);
        var leaves = new List<StoredMessage>();
        var pending = new Stack<StoredMessage>([start]);
        while (pending.TryPop(out var m))
        {
            if (!children[m.Id].Any())
                leaves.Add(m);
            foreach (var child in children[m.Id])
                pending.Push(child);
        }
        c.CurrentLeafId = leaves.MaxBy(m => (m.CreatedAt, m.Id))!.Id;
        c.UpdatedAt = clock.GetUtcNow();
        await db.SaveChangesAsync(ct);
    }

    /// <summary>A new read-only link; only its hash is kept, and sharing again replaces the previous link.</summary>
    public async Task<string> ShareAsync(Conversation c, CancellationToken ct)
    {
        var token = "shr_" + Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        c.ShareTokenHash = Sessions.Hash(token);
        c.SharedAt = clock.GetUtcNow();
        await db.SaveChangesAsync(ct);
        return token;
    }

    public async Task UnshareAsync(Conversation c, CancellationToken ct)
    {
        c.ShareTokenHash = null;
        c.SharedAt = null;
        await db.SaveChangesAsync(ct);
    }

    /// <summary>The conversation a share link opens, in this org; a revoked or replaced link is not found.</summary>
    public async Task<Conversation> FindSharedAsync(Guid orgId, string token, CancellationToken ct)
    {
        var hash = token.StartsWith("shr_", StringComparison.Ordinal) && token.Length < 100 ? Sessions.Hash(token) : null;
        return (hash is null ? null : await db.Set<Conversation>().AsNoTracking().FirstOrDefaultAsync(c => c.OrganizationId == orgId && c.ShareTokenHash == hash, ct))
            ?? throw NotFound("This link does not open a conversation: it was revoked, replaced, or belongs to another organisation.");
    }

    /// <summary>The conversation and its messages go together; the database removes the messages with it.</summary>
    public async Task DeleteAsync(Conversation c, CancellationToken ct)
    {
        db.Remove(c);
        await db.SaveChangesAsync(ct);
    }

    public static string RequireTitle(string? title)
    {
        var trimmed = title?.Trim();
        if (string.IsNullOrEmpty(trimmed) || trimmed.Length > ConversationModelConfiguration.TitleLength)
            throw ProblemException.Invalid("title", $"Give a title of 1 to {ConversationModelConfiguration.TitleLength} characters.");
        return trimmed;
    }

    /// <summary>Empty clears the prompt.</summary>
    public static string? OptionalPrompt(string? prompt, string field = "systemPrompt")
    {
        if (prompt is { Length: > ConversationModelConfiguration.SystemPromptLength })
            throw ProblemException.Invalid(field, $"The system prompt can be at most {ConversationModelConfiguration.SystemPromptLength:N0} characters.");
        return prompt?.Trim() is { Length: > 0 } p ? p : null;
    }

    /// <summary>Empty clears the model.</summary>
    public static string? OptionalModel(string? model)
    {
        if (model is { Length: > ConversationModelConfiguration.ModelLength })
            throw ProblemException.Invalid("model", $"The model name can be at most {ConversationModelConfiguration.ModelLength} characters.");
        return model?.Trim() is { Length: > 0 } m ? m : null;
    }

    public static MessageResponse Describe(StoredMessage m, IReadOnlyList<Guid> siblingIds, int siblingIndex) => new(
        m.Id, m.ParentId, m.Role, m.Content, m.Status, m.Provider, m.Model, m.FinishReason,
        m.InputTokens, m.OutputTokens, m.UsageReported, m.CostMicros,
        m.ToolCalls is null ? null : JsonSerializer.Deserialize<List<ToolCallRecord>>(m.ToolCalls, JsonSerializerOptions.Web),
        m.Error is null ? null : JsonDocument.Parse(m.Error).RootElement.Clone(),
        m.CreatedAt, m.CompletedAt, siblingIds, siblingIndex,
        m.Citations is null ? null : JsonSerializer.Deserialize<List<ChatCitation>>(m.Citations, JsonSerializerOptions.Web));

    /// <summary>A question's text, trimmed; 400 when it is empty or too long.</summary>
    public static string RequireContent(string? content)
    {
        var trimmed = content?.Trim();
        if (string.IsNullOrEmpty(trimmed))
            throw ProblemException.Invalid("content", "Write a message.");
        if (trimmed.Length > ConversationModelConfiguration.ContentLength)
            throw ProblemException.Invalid("content", $"A message can be at most {ConversationModelConfiguration.ContentLength:N0} characters.");
        return trimmed;
    }

    /// <summary>The model a new answer uses when the request names none: the conversation's last, else the workspace's default.</summary>
    public async Task<string?> ModelAsync(Conversation c, CancellationToken ct) =>
        c.Model ?? await db.Workspaces.AsNoTracking().Where(w => w.OrganizationId == c.OrganizationId && w.Id == c.WorkspaceId).Select(w => w.DefaultModel).FirstOrDefaultAsync(ct);

    Task<StoredMessage> AddUserAsync(Conversation c, Guid? parentId, string content, CancellationToken ct) =>
        AppendAsync(c, parentId, MessageRole.User, RequireContent(content), MessageStatus.Complete, ct);

    /// <summary>A new message under <paramref name="parentId"/>, which becomes the current leaf.</summary>
    async Task<StoredMessage> AppendAsync(Conversation c, Guid? parentId, MessageRole role, string content, MessageStatus status, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var message = new StoredMessage
        {
            Id = Guid.CreateVersion7(now),
            OrganizationId = c.OrganizationId,
            ConversationId = c.Id,
            ParentId = parentId,
            Role = role,
            Content = content,
            Status = status,
            CreatedAt = now,
            CompletedAt = status == MessageStatus.Streaming ? null : now,
        };
        db.Add(message);
        c.CurrentLeafId = message.Id;
        c.UpdatedAt = now;
        await db.SaveChangesAsync(ct);
        return message;
    }

    public async Task<StoredMessage> MessageAsync(Conversation c, Guid id, CancellationToken ct) =>
        await db.Set<StoredMessage>().AsNoTracking().FirstOrDefaultAsync(m => m.OrganizationId == c.OrganizationId && m.ConversationId == c.Id && m.Id == id, ct)
        ?? throw NotFound($"There is no message {id} in this conversation.");

    async Task<Dictionary<Guid, StoredMessage>> TreeAsync(Conversation c, CancellationToken ct) =>
        await db.Set<StoredMessage>().AsNoTracking()
            .Where(m => m.OrganizationId == c.OrganizationId && m.ConversationId == c.Id)
            .ToDictionaryAsync(m => m.Id, ct);

    static List<StoredMessage> Walk(Dictionary<Guid, StoredMessage> tree, Guid? leafId, Guid conversationId)
    {
        var path = new List<StoredMessage>();
        if (leafId is not { } id)
            return path;
        if (!tree.TryGetValue(id, out var message))
            throw NotFound($"There is no message {id} in conversation {conversationId}.");
        for (StoredMessage? m = message; m is not null; m = m.ParentId is { } p ? tree.GetValueOrDefault(p) : null)
            path.Add(m);
        path.Reverse();
        return path;
    }

    static ProblemException NotFound(string detail) =>
        new(StatusCodes.Status404NotFound, "No such conversation or message.", detail, ProblemTypes.NotFound);
}
