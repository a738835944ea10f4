using System.Runtime.CompilerServices;
using System.Text.Json;
using AiHub.Chat.Conversations;
using AiHub.Chat.Engine;
using AiHub.Chat.Grounding;
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
/// <param name="Call">The model's call; null for the retrieval-only answer, which needs no model and holds nothing.</param>
/// <param name="Grounding">The passages the answer is grounded in (or, without a call, the answer itself).</param>
/// <param name="Citations">Where the call's tools number their citations, after the grounding's.</param>
internal sealed record ChatTurn(Spender Spender, Conversation Conversation, StoredMessage? Question, StoredMessage Answer, string QuestionText, bool FirstExchange, ChatCall? Call,
    GroundingResult? Grounding = null, CitationCollector? Citations = null)
{
    /// <summary>The model that answers first, as the first event names it.</summary>
    public string FirstModel => Call?.FirstTarget.Model ?? RetrievalOnly.Model;
}

/// <summary>How the assistant answers when the org has no language model: the best passages, listed and cited.</summary>
internal static class RetrievalOnly
{
    public const string Provider = "retrieval";
    public const string Model = "retrieval-only";

    public const string Heading = "No language model is configured, so here are the passages from your knowledge that best match the question:";

    /// <summary>The answer's text: the heading, then each passage under its number, title and page or moment.</summary>
    public static string Text(GroundingResult found)
    {
        var text = new System.Text.StringBuilder(Heading).Append("\n\n");
        for (var i = 0; i < found.Citations.Count; i++)
        {
            var c = found.Citations[i];
            text.Append('[').Append(c.Index).Append("] **").Append(c.Title.Replace("*", "\\*", StringComparison.Ordinal)).Append("**");
            if (c.Label.Length > 0)
                text.Append(" (").Append(c.Label).Append(')');
            text.Append("\n\n");
            foreach (var line in found.Passages[i].ReplaceLineEndings("\n").Split('\n', StringSplitOptions.RemoveEmptyEntries))
                text.Append("> ").Append(line.Trim()).Append('\n');
            text.Append('\n');
        }
        return text.ToString().TrimEnd() + "\n";
    }
}

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
    IModelRouter router,
    IEnumerable<IChatGrounding> groundings,
    IOptions<ChatSettings> settings)
{
    readonly IChatGrounding? _grounding = groundings.LastOrDefault();

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
        var (call, grounding, citations) = await StartAsync(spender, c, body.Model ?? await store.ModelAsync(c, ct), history, content, body.MaxTokens, body.Temperature, body.Tools, ct);
        try
        {
            // A model chosen for this question stays the conversation's; the question's save stores it.
            if (body.Model is { } chosen)
                c.Model = Conversations.ConversationService.OptionalModel(chosen);
            var question = body.EditOf is { } edited
                ? await store.EditUserMessageAsync(c, edited, content, ct)
                : await store.AddUserMessageAsync(c, body.ParentId, content, ct);
            var answer = await store.StartAssistantAsync(c, question.Id, ct);
            return new ChatTurn(spender, c, question, answer, content, !before.Any(m => m.Role == MessageRole.Assistant), call, grounding, citations);
        }
        catch
        {
            if (call is not null)
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
        // A retrieval-only answer names no model a provider could serve: the regeneration picks as a new question would.
        var previous = path[^1].Provider == RetrievalOnly.Provider ? null : path[^1].Model;
        var (call, grounding, citations) = await StartAsync(spender, c, body.Model ?? previous ?? await store.ModelAsync(c, ct), history, question.Content, body.MaxTokens, body.Temperature, body.Tools, ct);
        try
        {
            var answer = await store.StartAssistantAsync(c, question.Id, ct);
            return new ChatTurn(spender, c, null, answer, question.Content, false, call, grounding, citations);
        }
        catch
        {
            if (call is not null)
                await call.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Grounds the question and starts the model's call. With no model configured, a conversation or workspace with
    /// knowledge gets the retrieval-only answer instead (no call, nothing held); without knowledge it stays the 503.
    /// </summary>
    async Task<(ChatCall? Call, GroundingResult? Grounding, CitationCollector Citations)> StartAsync(Spender spender, Conversation c, string? model,
        IReadOnlyList<ChatMessage> history, string question, int? maxTokens, float? temperature, bool? useTools, CancellationToken ct)
    {
        IReadOnlyList<ModelTarget> routed;
        try
        {
            routed = await router.RouteAsync(spender.OrganizationId, model, ct);
        }
        catch (ProblemException e) when (e.Type == ProblemTypes.NoProvider && _grounding is not null)
        {
            var found = await _grounding.RetrieveAsync(spender, c.KnowledgeBaseIds, question, ct);
            if (found is null)
                throw;
            return (null, found, new CitationCollector(found.Citations.Count + 1));
        }
        // A quarter of the model's context for the passages leaves room for the conversation and the answer.
        var grounding = _grounding is null ? null : await _grounding.GroundAsync(spender, c.KnowledgeBaseIds, question, Math.Max(1, routed[0].ContextLength / 4), ct);
        if (grounding is not null)
            history = WithSources(history, grounding.SystemMessage);
        var citations = new CitationCollector((grounding?.Citations.Count ?? 0) + 1);
        var offered = useTools == false ? null : await tools.ForAsync(ToolContext.Of(spender) with { Citations = citations }, ct);
        return (await engine.StartAsync(Run(spender, c.Id, model, history, maxTokens, temperature, offered), ct), grounding, citations);
    }

    /// <summary>The sources go after the layered system prompt, so the prompt's rules still come first.</summary>
    static List<ChatMessage> WithSources(IReadOnlyList<ChatMessage> history, string sources)
    {
        var list = history.ToList();
        var at = list.FindIndex(m => m.Role != ChatRole.System);
        list.Insert(at < 0 ? list.Count : at, new ChatMessage(ChatRole.System, sources));
        return list;
    }

    /// <summary>
    /// Streams the answer and records it. A cancel request for the answer, or <paramref name="ct"/> (the client going
    /// away), stops the provider call; what arrived is kept. The title and follow-ups come before <see cref="ChatDone"/>.
    /// </summary>
    public async IAsyncEnumerable<ChatEvent> StreamAsync(ChatTurn turn, [EnumeratorCancellation] CancellationToken ct)
    {
        if (turn.Call is null)
        {
            await foreach (var e in RetrievalAsync(turn, ct))
                yield return e;
            yield break;
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var tracked = running.Track(turn.Answer.Id, stop);
        var draft = new AnswerDraft();
        var cited = new List<ChatCitation>(turn.Grounding?.Citations ?? []);
        ChatUsage? usage = null;
        ChatDone? done = null;
        await using (turn.Call)
        try
        {
            // The sources come before the first delta, so a client can link the answer's [n] as it streams.
            if (cited.Count > 0)
                yield return new ChatCitations(cited.ToList());
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
                        await store.FinishAssistantAsync(turn.Conversation.OrganizationId, turn.Answer.Id, Outcome(d, usage, draft.ToolCalls, cited), CancellationToken.None);
                        continue;
                }
                yield return e;
                // A tool that searched the knowledge numbered its passages while it ran; they are sent right after its result.
                if (e is ChatToolResult && turn.Citations?.TakeNew() is { Count: > 0 } fresh)
                {
                    cited.AddRange(fresh);
                    yield return new ChatCitations(fresh);
                }
            }
        }
        finally
        {
            // A reader that went away (a closed tab, a dropped connection) leaves the answer as far as it got, stopped.
            if (done is null)
                await store.FinishAssistantAsync(turn.Conversation.OrganizationId, turn.Answer.Id,
                    AnswerOutcome.Cancelled(draft.Text, null, null, draft.ToolCalls, cited), CancellationToken.None);
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

    /// <summary>The retrieval-only answer: shaped like a model's (message, citations, the text, usage, done), free and complete.</summary>
    async IAsyncEnumerable<ChatEvent> RetrievalAsync(ChatTurn turn, [EnumeratorCancellation] CancellationToken ct)
    {
        var found = turn.Grounding!;
        var text = RetrievalOnly.Text(found);
        yield return new ChatAnswering(RetrievalOnly.Provider, RetrievalOnly.Model);
        yield return new ChatCitations(found.Citations);
        yield return new ChatDelta(text);
        var done = new ChatDone(ChatOutcome.Complete, "stop", RetrievalOnly.Provider, RetrievalOnly.Model, text, 0, null, null);
        await store.FinishAssistantAsync(turn.Conversation.OrganizationId, turn.Answer.Id,
            new AnswerOutcome(text, MessageStatus.Complete, RetrievalOnly.Provider, RetrievalOnly.Model, "stop", 0, 0, 0, 0, false, 0, null, null, found.Citations),
            CancellationToken.None);
        // No model writes a title here: the question's first line is the title.
        if (turn.FirstExchange && !turn.Conversation.TitleGenerated && !ct.IsCancellationRequested
            && await store.SetGeneratedTitleAsync(turn.Conversation.OrganizationId, turn.Conversation.Id, Shorten(turn.QuestionText), CancellationToken.None))
            yield return new ChatTitle(Shorten(turn.QuestionText));
        yield return new ChatUsage(0, 0, false, 0, 0);
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
    static ChatRun Run(Spender spender, Guid conversationId, string? model, IReadOnlyList<ChatMessage> history, int? maxTokens, float? temperature,
        IReadOnlyList<AITool>? tools) =>
        new(spender, model, history, ConversationCalls.Key(ConversationCalls.Answer, conversationId), maxTokens, temperature, Tools: tools);

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

    static AnswerOutcome Outcome(ChatDone d, ChatUsage? usage, IReadOnlyList<ToolCallRecord> calls, List<ChatCitation> cited) => new(
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
        d.Error is null ? null : JsonSerializer.Serialize(d.Error, JsonSerializerOptions.Web),
        cited.Count > 0 ? cited.ToList() : null);

    static string Shorten(string question)
    {
        var line = question.Split('\n', 2)[0].Trim();
        return line.Length <= 60 ? line : line[..59].TrimEnd() + "…";
    }
}
