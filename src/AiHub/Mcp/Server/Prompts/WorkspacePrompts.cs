using System.Text;
using System.Text.Json;
using AiHub.Chat.Conversations;
using AiHub.Mcp.Server.Tools;
using AiHub.Organizations;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace AiHub.Mcp.Server.Prompts;

/// <summary>
/// Each workspace's system prompt (the org's layer, then the workspace's) as an MCP prompt, so an assistant can speak
/// as the workspace's chat does; <c>question</c> is appended as the user's request.
/// </summary>
/// <remarks>Only the workspaces the caller can see are listed or found; a name of another org's workspace is unknown here.</remarks>
internal sealed class WorkspacePrompts(McpCallers callers, KnowledgeScope scope, SystemPrompts prompts)
{
    public const string Prefix = "workspace-";
    public const string QuestionArgument = "question";
    const int MaxQuestion = 20_000;

    internal sealed record WorkspacePrompt(string Name, Guid WorkspaceId, string WorkspaceName, string Text);

    public static ValueTask<ListPromptsResult> ListAsync(RequestContext<ListPromptsRequestParams> request, CancellationToken ct) =>
        Of(request).ListAsync(ct);

    public static ValueTask<GetPromptResult> GetAsync(RequestContext<GetPromptRequestParams> request, CancellationToken ct) =>
        Of(request).GetAsync(request.Params?.Name, request.Params?.Arguments, ct);

    static WorkspacePrompts Of<T>(RequestContext<T> request) =>
        (request.Services ?? throw new McpException("This server is reached over HTTP only.")).GetRequiredService<WorkspacePrompts>();

    async ValueTask<ListPromptsResult> ListAsync(CancellationToken ct) => new()
    {
        Prompts = [.. (await VisibleAsync(ct)).Select(p => new Prompt
        {
            Name = p.Name,
            Title = $"{p.WorkspaceName} (workspace instructions)",
            Description = $"The instructions every chat in the workspace \"{p.WorkspaceName}\" starts with, followed by your question.",
            Arguments = [new PromptArgument { Name = QuestionArgument, Title = "Question", Description = "What to ask under these instructions.", Required = false }],
        })],
    };

    async ValueTask<GetPromptResult> GetAsync(string? name, IDictionary<string, JsonElement>? arguments, CancellationToken ct)
    {
        var prompt = (await VisibleAsync(ct)).FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.Ordinal))
            ?? throw new McpProtocolException($"Unknown prompt: {name}. prompts/list gives the ones this connection can use.", McpErrorCode.InvalidParams);
        string? question = null;
        if (arguments is not null && arguments.TryGetValue(QuestionArgument, out var value) && value.ValueKind != JsonValueKind.Null)
        {
            if (value.ValueKind != JsonValueKind.String)
                throw new McpProtocolException($"{QuestionArgument} is text.", McpErrorCode.InvalidParams);
            question = value.GetString()!.Trim();
            if (question.Length > MaxQuestion)
                throw new McpProtocolException($"{QuestionArgument} is at most {MaxQuestion} characters.", McpErrorCode.InvalidParams);
        }
        // MCP prompts carry user and assistant messages only: the instructions lead the user's message.
        var text = new StringBuilder("Follow these instructions:\n\n").Append(prompt.Text);
        if (!string.IsNullOrEmpty(question))
            text.Append("\n\n").Append(question);
        return new GetPromptResult
        {
            Description = $"The instructions of the workspace \"{prompt.WorkspaceName}\".",
            Messages = [new PromptMessage { Role = Role.User, Content = new TextContentBlock { Text = text.ToString() } }],
        };
    }

    /// <summary>The caller's workspaces that have instructions, each named after the workspace, unique within the org.</summary>
    async Task<List<WorkspacePrompt>> VisibleAsync(CancellationToken ct)
    {
        var caller = await callers.CurrentAsync(ct);
        caller.Require(OrgPermissions.ChatUse);
        var org = (await prompts.OrgAsync(caller.OrganizationId, ct)).Text;
        var found = new List<WorkspacePrompt>();
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var w in await scope.WorkspacesAsync(caller, ct))
        {
            if (Layered(org, w.SystemPrompt) is not { } text)
                continue;
            var name = Prefix + Slug(w.Name);
            if (!taken.Add(name))
                taken.Add(name = $"{name}-{w.Id.ToString("N")[..8]}");
            found.Add(new WorkspacePrompt(name, w.Id, w.Name, text));
        }
        return found;
    }

    /// <summary>The org's layer, then the workspace's, as a conversation in the workspace starts with them; null for none.</summary>
    public static string? Layered(string? org, string? workspace)
    {
        var layers = new[] { org, workspace }.Where(p => !string.IsNullOrWhiteSpace(p)).ToList();
        return layers.Count == 0 ? null : string.Join("\n\n", layers);
    }

    public async Task<string?> LayeredAsync(Guid orgId, Guid workspaceId, McpCaller caller, CancellationToken ct) =>
        Layered((await prompts.OrgAsync(orgId, ct)).Text, (await scope.WorkspaceAsync(caller, workspaceId, ct)).SystemPrompt);

    static string Slug(string name)
    {
        var slug = new StringBuilder();
        foreach (var c in name.ToLowerInvariant())
        {
            if (char.IsAsciiLetterOrDigit(c))
                slug.Append(c);
            else if (slug.Length > 0 && slug[^1] != '-')
                slug.Append('-');
        }
        var text = slug.ToString().Trim('-');
        return text.Length == 0 ? "untitled" : text.Length > 48 ? text[..48].TrimEnd('-') : text;
    }
}
