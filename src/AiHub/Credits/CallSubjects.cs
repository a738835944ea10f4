namespace AiHub.Credits;

/// <summary>What an AI call was for, as the feature that made it tells: "Chat" and the conversation, with its page.</summary>
/// <param name="Title">The conversation's title; null for a call of someone other than the reader, whose conversations are private.</param>
/// <param name="Url">The page of <paramref name="Title"/>, for the reader.</param>
internal sealed record CallSubject(string What, string? Title, string? Url);

/// <summary>
/// Names the subjects of AI calls from their keys (the idempotency key of the call's hold). The features above Credits
/// that make calls implement it, so a credit history can say what a call was for without Credits knowing them.
/// </summary>
internal interface ICallSubjects
{
    /// <param name="reader">The user reading the history: only their own calls get titles and links.</param>
    /// <returns>The keys it knows, each with its subject; keys of other features are left out.</returns>
    Task<IReadOnlyDictionary<string, CallSubject>> DescribeAsync(IReadOnlyCollection<string> callKeys, Guid reader, CancellationToken ct);
}
