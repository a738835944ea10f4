using AiHub.Chat.Conversations;
using AiHub.Chat.Engine;
using AiHub.Credits.Pools;
using Microsoft.Extensions.AI;

namespace AiHub.Chat.Messages;

/// <summary>Small calls on the cheap model around an answer (titles, follow-up questions), each held, settled and metered like any other.</summary>
internal sealed class SideCalls(IModelRouter router, ChatEngine engine, ILogger<SideCalls> log)
{
    const int ExcerptLength = 2_000;

    /// <summary>A title of a few words for the first exchange, or null when no cheap model could write one.</summary>
    public async Task<string?> TitleAsync(Spender spender, Guid conversationId, string question, string answer, CancellationToken ct)
    {
        var text = await CompleteAsync(spender, ConversationCalls.Key(ConversationCalls.Title, conversationId), 24,
            "You name conversations. Reply with a title of at most six words for the conversation below, in its language, without quotes and without a full stop.",
            $"User: {Excerpt(question)}\n\nAssistant: {Excerpt(answer)}", ct);
        return text?.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault()?.Trim('"', '\'', '.', ' ');
    }

    /// <summary>Three short questions the user might ask next, or none.</summary>
    public async Task<IReadOnlyList<string>> FollowUpsAsync(Spender spender, Guid conversationId, string question, string answer, CancellationToken ct)
    {
        var text = await CompleteAsync(spender, ConversationCalls.Key(ConversationCalls.FollowUps, conversationId), 120,
            "Suggest exactly three short follow-up questions the user might ask next, in the conversation's language, one per line, without numbering.",
            $"User: {Excerpt(question)}\n\nAssistant: {Excerpt(answer)}", ct);
        return text is null
            ? []
            : [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(line => line.TrimStart('-', '*', '•', ' ', '1', '2', '3', '.', ')').Trim())
                .Where(line => line.Length > 0).Take(3)];
    }

    async Task<string?> CompleteAsync(Spender spender, string callKey, int maxTokens, string instruction, string content, CancellationToken ct)
    {
        if (await router.CheapAsync(spender.OrganizationId, ct) is not { } cheap)
            return null;
        try
        {
            await using var call = await engine.StartAsync(new ChatRun(spender, $"{cheap.Provider}/{cheap.Model}",
                [new ChatMessage(ChatRole.System, instruction), new ChatMessage(ChatRole.User, content)],
                callKey, maxTokens, 0.2f, CountsQuestion: false), ct);
            await foreach (var e in call.StreamAsync(ct))
                if (e is ChatDone { Outcome: ChatOutcome.Complete } done)
                    return done.Text.Trim();
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A side call never spoils the answer it follows: no credits or no cheap model just means no title.
            log.LogInformation("No {Purpose} for the answer: {Reason}", ConversationCalls.Purpose(callKey), e.Message);
            return null;
        }
    }

    static string Excerpt(string text) => text.Length <= ExcerptLength ? text : text[..ExcerptLength] + "…";
}
