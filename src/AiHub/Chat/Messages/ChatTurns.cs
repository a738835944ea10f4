using System.Runtime.CompilerServices;
using System.Text.Json;
using AiHub.Chat.Conversations;
using AiHub.Chat.Engine;
using AiHub.Chat.Providers;
using AiHub.Chat.Tools;
using AiHub.Credits.Pools;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Messages;

/// <summary>A new user message (or an edit of one) and how to answer it.</summary>
/// <param name="ParentId">The assistant message to follow; null follows the current leaf.</param>
/// <param name="EditOf">A user message to replace on a new branch (its sibling); <paramref name="ParentId"/> is then ignored.</param>
/// <param name="Tools">Offer the deployment's tools (web search, …) when the model can call them; on unless false.</param>
internal sealed record SendMessageRequest(string? Content, Guid? ParentId = null, Guid? EditOf = null, string? Model = null,
    int? MaxTokens = null, float? Temperature = null, bool? Tools = null);

internal sealed record RegenerateRequest(string? Model = null, int? MaxTokens = null, float? Temperature = null, bool? Tools = null);

/// <summary>An answer about to stream: its messages are stored, its credits held.</summary>
internal sealed record ChatTurn(Spender Spender, Conversation Conversation, StoredMessage? Question, StoredMessage Answer, string QuestionText, bool FirstExchange, ChatCall Call);

/// <summary>The conversation got its automatic title.</summary>
internal sealed record ChatTitle(string Title) : ChatEvent;

/// <summary>Questions the user may ask next (only when follow-ups are on).</summary>
internal sealed record ChatFollowUps(IReadOnlyList<string> Questions) : ChatEvent;

/// <summary>
/// A turn of a stored conversation: the question and the answer are written to the message tree, the history sent to
/// the model is the path to the new message, and the answer is recorded however the stream ends. The SSE endpoint and
/// the chat page both go through here.
/// </summary>
internal sealed class ChatTurns(
    Conversations.ConversationService store,
    ChatEngine engine,
    ChatTools tools,
    RunningCalls running,
    SideCalls side,
    IOptions<ChatSettings> settings)
{
    /// <summary>Refuses (404, 400, 403 quota, 402 credits, 503 no provider) before anything is written.</summary>
    public async Task<ChatTurn> SendAsync(Spender spender, Guid conversationId, SendMessageRequest body, CancellationToken ct)
    {
        // The conversation first: someone else's is 404 whatever the body says.
        var c = await FindAsync(spender, conversationId, ct);
        var content = Conversations.ConversationService.RequireContent(body.Content);

        IReadOnlyList<StoredMessage> before;
        if (body.EditOf is { } editOf)
        {
            var path = await store.PathAsync(c, editOf, ct);
            if (path[^1].Role != MessageRole.User)
                throw ProblemException.Invalid("editOf", "Only a user message can be edited.");
            before = path.Take(path.Count - 1).ToList();
        }
        else
            before = await store.PathAsync(c, body.ParentId, ct);

        var history = await HistoryAsync(c, before, content, ct);
        var call = await engine.StartAsync(Run(spender, c.Id, body.Model ?? await store.ModelAsync(c, ct), history, body.MaxTokens, body.Temperature, body.Tools), ct);
        try
        {
            // A model chosen for this question stays the conversation's; the question's save stores it.
            if (body.Model is { } chosen)
                c.Model = Conversations.ConversationService.OptionalModel(chosen);
            var question = body.EditOf is { } edited
                ? await store.EditUserMessageAsync(c, edited, content, ct)
                : await store.AddUserMessageAsync(c, body.ParentId, content, ct);
            var answer = await store.StartAssistantAsync(c, question.Id, ct);
            return new ChatTurn(spender, c, question, answer, content, !before.Any(m => m.Role == MessageRole.Assistant), call);
        }
        catch
        {
            await call.DisposeAsync();
            throw;
        }
    }

    /// <summary>Another answer to the question <paramref name="answerId"/> answered: a sibling of it.</summary>
    public async Task<ChatTurn> RegenerateAsync(Spender spender, Guid conversationId, Guid answerId, RegenerateRequest body, CancellationToken ct)
    {
        var c = await FindAsync(spender, conversationId, ct);
        var path = await store.PathAsync(c, answerId, ct);
        if (path[^1].Role != MessageRole.Assistant || path.Count < 2)
            throw ProblemException.Invalid("messageId", "Only an answer can be regenerated.");
        var question = path[^2];
        var history = await HistoryAsync(c, path.Take(path.Count - 2).ToList(), question.Content, ct);
        var call = await engine.StartAsync(Run(spender, c.Id, body.Model ?? path[^1].Model ?? await store.ModelAsync(c, ct), history, body.MaxTokens, body.Temperature, body.Tools), ct);
        try
        {
            var answer = await store.StartAssistantAsync(c, question.Id, ct);
            return new ChatTurn(spender, c, null, answer, question.Content, false, call);
        }
        catch
        {
            await call.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Streams the answer and records it. A cancel request for the answer, or <paramref name="ct"/> (the client going
    /// away), stops the provider call; what arrived is kept. The title and follow-ups come before <see cref="ChatDone"/>.
    /// </summary>
    public async IAsyncEnumerable<ChatEvent> StreamAsync(ChatTurn turn, [EnumeratorCancellation] CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var tracked = running.Track(turn.Answer.Id, stop);
        var draft = new AnswerDraft();
        ChatUsage? usage = null;
        ChatDone? done = null;
        await using (turn.Call)
        try
        {
            await foreach (var e in turn.Call.StreamAsync(stop.Token))
            {
                draft.Add(e);
                switch (e)
                {
                    case ChatUsage u:
                        usage = u;
                        break;
                    case ChatDone d:
                        done = d;
                        await store.FinishAssistantAsync(turn.Conversation.OrganizationId, turn.Answer.Id, Outcome(d, usage, draft.ToolCalls), CancellationToken.None);
                        continue;
                }
                yield return e;
            }
        }
        finally
        {
            // A reader that went away (a closed tab, a dropped connection) leaves the answer as far as it got, stopped.
            if (done is null)
                await store.FinishAssistantAsync(turn.Conversation.OrganizationId, turn.Answer.Id,
                    AnswerOutcome.Cancelled(draft.Text, null, null, draft.ToolCalls), CancellationToken.None);
        }
        if (done is null)
            yield break;

        if (done.Outcome == ChatOutcome.Complete && !ct.IsCancellationRequested)
        {
            if (turn.FirstExchange && !turn.Conversation.TitleGenerated)
            {
                var title = await side.TitleAsync(turn.Spender, turn.Conversation.Id, turn.QuestionText, done.Text, ct) ?? Shorten(turn.QuestionText);
                if (await store.SetGeneratedTitleAsync(turn.Conversation.OrganizationId, turn.Conversation.Id, title, CancellationToken.None))
                    yield return new ChatTitle(title);
            }
            if (settings.Value.FollowUps && await side.FollowUpsAsync(turn.Spender, turn.Conversation.Id, turn.QuestionText, done.Text, ct) is { Count: > 0 } next)
                yield return new ChatFollowUps(next);
        }
        yield return done;
    }

    /// <summary>Stops an answer that is streaming; an answer whose stream is gone (its node stopped) is closed as cancelled.</summary>
    public async Task CancelAsync(Spender spender, Guid conversationId, Guid answerId, CancellationToken ct)
    {
        var c = await FindAsync(spender, conversationId, ct);
        var answer = await store.MessageAsync(c, answerId, ct);
        if (answer.Role != MessageRole.Assistant)
            throw ProblemException.Invalid("messageId", "Only an answer can be stopped.");
        if (answer.Status != MessageStatus.Streaming || await running.CancelAsync(answerId, ct) || running.Distributed)
            return;
        await store.FinishAssistantAsync(c.OrganizationId, answerId, AnswerOutcome.Cancelled(answer.Content, answer.Provider, answer.Model, null), ct);
    }

    Task<Conversation> FindAsync(Spender spender, Guid conversationId, CancellationToken ct) =>
        store.FindOwnAsync(spender.OrganizationId, spender.WorkspaceId!.Value, conversationId, spender.UserId, ct);

    // The call's key names its conversation, so that a credit history can say which conversation a charge was for.
    ChatRun Run(Spender spender, Guid conversationId, string? model, IReadOnlyList<ChatMessage> history, int? maxTokens, float? temperature, bool? useTools) =>
        new(spender, model, history, ConversationCalls.Key(ConversationCalls.Answer, conversationId), maxTokens, temperature,
            Tools: useTools == false ? null : tools.For(ToolContext.Of(spender)));

    /// <summary>The layered system prompt, then the path's questions and the answers that said something, then the new question.</summary>
    async Task<IReadOnlyList<ChatMessage>> HistoryAsync(Conversation c, IReadOnlyList<StoredMessage> path, string question, CancellationToken ct)
    {
        var history = new List<ChatMessage>();
        if (await store.SystemPromptAsync(c, ct) is { Length: > 0 } prompt)
            history.Add(new ChatMessage(ChatRole.System, prompt));
        foreach (var m in path)
        {
            if (m.Role == MessageRole.User)
                history.Add(new ChatMessage(ChatRole.User, m.Content));
            else if (m.Role == MessageRole.Assistant && m.Content.Length > 0)
                history.Add(new ChatMessage(ChatRole.Assistant, m.Content));
        }
        history.Add(new ChatMessage(ChatRole.User, question));
        return history;
    }

    static AnswerOutcome Outcome(ChatDone d, ChatUsage? usage, IReadOnlyList<ToolCallRecord> calls) => new(
        d.Text,
        d.Outcome switch
        {
            ChatOutcome.Complete => MessageStatus.Complete,
            ChatOutcome.Incomplete => MessageStatus.Incomplete,
            ChatOutcome.Cancelled => MessageStatus.Cancelled,
            _ => MessageStatus.Failed,
        },
        d.Provider, d.Model, d.FinishReason,
        usage?.InputTokens, usage?.OutputTokens, usage?.EstimatedInputTokens ?? 0, usage?.EstimatedOutputTokens ?? 0, usage?.Reported ?? false,
        d.CostMicros, calls.Count > 0 ? calls : null,
        d.Error is null ? null : JsonSerializer.Serialize(d.Error, JsonSerializerOptions.Web));

    static string Shorten(string question)
    {
        var line = question.Split('\n', 2)[0].Trim();
        return line.Length <= 60 ? line : line[..59].TrimEnd() + "…";
    }
}
