using AiHub.Credits.Plans;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Chat.Engine;

/// <summary>How an answer ended.</summary>
internal enum ChatOutcome
{
    /// <summary>The model finished (a finish reason arrived).</summary>
    Complete,
    /// <summary>Part of the answer reached the caller, then the stream broke, stalled or was cut: kept, charged for what was delivered.</summary>
    Incomplete,
    /// <summary>The caller stopped it (cancel or disconnect): the partial answer is kept and charged for what was delivered.</summary>
    Cancelled,
    /// <summary>Nothing reached the caller and no model could answer: nothing is charged.</summary>
    Failed,
}

internal static class ChatOutcomes
{
    /// <summary>The outcome as every client reads it: complete, incomplete, cancelled or failed.</summary>
    public static string Name(ChatOutcome outcome) => outcome switch
    {
        ChatOutcome.Complete => "complete",
        ChatOutcome.Incomplete => "incomplete",
        ChatOutcome.Cancelled => "cancelled",
        _ => "failed",
    };
}

/// <summary>What the engine tells its caller while a call runs; SSE, the WebSocket and the chat page each render these.</summary>
internal abstract record ChatEvent;

/// <summary>The model that answers is known (after any fallback); sent before its first delta.</summary>
internal sealed record ChatAnswering(string Provider, string Model) : ChatEvent;

internal sealed record ChatDelta(string Text) : ChatEvent;

internal sealed record ChatToolCall(string CallId, string Name, string Arguments) : ChatEvent;

internal sealed record ChatToolResult(string CallId, string Name, string Result) : ChatEvent;

/// <summary>Token counts: the provider's when it reported them (<paramref name="Reported"/>), else the tokenizer's estimate.</summary>
internal sealed record ChatUsage(long InputTokens, long OutputTokens, bool Reported, long EstimatedInputTokens, long EstimatedOutputTokens) : ChatEvent;

/// <summary>The last event of every call.</summary>
/// <param name="Error">Why it did not complete, when it did not.</param>
/// <param name="Remaining">The org's chat quota after this call, when the call counted a question.</param>
internal sealed record ChatDone(
    ChatOutcome Outcome,
    string? FinishReason,
    string? Provider,
    string? Model,
    string Text,
    long CostMicros,
    QuotaStatus? Remaining,
    ProblemDetails? Error) : ChatEvent;
