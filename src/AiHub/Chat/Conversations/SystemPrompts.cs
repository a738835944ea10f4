using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Chat.Conversations;

internal sealed record SystemPromptRequest(string? Text);

internal sealed record SystemPromptResponse(string? Text, Guid? UpdatedBy, DateTimeOffset? UpdatedAt);

/// <summary>The org's and the workspace's layers of the system prompt; the conversation's is set on the conversation.</summary>
/// <remarks>The workspace layer is the workspace's own <see cref="Workspace.SystemPrompt"/>, so the workspace API and this one never disagree.</remarks>
internal sealed class SystemPrompts(AppDbContext db, AuditLog audit, TimeProvider clock)
{
    public async Task<SystemPromptResponse> OrgAsync(Guid orgId, CancellationToken ct)
    {
        var row = await db.Set<OrgSystemPrompt>().AsNoTracking().FirstOrDefaultAsync(p => p.OrganizationId == orgId, ct);
        return row is null ? new(null, null, null) : new(row.Text, row.UpdatedBy, row.UpdatedAt);
    }

    /// <summary>Empty or null text removes the org's prompt.</summary>
    public async Task<SystemPromptResponse> SetOrgAsync(Guid orgId, Guid actorId, string? text, CancellationToken ct)
    {
        var prompt = ConversationService.OptionalPrompt(text, "text");
        var row = await db.Set<OrgSystemPrompt>().FirstOrDefaultAsync(p => p.OrganizationId == orgId, ct);
        var inserting = row is null && prompt is not null;
        var now = clock.GetUtcNow();
        if (prompt is null)
        {
            if (row is not null)
                db.Remove(row);
        }
        else if (row is null)
            db.Add(row = new OrgSystemPrompt { OrganizationId = orgId, Text = prompt, UpdatedBy = actorId, UpdatedAt = now });
        else
        {
            row.Text = prompt;
            row.UpdatedBy = actorId;
            row.UpdatedAt = now;
        }
        audit.Add(AuditKinds.SystemPromptChanged, actorId, new { level = "org", length = prompt?.Length ?? 0 }, organizationId: orgId);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (inserting && UniqueViolation.Is(e))
        {
            // Another first write inserted the row meanwhile: this one becomes an update of it, as if it had come second.
            db.ChangeTracker.Clear();
            return await SetOrgAsync(orgId, actorId, text, ct);
        }
        return prompt is null ? new(null, null, null) : new(prompt, actorId, now);
    }

    public async Task<SystemPromptResponse> WorkspaceAsync(OrgGrant caller, Guid workspaceId, CancellationToken ct)
    {
        var workspace = await WorkspaceOfAsync(caller, workspaceId, ct);
        return new(workspace.SystemPrompt, null, null);
    }

    public async Task<SystemPromptResponse> SetWorkspaceAsync(OrgGrant caller, Guid actorId, Guid workspaceId, string? text, CancellationToken ct)
    {
        var workspace = await WorkspaceOfAsync(caller, workspaceId, ct);
        workspace.SystemPrompt = ConversationService.OptionalPrompt(text, "text");
        audit.Add(AuditKinds.SystemPromptChanged, actorId, new { level = "workspace", workspaceId, length = workspace.SystemPrompt?.Length ?? 0 }, organizationId: caller.OrganizationId);
        await db.SaveChangesAsync(ct);
        return new(workspace.SystemPrompt, null, null);
    }

    /// <summary>By (org, id); a key bound to another workspace finds nothing.</summary>
    public static async Task<Workspace> WorkspaceOfAsync(AppDbContext db, OrgGrant caller, Guid workspaceId, CancellationToken ct)
    {
        if (caller.WorkspaceId is { } only && only != workspaceId)
            throw Orgs.NotFound("No such workspace.", $"This key is bound to another workspace than {workspaceId}.");
        return await Workspaces.FindAsync(db, caller.OrganizationId, workspaceId, ct);
    }

    Task<Workspace> WorkspaceOfAsync(OrgGrant caller, Guid workspaceId, CancellationToken ct) => WorkspaceOfAsync(db, caller, workspaceId, ct);
}
