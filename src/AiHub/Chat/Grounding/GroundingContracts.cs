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

/// <summary>A knowledge base a conversation may be grounded in, as the chat page offers it.</summary>
internal sealed record KnowledgeBaseChoice(Guid Id, string Name);

/// <summary>The knowledge bases a conversation can be grounded in; implemented by the Knowledge feature.</summary>
internal interface IKnowledgeBaseCheck
{
    /// <exception cref="Infrastructure.Errors.ProblemException">400 naming <paramref name="field"/> when one is not a knowledge base of the workspace.</exception>
    Task RequireInWorkspaceAsync(Guid orgId, Guid workspaceId, IReadOnlyList<Guid> knowledgeBaseIds, string field, CancellationToken ct);

    /// <summary>The workspace's knowledge bases, by name.</summary>
    Task<IReadOnlyList<KnowledgeBaseChoice>> ChoicesAsync(Guid orgId, Guid workspaceId, CancellationToken ct);
}

/// <summary>Checks the knowledge bases a conversation is to be grounded in, for the API and the chat page alike.</summary>
internal static class KnowledgeBaseSelection
{
    public const int Max = 20;
    public const string Field = "knowledgeBaseIds";

    /// <summary>The distinct ids, each checked to be the workspace's; null when <paramref name="ids"/> is null (nothing to change).</summary>
    public static async Task<List<Guid>?> RequireAsync(IEnumerable<IKnowledgeBaseCheck> checks, Guid orgId, Guid workspaceId, IEnumerable<Guid>? ids, CancellationToken ct)
    {
        if (ids is null)
            return null;
        var distinct = ids.Distinct().ToList();
        if (distinct.Count > Max)
            throw Infrastructure.Errors.ProblemException.Invalid(Field, $"A conversation is grounded in at most {Max} knowledge bases.");
        if (distinct.Count == 0)
            return distinct;
        var any = false;
        foreach (var check in checks)
        {
            await check.RequireInWorkspaceAsync(orgId, workspaceId, distinct, Field, ct);
            any = true;
        }
        // Without the knowledge feature no id can name a knowledge base of this workspace.
        return any ? distinct : throw Infrastructure.Errors.ProblemException.Invalid(Field, "This deployment has no knowledge bases.");
    }
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
