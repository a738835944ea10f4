using System.Security.Claims;
using AiHub.Chat.Grounding;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Conversations;

/// <param name="KnowledgeBaseIds">The workspace's knowledge bases that ground the answers; none: the member's focused one.</param>
internal sealed record ConversationRequest(string? Title, string? SystemPrompt, string? Model, IReadOnlyList<Guid>? KnowledgeBaseIds = null);

/// <summary>A field left null keeps its value; an empty prompt or model clears it, an empty list of knowledge bases too.</summary>
internal sealed record ConversationPatch(string? Title, string? SystemPrompt, string? Model, bool? Pinned, bool? Archived, IReadOnlyList<Guid>? KnowledgeBaseIds = null);

internal sealed record BranchRequest(Guid? MessageId);

internal sealed record PathResponse(Guid? LeafId, IReadOnlyList<MessageResponse> Messages);

internal sealed record ShareResponse(string Url, string Token);

/// <summary>What a share link shows: the conversation's current path, without its owner's private settings.</summary>
internal sealed record SharedConversationResponse(Guid Id, string Title, string? Model, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? SharedAt, IReadOnlyList<MessageResponse> Messages);

internal static class ConversationEndpoints
{
    public static void MapConversationEndpoints(IEndpointRouteBuilder app)
    {
        var org = OrgEndpoints.Org(app).WithTags("Conversations");
        // Conversations belong to a person: an API key has no user to own them.
        var conversations = org.MapGroup("/workspaces/{wsId:guid}/conversations").RequireAuthorization(OrgPermissions.ChatUse).RequireUser();
        conversations.MapGet("", List).WithSummary("Lists your conversations in the workspace, most recent first.");
        conversations.MapPost("", Create).WithSummary("Starts a conversation, with an optional title, system prompt, model and knowledge bases to ground it.");
        conversations.MapGet("/{id:guid}", Get).WithSummary("A conversation with the messages on its current path.");
        conversations.MapPatch("/{id:guid}", Update).WithSummary("Renames a conversation or changes its system prompt, model or knowledge bases.");
        conversations.MapDelete("/{id:guid}", Delete).WithSummary("Deletes a conversation and its messages.");
        conversations.MapGet("/{id:guid}/messages", Messages).WithSummary("The messages on the path to a leaf (the current one by default), each with its siblings.");
        conversations.MapPost("/{id:guid}/branch", Branch).WithSummary("Makes another branch of the message tree the current path.");
        conversations.MapPost("/{id:guid}/share", Share).WithSummary("Shares a conversation with the organisation's members; returns its link.");
        conversations.MapDelete("/{id:guid}/share", Unshare).WithSummary("Stops sharing a conversation.");
        org.MapGet("/shared-conversations/{token}", Shared).WithSummary("Reads a conversation a member shared.").RequireAuthorization(OrgPermissions.ChatUse).RequireUser();

        org.MapGet("/system-prompt", OrgPrompt).WithSummary("The organisation's system prompt, sent before every conversation's own.").RequireAuthorization(OrgPermissions.OrgManage);
        org.MapPut("/system-prompt", SetOrgPrompt).WithSummary("Sets the organisation's system prompt.").RequireAuthorization(OrgPermissions.OrgManage).RequireUser();
        org.MapGet("/workspaces/{wsId:guid}/system-prompt", WorkspacePrompt).WithSummary("The workspace's system prompt.").RequireAuthorization(OrgPermissions.WorkspacesManage);
        org.MapPut("/workspaces/{wsId:guid}/system-prompt", SetWorkspacePrompt).WithSummary("Sets the workspace's system prompt.").RequireAuthorization(OrgPermissions.WorkspacesManage).RequireUser();
    }

    static async Task<Ok<ConversationPage>> List(Guid orgId, Guid wsId, HttpContext http, ClaimsPrincipal user, AppDbContext db, ConversationQueries queries, CancellationToken ct,
        bool archived = false, string? q = null, DateTimeOffset? before = null, int limit = 50)
    {
        await SystemPrompts.WorkspaceOfAsync(db, http.Grant(), wsId, ct);
        return TypedResults.Ok(await queries.ListAsync(orgId, wsId, user.UserId()!.Value, archived, q, before, limit, ct));
    }

    static async Task<Created<ConversationResponse>> Create(Guid orgId, Guid wsId, ConversationRequest body, HttpContext http, ClaimsPrincipal user, AppDbContext db, ConversationService conversations,
        IEnumerable<IKnowledgeBaseCheck> knowledge, CancellationToken ct)
    {
        await SystemPrompts.WorkspaceOfAsync(db, http.Grant(), wsId, ct);
        var bases = await KnowledgeBaseSelection.RequireAsync(knowledge, orgId, wsId, body.KnowledgeBaseIds, ct);
        var conversation = await conversations.CreateAsync(orgId, wsId, user.UserId()!.Value, body.Title, body.SystemPrompt, body.Model, ct, bases);
        return TypedResults.Created($"/api/orgs/{orgId}/workspaces/{wsId}/conversations/{conversation.Id}", ConversationQueries.Describe(conversation));
    }

    static async Task<Ok<ConversationResponse>> Get(Guid orgId, Guid wsId, Guid id, ClaimsPrincipal user, ConversationService conversations, CancellationToken ct) =>
        TypedResults.Ok(ConversationQueries.Describe(await conversations.FindOwnAsync(orgId, wsId, id, user.UserId()!.Value, ct)));

    static async Task<Ok<ConversationResponse>> Update(Guid orgId, Guid wsId, Guid id, ConversationPatch body, ClaimsPrincipal user, AppDbContext db, ConversationService conversations,
        IEnumerable<IKnowledgeBaseCheck> knowledge, TimeProvider clock, CancellationToken ct)
    {
        var conversation = await conversations.FindOwnAsync(orgId, wsId, id, user.UserId()!.Value, ct);
        var now = clock.GetUtcNow();
        if (await KnowledgeBaseSelection.RequireAsync(knowledge, orgId, wsId, body.KnowledgeBaseIds, ct) is { } bases)
        {
            conversation.KnowledgeBaseIds = bases;
            conversation.UpdatedAt = now;
        }
        if (body.Title is not null)
        {
            conversation.Title = ConversationService.RequireTitle(body.Title);
            conversation.TitleGenerated = true;
        }
        if (body.SystemPrompt is not null)
            conversation.SystemPrompt = ConversationService.OptionalPrompt(body.SystemPrompt);
        if (body.Model is not null)
            conversation.Model = ConversationService.OptionalModel(body.Model);
        if (body.Title is not null || body.SystemPrompt is not null || body.Model is not null)
            conversation.UpdatedAt = now;
        // Pinning and archiving leave UpdatedAt alone: they change where it is listed, not how recent it is.
        if (body.Pinned is { } pinned)
            conversation.PinnedAt = pinned ? conversation.PinnedAt ?? now : null;
        if (body.Archived is { } archived)
            conversation.ArchivedAt = archived ? conversation.ArchivedAt ?? now : null;
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(ConversationQueries.Describe(conversation));
    }

    static async Task<NoContent> Delete(Guid orgId, Guid wsId, Guid id, ClaimsPrincipal user, ConversationService conversations, CancellationToken ct)
    {
        await conversations.DeleteAsync(await conversations.FindOwnAsync(orgId, wsId, id, user.UserId()!.Value, ct), ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<PathResponse>> Messages(Guid orgId, Guid wsId, Guid id, ClaimsPrincipal user, ConversationService conversations, CancellationToken ct, Guid? leaf = null)
    {
        var conversation = await conversations.FindOwnAsync(orgId, wsId, id, user.UserId()!.Value, ct);
        var path = await conversations.PathWithBranchesAsync(conversation, leaf, ct);
        return TypedResults.Ok(new PathResponse(path.Count == 0 ? null : path[^1].Id, path));
    }

    static async Task<Ok<PathResponse>> Branch(Guid orgId, Guid wsId, Guid id, BranchRequest body, ClaimsPrincipal user, ConversationService conversations, CancellationToken ct)
    {
        var conversation = await conversations.FindOwnAsync(orgId, wsId, id, user.UserId()!.Value, ct);
        if (body.MessageId is not { } messageId)
            throw ProblemException.Invalid("messageId", "Name the message whose branch to show.");
        await conversations.SelectBranchAsync(conversation, messageId, ct);
        var path = await conversations.PathWithBranchesAsync(conversation, null, ct);
        return TypedResults.Ok(new PathResponse(conversation.CurrentLeafId, path));
    }

    static async Task<Ok<ShareResponse>> Share(Guid orgId, Guid wsId, Guid id, ClaimsPrincipal user, ConversationService conversations, IOptions<PublicUrlSettings> settings, CancellationToken ct)
    {
        var conversation = await conversations.FindOwnAsync(orgId, wsId, id, user.UserId()!.Value, ct);
        var token = await conversations.ShareAsync(conversation, ct);
        return TypedResults.Ok(new ShareResponse(new Uri(settings.Value.PublicUrl, $"/api/orgs/{orgId}/shared-conversations/{token}").ToString(), token));
    }

    static async Task<NoContent> Unshare(Guid orgId, Guid wsId, Guid id, ClaimsPrincipal user, ConversationService conversations, CancellationToken ct)
    {
        await conversations.UnshareAsync(await conversations.FindOwnAsync(orgId, wsId, id, user.UserId()!.Value, ct), ct);
        return TypedResults.NoContent();
    }

    static async Task<Ok<SharedConversationResponse>> Shared(Guid orgId, string token, ConversationService conversations, CancellationToken ct)
    {
        var c = await conversations.FindSharedAsync(orgId, token, ct);
        var path = await conversations.PathWithBranchesAsync(c, null, ct);
        return TypedResults.Ok(new SharedConversationResponse(c.Id, c.Title, c.Model, c.CreatedAt, c.UpdatedAt, c.SharedAt, path));
    }

    static async Task<Ok<SystemPromptResponse>> OrgPrompt(Guid orgId, SystemPrompts prompts, CancellationToken ct) =>
        TypedResults.Ok(await prompts.OrgAsync(orgId, ct));

    static async Task<Ok<SystemPromptResponse>> SetOrgPrompt(Guid orgId, SystemPromptRequest body, ClaimsPrincipal user, SystemPrompts prompts, CancellationToken ct) =>
        TypedResults.Ok(await prompts.SetOrgAsync(orgId, user.UserId()!.Value, body.Text, ct));

    static async Task<Ok<SystemPromptResponse>> WorkspacePrompt(Guid orgId, Guid wsId, HttpContext http, SystemPrompts prompts, CancellationToken ct) =>
        TypedResults.Ok(await prompts.WorkspaceAsync(http.Grant(), wsId, ct));

    static async Task<Ok<SystemPromptResponse>> SetWorkspacePrompt(Guid orgId, Guid wsId, SystemPromptRequest body, HttpContext http, ClaimsPrincipal user, SystemPrompts prompts, CancellationToken ct) =>
        TypedResults.Ok(await prompts.SetWorkspaceAsync(http.Grant(), user.UserId()!.Value, wsId, body.Text, ct));
}
