using System.Net.ServerSentEvents;
using System.Security.Claims;
using AiHub.Chat.Engine;
using AiHub.Chat.Grounding;
using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.OpenApi;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Chat.Messages;

/// <summary>The answer as a JSON reply, for a client that does not ask for a stream.</summary>
internal sealed record AnswerResponse(
    Guid ConversationId, Guid? QuestionId, Guid AnswerId, ChatOutcome Status, string Content, string? Provider, string? Model, string? FinishReason,
    long InputTokens, long OutputTokens, bool UsageReported, decimal Cost, long CostMicros, QuotaResponse? Remaining, string? Title,
    IReadOnlyList<string>? FollowUps, ProblemDetails? Error, IReadOnlyList<ChatCitation>? Citations);

internal sealed record QuotaResponse(long? Limit, long Used, long? Remaining, DateTimeOffset? ResetsAt, string Message);

internal static class MessageEndpoints
{
    public static void MapMessageRoutes(IEndpointRouteBuilder app)
    {
        var messages = OrgEndpoints.Org(app).MapGroup("/workspaces/{wsId:guid}/conversations/{id:guid}/messages").WithTags("Chat")
            .RequireAuthorization(OrgPermissions.ChatUse).RequireUser()
            // Beyond the org's problems: too few credits (402), a model that failed (502), no model or no price for it (503).
            .ProducesProblems(StatusCodes.Status402PaymentRequired, StatusCodes.Status502BadGateway, StatusCodes.Status503ServiceUnavailable);
        messages.MapPost("", Send).WithSummary("Sends a message and streams the answer (Accept: text/event-stream) or returns it whole.")
            .ProducesEvents(Events);
        messages.MapPost("/{messageId:guid}/regenerate", Regenerate).WithSummary("Answers the same question again, as a sibling of this answer.")
            .ProducesEvents(Events);
        messages.MapPost("/{messageId:guid}/cancel", Cancel).WithSummary("Stops an answer that is streaming; what arrived is kept and charged.");
    }

    /// <summary>The events of a streamed answer, in the order they come, as the OpenAPI document describes them.</summary>
    const string Events = """
        Server-sent events, each `event: <name>` with one JSON `data:` line, in this order:

        | event | data |
        |---|---|
        | `message` | `{conversationId, questionId, answerId, parentId, provider, model}`: first with the model asked for, again when a provider starts answering (after a fallback, another one) |
        | `citation` | `{index, sourceId, chunkId, title, page, start, end, label, snippet, link}`: a numbered source the answer cites as `[index]`; a grounded answer's come before its first `delta`, a `search_knowledge` tool's right after its `tool_result`. `page` for a document, `start`/`end` in seconds for a recording, `label` as people read it (`p. 3`, `1:23`), `link` opens the source there |
        | `delta` | `{text}`: the next piece of the answer |
        | `tool_call` | `{callId, name, arguments}`: the model called a tool |
        | `tool_result` | `{callId, name, result}`: what the tool returned |
        | `usage` | `{inputTokens, outputTokens, reported, estimatedInputTokens, estimatedOutputTokens}` |
        | `title` | `{title}`: the conversation's automatic title, after its first answer |
        | `follow_ups` | `{questions}`: questions to ask next, when follow-ups are on |
        | `error` | a ProblemDetails: why the answer stopped or never started |
        | `done` | `{status, finishReason, provider, model, cost, costMicros, remaining}`: always last; `status` is `complete`, `incomplete`, `cancelled` or `failed` |

        With no language model configured, a conversation or workspace with knowledge is answered without one: the same
        events, the passages that best match as the text, provider `retrieval` and model `retrieval-only`, cost 0.

        A refusal before the stream starts (no credits, no model, a quota) is a ProblemDetails with its status, not a stream.
        """;

    static async Task<Results<ServerSentEventsResult<object>, Ok<AnswerResponse>, ProblemHttpResult>> Send(Guid orgId, Guid wsId, Guid id, SendMessageRequest body, HttpContext http, ClaimsPrincipal user, SpenderResolver spenders, ChatTurns turns)
    {
        var turn = await turns.SendAsync(await SpenderAsync(spenders, user, orgId, wsId, http), id, body, http.RequestAborted);
        return await AnswerAsync(http, turns, turn);
    }

    static async Task<Results<ServerSentEventsResult<object>, Ok<AnswerResponse>, ProblemHttpResult>> Regenerate(Guid orgId, Guid wsId, Guid id, Guid messageId, RegenerateRequest? body, HttpContext http, ClaimsPrincipal user, SpenderResolver spenders, ChatTurns turns)
    {
        var turn = await turns.RegenerateAsync(await SpenderAsync(spenders, user, orgId, wsId, http), id, messageId, body ?? new RegenerateRequest(), http.RequestAborted);
        return await AnswerAsync(http, turns, turn);
    }

    static async Task<Accepted> Cancel(Guid orgId, Guid wsId, Guid id, Guid messageId, HttpContext http, ClaimsPrincipal user, SpenderResolver spenders, ChatTurns turns)
    {
        await turns.CancelAsync(await SpenderAsync(spenders, user, orgId, wsId, http), id, messageId, http.RequestAborted);
        return TypedResults.Accepted((string?)null);
    }

    /// <summary>The workspace is checked with the conversation, which is fetched by (org, workspace, id, owner).</summary>
    static Task<Spender> SpenderAsync(SpenderResolver spenders, ClaimsPrincipal user, Guid orgId, Guid wsId, HttpContext http) =>
        spenders.ResolveAsync(user, orgId, wsId, OrgPermissions.ChatUse, http.RequestAborted);

    static async Task<Results<ServerSentEventsResult<object>, Ok<AnswerResponse>, ProblemHttpResult>> AnswerAsync(HttpContext http, ChatTurns turns, ChatTurn turn)
    {
        var events = turns.StreamAsync(turn, http.RequestAborted);
        if (http.Request.Headers.Accept.Any(a => a?.Contains("text/event-stream", StringComparison.OrdinalIgnoreCase) == true))
            return TypedResults.ServerSentEvents(Sse(turn, events));

        string? title = null;
        IReadOnlyList<string>? followUps = null;
        ChatUsage? usage = null;
        ChatDone? done = null;
        var citations = new List<ChatCitation>();
        await foreach (var e in events)
        {
            switch (e)
            {
                case ChatCitations c: citations.AddRange(c.Citations); break;
                case ChatTitle t: title = t.Title; break;
                case ChatFollowUps f: followUps = f.Questions; break;
                case ChatUsage u: usage = u; break;
                case ChatDone d: done = d; break;
            }
        }
        var answer = Describe(turn, done!, usage, title, followUps, citations);
        // Nothing was answered: the problem is the reply, with its status; a cut answer is still an answer (200, status incomplete).
        return done!.Outcome == ChatOutcome.Failed
            ? TypedResults.Problem(done.Error!)
            : TypedResults.Ok(answer);
    }

    static async IAsyncEnumerable<SseItem<object>> Sse(ChatTurn turn, IAsyncEnumerable<ChatEvent> events)
    {
        yield return new SseItem<object>(Ids(turn, null, null), "message");
        await foreach (var e in events)
        {
            if (e is ChatCitations cited)
            {
                foreach (var citation in cited.Citations)
                    yield return new SseItem<object>(citation, "citation");
                continue;
            }
            SseItem<object>? item = e switch
            {
                ChatAnswering a => new SseItem<object>(Ids(turn, a.Provider, a.Model), "message"),
                ChatDelta d => new SseItem<object>(new { text = d.Text }, "delta"),
                ChatToolCall c => new SseItem<object>(new { callId = c.CallId, name = c.Name, arguments = c.Arguments }, "tool_call"),
                ChatToolResult r => new SseItem<object>(new { callId = r.CallId, name = r.Name, result = r.Result }, "tool_result"),
                ChatUsage u => new SseItem<object>(u, "usage"),
                ChatTitle t => new SseItem<object>(new { title = t.Title }, "title"),
                ChatFollowUps f => new SseItem<object>(new { questions = f.Questions }, "follow_ups"),
                ChatDone { Error: { } error } => new SseItem<object>(error, "error"),
                _ => null,
            };
            if (item is { } sse)
                yield return sse;
            if (e is ChatDone done)
                yield return new SseItem<object>(Done(done), "done");
        }
    }

    static object Ids(ChatTurn turn, string? provider, string? model) => new
    {
        conversationId = turn.Conversation.Id,
        questionId = turn.Question?.Id,
        answerId = turn.Answer.Id,
        parentId = turn.Answer.ParentId,
        provider,
        model = model ?? turn.FirstModel,
    };

    static object Done(ChatDone d) => new
    {
        status = ChatOutcomes.Name(d.Outcome),
        finishReason = d.FinishReason,
        provider = d.Provider,
        model = d.Model,
        cost = Micros.ToCredits(d.CostMicros),
        costMicros = d.CostMicros,
        remaining = Quota(d.Remaining),
    };

    static AnswerResponse Describe(ChatTurn turn, ChatDone d, ChatUsage? usage, string? title, IReadOnlyList<string>? followUps, List<ChatCitation> citations) => new(
        turn.Conversation.Id, turn.Question?.Id, turn.Answer.Id, d.Outcome, d.Text, d.Provider, d.Model, d.FinishReason,
        usage?.InputTokens ?? 0, usage?.OutputTokens ?? 0, usage?.Reported ?? false, Micros.ToCredits(d.CostMicros), d.CostMicros,
        Quota(d.Remaining), title, followUps, d.Error, citations);

    static QuotaResponse? Quota(QuotaStatus? q) => q is null ? null : new(q.Limit, q.Used, q.Remaining, q.ResetsAt, q.Message);
}
