using AiHub.Chat.Engine;
using AiHub.Credits.Pools;

namespace AiHub.Chat.Grounding;

/// <summary>One numbered source an answer may cite, as clients receive it.</summary>
/// <param name="Index">The number the answer cites it by: <c>[1]</c>, <c>[2]</c>, …</param>
/// <param name="Page">The page of a document, when it has pages.</param>
/// <param name="Start">For a recording: where the passage starts, in seconds.</param>
/// <param name="End">For a recording: where the passage ends, in seconds.</param>
/// <param name="Label">The page or moment as people read it: <c>p. 3</c>, <c>1:23</c>; empty when it has neither.</param>
/// <param name="Link">The app's address that opens the source at its page or second.</param>
internal sealed record ChatCitation(
    int Index, Guid SourceId, long ChunkId, string Title, int? Page, double? Start, double? End, string Label, string Snippet, string Link);

/// <summary>Sources the answer cites: the turn's grounding before the first delta, a tool's after its result.</summary>
internal sealed record ChatCitations(IReadOnlyList<ChatCitation> Citations) : ChatEvent;

/// <summary>What grounding found for a question: the passages, numbered, and the system message that hands them to the model.</summary>
/// <param name="Passages">The passages' text by citation index, in order; the retrieval-only answer lists them.</param>
internal sealed record GroundingResult(IReadOnlyList<ChatCitation> Citations, IReadOnlyList<string> Passages, string SystemMessage);

/// <summary>Grounds chat answers in a workspace's knowledge; implemented by the Knowledge feature, a layer above.</summary>
/// <remarks>With no implementation registered, chat is not grounded.</remarks>
internal interface IChatGrounding
{
    /// <summary>
    /// The passages of <paramref name="knowledgeBaseIds"/> (empty: the member's focused knowledge base) that answer
    /// <paramref name="question"/>, numbered from 1, at most <paramref name="maxTokens"/> tokens of them; null when
    /// nothing grounds the conversation or nothing relevant was found.
    /// </summary>
    Task<GroundingResult?> GroundAsync(Spender spender, IReadOnlyList<Guid> knowledgeBaseIds, string question, int maxTokens, CancellationToken ct);

    /// <summary>
    /// For the assistant without a language model: the grounding's passages, else the best of the whole workspace's;
    /// null when the workspace has no knowledge the caller can read.
    /// </summary>
    Task<GroundingResult?> RetrieveAsync(Spender spender, IReadOnlyList<Guid> knowledgeBaseIds, string question, CancellationToken ct);
}

/// <summary>Refuses knowledge bases a conversation cannot be grounded in; implemented by the Knowledge feature.</summary>
internal interface IKnowledgeBaseCheck
{
    /// <exception cref="Infrastructure.Errors.ProblemException">400 naming <paramref name="field"/> when one is not a knowledge base of the workspace.</exception>
    Task RequireInWorkspaceAsync(Guid orgId, Guid workspaceId, IReadOnlyList<Guid> knowledgeBaseIds, string field, CancellationToken ct);
}

/// <summary>
/// Collects the citations tools make during one call, numbered after the ones the turn already has, so that a tool's
/// <c>[n]</c> never repeats a grounding number.
/// </summary>
internal sealed class CitationCollector(int firstIndex)
{
    readonly Lock _gate = new();
    readonly List<ChatCitation> _all = [];
    int _next = firstIndex;
    int _taken;

    /// <summary>Numbers and keeps a citation; <paramref name="make"/> gets its number.</summary>
    public ChatCitation Add(Func<int, ChatCitation> make)
    {
        lock (_gate)
        {
            var citation = make(_next++);
            _all.Add(citation);
            return citation;
        }
    }

    /// <summary>The citations added since the last call.</summary>
    public IReadOnlyList<ChatCitation> TakeNew()
    {
        lock (_gate)
        {
            var fresh = _all.Skip(_taken).ToList();
            _taken = _all.Count;
            return fresh;
        }
    }
}
