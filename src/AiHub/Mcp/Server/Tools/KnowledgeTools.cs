using System.ComponentModel;
using System.Text;
using System.Text.Json;
using AiHub.Chat.Engine;
using AiHub.Chat.Grounding;
using AiHub.Chat.Messages;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using AiHub.Knowledge;
using AiHub.Knowledge.Grounding;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Search;
using AiHub.Mcp.Server.Prompts;
using AiHub.Mcp.Server.Resources;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace AiHub.Mcp.Server.Tools;

/// <summary>The org's knowledge for an assistant: its knowledge bases, a search with citations, grounded answers and the sources' text.</summary>
/// <remarks>
/// Every read is fenced by the caller's org and, for a bound key or grant, its one workspace; another org's ids are
/// "not found" in the same words as ids that never existed.
/// </remarks>
[McpServerToolType]
internal sealed class KnowledgeTools(
    McpCallers callers,
    KnowledgeScope scope,
    KnowledgeGrounding grounding,
    SourceTexts texts,
    AppDbContext db,
    IModelRouter router,
    ChatEngine engine,
    IOptions<GroundingSettings> groundingOptions,
    WorkspacePrompts prompts,
    IOptions<PublicUrlSettings> publicUrl)
{
    public const int MaxTopK = 20;
    public const int DefaultMaxChars = 20_000;
    public const int MaxChars = 100_000;

    // The answer's own text is what the client shows; the structured copy is for programs.
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal sealed record KnowledgeBaseItem(
        Guid Id, string Name, string? Description, Guid WorkspaceId, string WorkspaceName, int Sources, int Ready, int Processing, int Failed);

    internal sealed record KnowledgeBaseList(Guid OrganizationId, IReadOnlyList<KnowledgeBaseItem> KnowledgeBases);

    /// <param name="Citation">The number an answer cites the passage by: [1], [2], …</param>
    /// <param name="Location">The page (<c>p. 3</c>) or moment (<c>1:23</c>) as people read it; null when it has neither.</param>
    /// <param name="Start">For a recording: where the passage starts, in seconds.</param>
    /// <param name="Uri">The source as an MCP resource, to read whole with resources/read or get_source.</param>
    /// <param name="Link">The source's page in AiHub, at its page or second.</param>
    internal sealed record Passage(
        int Citation, string Title, string? Location, int? Page, double? Start, double? End, Guid SourceId, Guid WorkspaceId, string Uri, string Link, string Text);

    internal sealed record SearchResult(string Query, IReadOnlyList<Passage> Passages);

    /// <param name="RetrievalOnly">No language model is available: <see cref="Answer"/> lists the passages instead, and nothing was charged.</param>
    /// <param name="CostMicros">What the answer cost, in micro-credits.</param>
    internal sealed record AskResult(string Question, string Answer, bool RetrievalOnly, string? Model, long CostMicros, IReadOnlyList<Passage> Citations);

    /// <param name="NextOffset">Where the next page starts: call get_source again with this offset; null at the end.</param>
    internal sealed record SourcePage(
        Guid SourceId, string Title, string Kind, string Status, string Uri, int Offset, int Length, int TotalChars, int? NextOffset, IReadOnlyList<int> Pages, string Text);

    [McpServerTool(Name = "list_knowledge_bases", Title = "List knowledge bases", ReadOnly = true, Idempotent = true, OpenWorld = false,
        UseStructuredContent = true)]
    [Description("Lists the knowledge bases this connection can read, with their workspace and how many of their sources are ready or still being processed. Their ids narrow search_knowledge and ask.")]
    public async Task<KnowledgeBaseList> ListKnowledgeBasesAsync(
        [Description("Only this workspace's knowledge bases (an id from list_workspaces); omit for all.")] Guid? workspaceId = null,
        CancellationToken cancellationToken = default)
    {
        var caller = await callers.CurrentAsync(cancellationToken);
        caller.Require(OrgPermissions.KnowledgeRead);
        var workspaces = workspaceId is { } id
            ? [await scope.WorkspaceAsync(caller, id, cancellationToken)]
            : await scope.WorkspacesAsync(caller, cancellationToken);
        var names = workspaces.ToDictionary(w => w.Id, w => w.Name);
        var ids = names.Keys.ToList();
        var orgId = caller.OrganizationId;
        var bases = await db.Set<KnowledgeBase>().AsNoTracking()
            .Where(k => k.OrganizationId == orgId && ids.Contains(k.WorkspaceId))
            .OrderBy(k => k.Name).ThenBy(k => k.Id).ToListAsync(cancellationToken);
        var counts = await db.Set<KnowledgeSource>().AsNoTracking()
            .Where(s => s.OrganizationId == orgId && ids.Contains(s.WorkspaceId) && s.Status != SourceStatus.Uploading)
            .GroupBy(s => new { s.KnowledgeBaseId, s.Status }).Select(g => new { g.Key.KnowledgeBaseId, g.Key.Status, Count = g.Count() })
            .ToListAsync(cancellationToken);
        return new KnowledgeBaseList(orgId, [.. bases.Select(k =>
        {
            var mine = counts.Where(c => c.KnowledgeBaseId == k.Id).ToList();
            int Of(Func<SourceStatus, bool> status) => mine.Where(c => status(c.Status)).Sum(c => c.Count);
            return new KnowledgeBaseItem(k.Id, k.Name, k.Description, k.WorkspaceId, names[k.WorkspaceId], Of(_ => true),
                Of(s => s == SourceStatus.Completed), Of(s => s is not (SourceStatus.Completed or SourceStatus.Failed)), Of(s => s == SourceStatus.Failed));
        })]);
    }

    [McpServerTool(Name = "search_knowledge", Title = "Search knowledge", ReadOnly = true, Idempotent = true, OpenWorld = false,
        UseStructuredContent = true, OutputSchemaType = typeof(SearchResult))]
    [Description("Searches the organisation's documents and recordings (by words and meaning) and returns the best passages, each with a citation: title, page or timestamp, source id and a resource URI to read the whole source. Give a knowledge base or a workspace to narrow it; with neither, everything this connection can read is searched.")]
    public async Task<CallToolResult> SearchKnowledgeAsync(
        [Description("What to look for: a question or some words.")] string query,
        [Description("Only this knowledge base (an id from list_knowledge_bases).")] Guid? knowledgeBaseId = null,
        [Description("Only this workspace's knowledge bases (an id from list_workspaces).")] Guid? workspaceId = null,
        [Description("How many passages to return, 1 to 20; 6 when omitted.")] int? topK = null,
        CancellationToken cancellationToken = default)
    {
        var caller = await callers.CurrentAsync(cancellationToken);
        caller.Require(OrgPermissions.KnowledgeRead);
        var question = RequireQuery(query, nameof(query));
        var k = topK ?? groundingOptions.Value.TopK;
        if (k is < 1 or > MaxTopK)
            throw new McpException($"topK is between 1 and {MaxTopK}.");
        var found = await SearchAsync(caller, knowledgeBaseId, workspaceId, question, k, groundingOptions.Value.MaxTokens, cancellationToken);
        var result = new SearchResult(question, found);
        var text = new StringBuilder();
        if (found.Count == 0)
            text.Append("No passage of the knowledge this connection can read matches \"").Append(question).Append("\".");
        else
            foreach (var p in found)
                AppendCitation(text, p).Append('\n').Append(p.Text).Append("\n\n");
        return Result(text.ToString().TrimEnd(), result);
    }

    [McpServerTool(Name = "ask", Title = "Ask the knowledge", ReadOnly = false, Destructive = false, Idempotent = false, OpenWorld = false,
        UseStructuredContent = true, OutputSchemaType = typeof(AskResult))]
    [Description("Answers a question from the organisation's knowledge with numbered citations [1], [2] to its sources, written by a language model and charged to the organisation's credits. When no model is available, returns the best passages instead (retrieval-only), free. Give a knowledge base or a workspace to narrow it.")]
    public async Task<CallToolResult> AskAsync(
        [Description("The question to answer.")] string question,
        [Description("Only this knowledge base (an id from list_knowledge_bases).")] Guid? knowledgeBaseId = null,
        [Description("Only this workspace's knowledge (an id from list_workspaces).")] Guid? workspaceId = null,
        [Description("The model to answer with, such as gpt-4o-mini; the organisation's default when omitted.")] string? model = null,
        CancellationToken cancellationToken = default)
    {
        var caller = await callers.CurrentAsync(cancellationToken);
        caller.Require(OrgPermissions.KnowledgeRead);
        var asked = RequireQuery(question, nameof(question));
        var settings = groundingOptions.Value;
        var chosen = string.IsNullOrWhiteSpace(model) ? null : model.Trim();
        IReadOnlyList<ModelTarget> routed;
        try
        {
            routed = await router.RouteAsync(caller.OrganizationId, chosen, cancellationToken);
        }
        catch (ProblemException e) when (e.Type == ProblemTypes.NoProvider)
        {
            // No model to write an answer: the passages themselves are the answer, as the web chat gives them.
            var passages = await SearchAsync(caller, knowledgeBaseId, workspaceId, asked, settings.TopK, settings.MaxTokens, cancellationToken);
            var listed = passages.Count == 0
                ? "No language model is configured, and no passage of the knowledge this connection can read matches the question. Nothing was charged."
                : RetrievalOnly.Text(AsGrounding(passages)) + "\nNothing was charged.";
            return Result(listed, new AskResult(asked, listed, true, null, 0, passages));
        }
        catch (ProblemException e)
        {
            throw KnowledgeScope.From(e);
        }

        caller.Require(OrgPermissions.ChatUse);
        // A quarter of the model's context for the passages leaves room for the question and the answer, as in the chat.
        var budget = Math.Max(1, Math.Min(settings.MaxTokens, routed[0].ContextLength / 4));
        var scoped = await scope.SearchScopeAsync(caller, knowledgeBaseId, workspaceId, cancellationToken);
        var found = await SearchAsync(caller, scoped, asked, settings.TopK, budget, cancellationToken);
        if (found.Count == 0)
        {
            const string none = "No passage of the knowledge this connection can read matches the question, so no answer was written and nothing was charged.";
            return Result(none, new AskResult(asked, none, false, null, 0, []));
        }

        var answerWorkspace = scoped.Count == 1 ? scoped[0].Id : caller.WorkspaceId;
        var messages = new List<ChatMessage>();
        if (answerWorkspace is { } ws && await prompts.LayeredAsync(caller.OrganizationId, ws, caller, cancellationToken) is { } prompt)
            messages.Add(new ChatMessage(ChatRole.System, prompt));
        messages.Add(new ChatMessage(ChatRole.System, AsGrounding(found).SystemMessage));
        messages.Add(new ChatMessage(ChatRole.User, asked));

        ChatDone? done = null;
        try
        {
            await using var call = await engine.StartAsync(new ChatRun(caller.SpenderIn(answerWorkspace), chosen, messages, $"mcp:ask:{Guid.CreateVersion7():N}"), cancellationToken);
            await foreach (var e in call.StreamAsync(cancellationToken))
                if (e is ChatDone d)
                    done = d;
        }
        catch (ProblemException e)
        {
            throw KnowledgeScope.From(e);
        }
        if (done is null || done.Outcome == ChatOutcome.Failed)
            throw new McpException($"No model could answer. {done?.Error?.Detail ?? "The call was stopped."} Nothing was charged.");
        var answer = done.Outcome == ChatOutcome.Complete ? done.Text : done.Text + $"\n\n(The answer was cut short: {done.Error?.Detail ?? "it reached its length limit."})";
        var shown = new StringBuilder(answer.TrimEnd()).Append("\n\nSources:\n");
        foreach (var p in found)
            AppendCitation(shown, p).Append('\n');
        return Result(shown.ToString().TrimEnd(), new AskResult(asked, answer, false, done.Model, done.CostMicros, found));
    }

    [McpServerTool(Name = "get_source", Title = "Read a source", ReadOnly = true, Idempotent = true, OpenWorld = false,
        UseStructuredContent = true, OutputSchemaType = typeof(SourcePage))]
    [Description("Reads a source's text a page at a time: a document's extracted text (pages marked \"--- Page N ---\") or a recording's transcript with a [m:ss] timestamp on each line. Long sources come in parts: call again with the nextOffset it gives.")]
    public async Task<CallToolResult> GetSourceAsync(
        [Description("The source's id, as search_knowledge cites it.")] Guid sourceId,
        [Description("Where to start, in characters from the beginning (nextOffset of the previous part); 0 when omitted.")] int? offset = null,
        [Description("For a document with pages: start at this page (1-based) instead of an offset.")] int? page = null,
        [Description("How many characters to return, 1 to 100000; 20000 when omitted.")] int? maxChars = null,
        CancellationToken cancellationToken = default)
    {
        var caller = await callers.CurrentAsync(cancellationToken);
        caller.Require(OrgPermissions.KnowledgeRead);
        var size = maxChars ?? DefaultMaxChars;
        if (size is < 1 or > MaxChars)
            throw new McpException($"maxChars is between 1 and {MaxChars}.");
        if (offset is < 0)
            throw new McpException("offset is 0 or more.");
        if (offset is not null && page is not null)
            throw new McpException("Give an offset or a page, not both.");
        var source = await scope.SourceAsync(caller, sourceId, cancellationToken);
        var text = await texts.ReadAsync(source, cancellationToken);
        int start;
        if (page is { } p)
        {
            if (text.PageStarts.Count == 0)
                throw new McpException("This source has no pages; read it by offset.");
            if (!text.PageStarts.TryGetValue(p, out start))
                throw new McpException($"This source has pages {text.PageStarts.Keys.Min()} to {text.PageStarts.Keys.Max()}.");
        }
        else
            start = offset ?? 0;
        var total = text.Text.Length;
        if (start > total)
            throw new McpException($"offset is past the end: the source has {total} characters.");
        var length = Math.Min(size, total - start);
        // A part never ends between the two halves of a surrogate pair.
        if (length > 0 && start + length < total && char.IsHighSurrogate(text.Text[start + length - 1]))
            length--;
        int? next = start + length < total ? start + length : null;
        var status = source.Status.ToString().ToLowerInvariant();
        var result = new SourcePage(source.Id, source.Title, Kind(source.Format), status, KnowledgeScope.SourceUri(caller.OrganizationId, source.Id),
            start, length, total, next, [.. text.PageStarts.Keys.Order()], text.Text.Substring(start, length));
        var shown = new StringBuilder();
        if (total == 0)
            shown.Append(source.Status == SourceStatus.Completed || source.Status == SourceStatus.Failed
                ? "This source has no text."
                : $"This source is still being processed ({status}); its text is not ready yet.");
        else
        {
            shown.Append(result.Text);
            shown.Append(next is { } n
                ? $"\n\n[Characters {start}-{start + length} of {total}. For the next part, call get_source with sourceId {source.Id} and offset {n}.]"
                : $"\n\n[End of the source: characters {start}-{start + length} of {total}.]");
        }
        return Result(shown.ToString(), result);
    }

    /// <summary>Searches each workspace in scope and merges their passages by rank, numbered from 1.</summary>
    async Task<List<Passage>> SearchAsync(McpCaller caller, Guid? knowledgeBaseId, Guid? workspaceId, string query, int topK, int maxTokens, CancellationToken ct) =>
        await SearchAsync(caller, await scope.SearchScopeAsync(caller, knowledgeBaseId, workspaceId, ct), query, topK, maxTokens, ct);

    async Task<List<Passage>> SearchAsync(McpCaller caller, List<ScopedWorkspace> workspaces, string query, int topK, int maxTokens, CancellationToken ct)
    {
        var lists = new List<List<Passage>>();
        try
        {
            foreach (var ws in workspaces)
            {
                // The query's embedding is paid by the caller, tagged as MCP like any call it makes.
                var found = await grounding.SearchAsync(caller.SpenderIn(ws.Id), ws.Id, ws.KnowledgeBaseIds, query, topK, 1,
                    Math.Max(1, maxTokens / workspaces.Count), ct);
                lists.Add([.. found.Citations.Select((c, i) => ToPassage(caller.OrganizationId, ws.Id, c, found.Texts[i]))]);
            }
        }
        catch (ProblemException e)
        {
            throw KnowledgeScope.From(e);
        }
        // Each list is best first; the best of every workspace comes before the second best of any.
        var merged = lists.SelectMany(l => l.Select((p, rank) => (p, rank))).OrderBy(x => x.rank).Select(x => x.p).Take(topK);
        return [.. merged.Select((p, i) => p with { Citation = i + 1 })];
    }

    Passage ToPassage(Guid orgId, Guid workspaceId, ChatCitation c, string text) => new(
        c.Index, c.Title, c.Label.Length > 0 ? c.Label : null, c.Page, c.Start, c.End, c.SourceId, workspaceId,
        KnowledgeScope.SourceUri(orgId, c.SourceId), new Uri(publicUrl.Value.PublicUrl, c.Link).AbsoluteUri, text);

    static GroundingResult AsGrounding(IReadOnlyList<Passage> passages)
    {
        var citations = passages.Select(p => new ChatCitation(p.Citation, p.SourceId, 0, p.Title, p.Page, p.Start, p.End, p.Location ?? "", "", p.Link)).ToList();
        var found = new FoundPassages(citations, [.. passages.Select(p => p.Text)]);
        return new GroundingResult(citations, found.Texts, KnowledgeGrounding.SystemMessage(found));
    }

    static string RequireQuery(string? text, string name)
    {
        var trimmed = text?.Trim() ?? "";
        if (trimmed.Length == 0)
            throw new McpException($"{name} is empty: give the words or question to look for.");
        if (trimmed.Length > KnowledgeSearch.MaxQueryLength)
            throw new McpException($"{name} is at most {KnowledgeSearch.MaxQueryLength} characters.");
        return trimmed;
    }

    static StringBuilder AppendCitation(StringBuilder text, Passage p)
    {
        text.Append('[').Append(p.Citation).Append("] ").Append(p.Title);
        if (p.Location is { } location)
            text.Append(" (").Append(location).Append(')');
        return text.Append(" — ").Append(p.Uri);
    }

    static string Kind(SourceFormat? format) => format switch
    {
        SourceFormat.Audio => "audio",
        SourceFormat.Video => "video",
        _ => "document",
    };

    static CallToolResult Result<T>(string text, T structured) => new()
    {
        Content = [new TextContentBlock { Text = text }],
        StructuredContent = JsonSerializer.SerializeToElement(structured, Json),
    };
}
