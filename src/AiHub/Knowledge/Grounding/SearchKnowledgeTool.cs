using System.ComponentModel;
using System.Text.Encodings.Web;
using System.Text.Json;
using AiHub.Chat.Grounding;
using AiHub.Chat.Tools;
using AiHub.Credits.Pools;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Grounding;

/// <summary>
/// <c>search_knowledge</c>: the model searches all of the workspace's knowledge; each passage it gets carries the
/// citation number it is cited by, continuing after the turn's own, and the citations reach the client as it returns.
/// </summary>
internal sealed class SearchKnowledgeTool(AppDbContext db, KnowledgeGrounding grounding, IOptions<GroundingSettings> options) : IChatTool
{
    public const string ToolName = "search_knowledge";

    public const string About =
        "Searches this workspace's knowledge bases (documents and recordings) and returns the best passages as a JSON list of {citation, title, location, text}. Cite a passage you use by its number, as [n].";

    const int MaxQueryLength = 500;
    const int MaxTopK = 20;

    // The model reads this text: dashes and accents as they are, not as \u escapes that cost tokens.
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public string Name => ToolName;

    public string Description => About;

    /// <remarks>Offered only in a workspace that has knowledge; whether the caller may read it is checked when it runs.</remarks>
    public bool IsAvailable(ToolContext context) =>
        context.WorkspaceId is { } workspaceId
        && db.Set<KnowledgeBase>().AsNoTracking().Any(k => k.OrganizationId == context.OrganizationId && k.WorkspaceId == workspaceId);

    public AIFunction Create(ToolContext context) =>
        AIFunctionFactory.Create(
            ([Description("What to look for in the workspace's documents and recordings.")] string query,
             [Description("How many passages to return (1-20).")] int? topK = null,
             CancellationToken cancellationToken = default) => SearchAsync(context, query, topK, cancellationToken),
            Name, Description);

    /// <summary>What the model reads: the passages with their citation numbers, or why there are none; never throws for a refusal.</summary>
    public async Task<string> SearchAsync(ToolContext context, string? query, int? topK, CancellationToken ct)
    {
        query = (query ?? "").Trim();
        if (query.Length == 0)
            return "Knowledge search failed: the query is empty; give some words to search for.";
        if (query.Length > MaxQueryLength)
            return $"Knowledge search failed: the query is longer than {MaxQueryLength} characters; shorten it.";
        if (context.WorkspaceId is not { } workspaceId)
            return "Knowledge search failed: this conversation is not in a workspace.";
        var spender = new Spender(context.OrganizationId, context.UserId, context.ApiKeyId, workspaceId);
        if (!await grounding.CanReadAsync(spender, ct))
            return "Knowledge search failed: you may not read this workspace's knowledge.";
        var settings = options.Value;
        var collector = context.Citations ?? new CitationCollector(1);
        var found = await grounding.SearchAsync(spender, workspaceId, null, query, Math.Clamp(topK ?? settings.TopK, 1, MaxTopK), 1, settings.MaxTokens, ct, collector);
        if (found.Citations.Count == 0)
            return $"No passage of this workspace's knowledge matches \"{query}\".";
        return JsonSerializer.Serialize(found.Citations.Select((c, i) => new
        {
            citation = c.Index,
            title = c.Title,
            location = c.Label.Length > 0 ? c.Label : null,
            text = found.Texts[i],
        }), Json);
    }
}
