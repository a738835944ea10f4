using System.Text;
using AiHub.Chat.Grounding;
using AiHub.Chat.Tokens;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Knowledge.Insights;
using AiHub.Knowledge.Search;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Grounding;

/// <summary>What one search of the knowledge gave: the passages good enough to cite, numbered, and their text.</summary>
internal sealed record FoundPassages(IReadOnlyList<ChatCitation> Citations, IReadOnlyList<string> Texts);

/// <summary>
/// Grounds chat in a workspace's knowledge: finds the knowledge bases a conversation is grounded in, searches them,
/// keeps the passages good enough to cite and numbers them, and records the question for the creator's insight page.
/// </summary>
/// <remarks>
/// Every knowledge base is fetched by (org, workspace, id) and the search is fenced by org and workspace, so a
/// conversation of another org or workspace can never cite these sources, whatever ids it names.
/// </remarks>
internal sealed class KnowledgeGrounding(
    AppDbContext db,
    IEnumerable<IKnowledgeSearch> searches,
    OrgAccess access,
    TokenCounter tokens,
    QuestionLog questions,
    IOptions<GroundingSettings> options) : IChatGrounding, IKnowledgeBaseCheck
{
    // The model is unknown to the knowledge; o200k counts close enough to keep the passages within their share.
    const string CountingModel = "gpt-4o";

    public const string Instructions =
        "Answer from these sources; cite them as [1], [2]; say so when they do not answer the question.";

    readonly GroundingSettings _settings = options.Value;
    // The last registration wins, as with any service resolved alone.
    readonly IKnowledgeSearch? _search = searches.LastOrDefault();

    public async Task<GroundingResult?> GroundAsync(Spender spender, IReadOnlyList<Guid> knowledgeBaseIds, string question, int maxTokens, CancellationToken ct)
    {
        if (_search is null || spender.WorkspaceId is not { } workspaceId || !await CanReadAsync(spender, ct))
            return null;
        var bases = await GroundedInAsync(spender, workspaceId, knowledgeBaseIds, ct);
        if (bases.Count == 0)
            return null;
        var found = await SearchAsync(spender, workspaceId, bases, question, _settings.TopK, 1, Math.Min(maxTokens, _settings.MaxTokens), ct);
        return found.Citations.Count == 0 ? null : Result(found);
    }

    public async Task<GroundingResult?> RetrieveAsync(Spender spender, IReadOnlyList<Guid> knowledgeBaseIds, string question, CancellationToken ct)
    {
        if (_search is null || spender.WorkspaceId is not { } workspaceId || !await CanReadAsync(spender, ct))
            return null;
        if (!await db.Set<KnowledgeBase>().AnyAsync(k => k.OrganizationId == spender.OrganizationId && k.WorkspaceId == workspaceId, ct))
            return null;
        var bases = await GroundedInAsync(spender, workspaceId, knowledgeBaseIds, ct);
        // Not grounded: the assistant without a model searches everything the workspace knows.
        var found = await SearchAsync(spender, workspaceId, bases.Count == 0 ? null : bases, question, _settings.TopK, 1, _settings.MaxTokens, ct);
        return Result(found);
    }

    public async Task RequireInWorkspaceAsync(Guid orgId, Guid workspaceId, IReadOnlyList<Guid> knowledgeBaseIds, string field, CancellationToken ct)
    {
        var known = await db.Set<KnowledgeBase>().AsNoTracking()
            .Where(k => k.OrganizationId == orgId && k.WorkspaceId == workspaceId && knowledgeBaseIds.Contains(k.Id))
            .Select(k => k.Id).ToListAsync(ct);
        foreach (var id in knowledgeBaseIds)
            if (!known.Contains(id))
                throw ProblemException.Invalid(field, $"There is no knowledge base {id} in this workspace.");
    }

    public async Task<IReadOnlyList<KnowledgeBaseChoice>> ChoicesAsync(Guid orgId, Guid workspaceId, CancellationToken ct) =>
        await db.Set<KnowledgeBase>().AsNoTracking()
            .Where(k => k.OrganizationId == orgId && k.WorkspaceId == workspaceId)
            .OrderBy(k => k.Name).Select(k => new KnowledgeBaseChoice(k.Id, k.Name)).ToListAsync(ct);

    /// <summary>
    /// Searches and numbers the passages from <paramref name="firstIndex"/>, within <paramref name="maxTokens"/>; the
    /// question and what it cited are recorded for the insight page, whatever was found.
    /// </summary>
    /// <param name="bases">Null: all of the workspace's knowledge bases.</param>
    public async Task<FoundPassages> SearchAsync(Spender spender, Guid workspaceId, IReadOnlyList<Guid>? bases, string question, int topK, int firstIndex, int maxTokens,
        CancellationToken ct, CitationCollector? collector = null)
    {
        if (_search is null)
            return new FoundPassages([], []);
        var hits = await _search.SearchAsync(new KnowledgeQuery(spender.OrganizationId, workspaceId, question, bases, topK, spender), ct);
        // The contract fences by org and workspace; a hit outside them is dropped rather than cited.
        var good = hits.Where(h => Citations.IsGood(h, _settings)).ToList();
        var citations = new List<ChatCitation>();
        var texts = new List<string>();
        var left = maxTokens;
        foreach (var hit in good)
        {
            var text = hit.Text.Trim();
            var cost = tokens.Count(CountingModel, text);
            if (cost > left)
            {
                // The first passage is cut to fit rather than lost; later ones wait for a question with room.
                if (citations.Count > 0 || left < 20)
                    break;
                text = text[..tokens.IndexAtTokenCount(CountingModel, text, left)];
                cost = left;
            }
            left -= cost;
            var citation = collector is null
                ? Citations.Of(firstIndex + citations.Count, workspaceId, hit, _settings.SnippetLength)
                : collector.Add(n => Citations.Of(n, workspaceId, hit, _settings.SnippetLength));
            citations.Add(citation);
            texts.Add(text);
        }
        await questions.RecordAsync(spender.OrganizationId, workspaceId, question, hits.Count == 0 ? null : hits.Max(h => h.Score), good.Count > 0, citations, ct);
        return new FoundPassages(citations, texts);
    }

    /// <summary>Whether the caller may read the knowledge: a member's role, or an API key's permissions.</summary>
    public async Task<bool> CanReadAsync(Spender spender, CancellationToken ct)
    {
        if (spender.ApiKeyId is { } keyId)
        {
            var permissions = await db.ApiKeys.AsNoTracking().Where(k => k.OrganizationId == spender.OrganizationId && k.Id == keyId).Select(k => k.Permissions).FirstOrDefaultAsync(ct);
            return permissions is not null && ApiKeySecrets.ParsePermissions(permissions).Contains(OrgPermissions.KnowledgeRead);
        }
        return (await access.GetAsync(spender.OrganizationId, spender.UserId, ct))?.Has(OrgPermissions.KnowledgeRead) == true;
    }

    /// <summary>The conversation's knowledge bases that are this workspace's, else the member's focused one, else none.</summary>
    async Task<List<Guid>> GroundedInAsync(Spender spender, Guid workspaceId, IReadOnlyList<Guid> knowledgeBaseIds, CancellationToken ct)
    {
        var orgId = spender.OrganizationId;
        if (knowledgeBaseIds.Count > 0)
            return await db.Set<KnowledgeBase>().AsNoTracking()
                .Where(k => k.OrganizationId == orgId && k.WorkspaceId == workspaceId && knowledgeBaseIds.Contains(k.Id))
                .Select(k => k.Id).ToListAsync(ct);
        return await (from f in db.Set<KnowledgeFocus>().AsNoTracking()
                      join k in db.Set<KnowledgeBase>() on f.KnowledgeBaseId equals k.Id
                      where f.OrganizationId == orgId && f.WorkspaceId == workspaceId && f.UserId == spender.UserId
                            && k.OrganizationId == orgId && k.WorkspaceId == workspaceId
                      select k.Id).ToListAsync(ct);
    }

    static GroundingResult Result(FoundPassages found) => new(found.Citations, found.Texts, SystemMessage(found));

    /// <summary>The instructions, then each passage under its number, title and page or moment.</summary>
    public static string SystemMessage(FoundPassages found)
    {
        var text = new StringBuilder(Instructions).Append("\n\n");
        for (var i = 0; i < found.Citations.Count; i++)
        {
            var c = found.Citations[i];
            text.Append('[').Append(c.Index).Append("] ").Append(c.Title);
            if (c.Label.Length > 0)
                text.Append(" (").Append(c.Label).Append(')');
            text.Append('\n').Append(found.Texts[i]).Append("\n\n");
        }
        return text.ToString().TrimEnd();
    }
}
