using System.ComponentModel;
using System.Text.Json;
using AiHub.Chat.Engine;
using AiHub.Chat.Providers;
using AiHub.Data;
using AiHub.Infrastructure.Money;
using AiHub.Organizations;
using Microsoft.Extensions.AI;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace AiHub.Mcp.Server.Tools;

/// <summary>Completions on the org's models for an assistant: held, streamed and settled by the chat engine like any other call.</summary>
[McpServerToolType]
internal sealed class ChatTools(McpCallers callers, ChatEngine engine, ModelCatalog catalog, AppDbContext db)
{
    internal sealed record Turn(
        [property: Description("user, assistant or system.")] string Role,
        [property: Description("The message's text.")] string Content);

    /// <param name="Outcome">complete, or incomplete when the answer was cut (what arrived is charged).</param>
    internal sealed record ChatAnswer(
        string Provider, string Model, string Text, string Outcome, string? FinishReason,
        long InputTokens, long OutputTokens, decimal Credits, long CostMicros);

    internal sealed record ModelItem(
        string Name, string Provider, string Id, string DisplayName, int ContextLength, IReadOnlyList<string> Capabilities,
        decimal? InputCreditsPerMillion, decimal? OutputCreditsPerMillion, bool Default);

    internal sealed record ModelList(Guid OrganizationId, IReadOnlyList<ModelItem> Models);

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    [McpServerTool(Name = "chat", Title = "Chat with a model", ReadOnly = false, Destructive = false, Idempotent = false, OpenWorld = true,
        UseStructuredContent = true, OutputSchemaType = typeof(ChatAnswer))]
    [Description("Asks one of the organisation's models (list_models names them) and returns its answer, with the tokens used and the credits it cost. "
        + "Send either a prompt or the conversation as messages; the organisation pays from its credits.")]
    public async Task<CallToolResult> ChatAsync(
        [Description("The question or instruction, for a single-turn call.")] string? prompt = null,
        [Description("The conversation so far, oldest first, instead of a prompt.")] IReadOnlyList<Turn>? messages = null,
        [Description("A system prompt placed before the conversation.")] string? system = null,
        [Description("The model, as list_models names it (e.g. provider/model); the organisation's default when left out.")] string? model = null,
        [Description("The most tokens the answer may use.")] int? maxTokens = null,
        [Description("Sampling temperature, 0 to 2.")] float? temperature = null,
        [Description("The workspace the call is made for, as list_workspaces names it; its usage is booked there.")] Guid? workspaceId = null,
        CancellationToken cancellationToken = default)
    {
        var caller = await callers.CurrentAsync(cancellationToken);
        caller.Require(OrgPermissions.ChatUse);
        var conversation = Conversation(prompt, messages, system);
        var workspace = await WorkspaceAsync(caller, workspaceId, cancellationToken);

        var run = new ChatRun(caller.SpenderIn(workspace), model, conversation, $"mcp:{Guid.CreateVersion7()}", maxTokens, temperature);
        await using var call = await engine.StartAsync(run, cancellationToken);
        ChatUsage? usage = null;
        ChatDone? done = null;
        await foreach (var e in call.StreamAsync(cancellationToken))
        {
            if (e is ChatUsage u)
                usage = u;
            else if (e is ChatDone d)
                done = d;
        }
        // The engine has settled what arrived; a call stopped by the time limit is reported as such by the filter around every tool.
        cancellationToken.ThrowIfCancellationRequested();
        if (done is null || done.Outcome == ChatOutcome.Failed)
            throw new McpException(done?.Error is { } error ? $"{error.Title} {error.Detail}" : "No model could answer.");

        var answer = new ChatAnswer(done.Provider ?? call.FirstTarget.Provider, done.Model ?? call.FirstTarget.Model, done.Text, ChatOutcomes.Name(done.Outcome),
            done.FinishReason, usage?.InputTokens ?? 0, usage?.OutputTokens ?? 0, Micros.ToCredits(done.CostMicros), done.CostMicros);
        return new CallToolResult
        {
            Content = [new TextContentBlock { Text = done.Text }],
            StructuredContent = JsonSerializer.SerializeToElement(answer, Json),
        };
    }

    [McpServerTool(Name = "list_models", Title = "List models", ReadOnly = true, Idempotent = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("Lists the models this connection may chat with, with their context length and price in credits per million tokens; chat takes the name.")]
    public async Task<ModelList> ListModelsAsync(CancellationToken cancellationToken)
    {
        var caller = await callers.CurrentAsync(cancellationToken);
        caller.Require(OrgPermissions.ChatUse);
        var models = await catalog.ListForOrgAsync(caller.OrganizationId, cancellationToken);
        // A model without a price would be refused by chat, so it is not offered.
        return new ModelList(caller.OrganizationId, [.. models.Where(m => m.InputPerMillion is not null && m.OutputPerMillion is not null)
            .Select(m => new ModelItem($"{m.Provider}/{m.Id}", m.Provider, m.Id, m.DisplayName, m.ContextLength, m.Capabilities, m.InputPerMillion, m.OutputPerMillion, m.Default))]);
    }

    /// <summary>The messages the model reads: the system prompt, then the prompt or the conversation; refuses what names no speaker the engine knows.</summary>
    static List<ChatMessage> Conversation(string? prompt, IReadOnlyList<Turn>? messages, string? system)
    {
        var hasPrompt = !string.IsNullOrWhiteSpace(prompt);
        if (hasPrompt && messages is { Count: > 0 })
            throw new McpException("Send either prompt or messages, not both.");
        if (!hasPrompt && messages is not { Count: > 0 })
            throw new McpException("Send a prompt, or the conversation as messages: [{\"role\":\"user\",\"content\":\"…\"}].");
        List<ChatMessage> conversation = [];
        if (!string.IsNullOrWhiteSpace(system))
            conversation.Add(new ChatMessage(ChatRole.System, system));
        if (hasPrompt)
        {
            conversation.Add(new ChatMessage(ChatRole.User, prompt));
            return conversation;
        }
        for (var i = 0; i < messages!.Count; i++)
        {
            var turn = messages[i] ?? throw new McpException($"messages[{i}] is null: each message is {{\"role\",\"content\"}}.");
            var role = turn.Role?.Trim().ToLowerInvariant() switch
            {
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                "system" => ChatRole.System,
                _ => throw new McpException($"messages[{i}].role is user, assistant or system, not '{Shorten(turn.Role)}'."),
            };
            if (turn.Content is null)
                throw new McpException($"messages[{i}].content is missing.");
            conversation.Add(new ChatMessage(role, turn.Content));
        }
        return conversation;
    }

    /// <summary>
    /// The workspace the call is booked to: the one the key or grant is bound to, or one of the caller's org it names.
    /// </summary>
    /// <remarks>Fetched by (org, id): another org's workspace is simply not found.</remarks>
    async Task<Guid?> WorkspaceAsync(McpCaller caller, Guid? workspaceId, CancellationToken ct)
    {
        if (workspaceId is not { } asked)
            return caller.WorkspaceId;
        if (caller.WorkspaceId is { } bound && bound != asked)
            throw new McpException($"workspaceId: this connection is bound to workspace {bound} and sees no other.");
        await Workspaces.FindAsync(db, caller.OrganizationId, asked, ct);
        return asked;
    }

    static string Shorten(string? value) => value is null ? "null" : value.Length <= 40 ? value : value[..40] + "…";
}
