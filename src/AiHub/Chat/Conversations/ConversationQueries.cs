using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Chat.Conversations;

internal sealed record ConversationResponse(
    Guid Id,
    Guid WorkspaceId,
    string Title,
    bool TitleGenerated,
    string? SystemPrompt,
    string? Model,
    bool Pinned,
    DateTimeOffset? PinnedAt,
    bool Archived,
    DateTimeOffset? ArchivedAt,
    bool Shared,
    DateTimeOffset? SharedAt,
    Guid? CurrentLeafId,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    string? Snippet = null,
    IReadOnlyList<Guid>? KnowledgeBaseIds = null);

/// <summary>One page of a list: pinned conversations lead the first page; <see cref="Before"/> asks for the next.</summary>
internal sealed record ConversationPage(IReadOnlyList<ConversationResponse> Items, DateTimeOffset? Before);

/// <summary>Listing and full-text search of a user's own conversations in one workspace.</summary>
/// <remarks>
/// PostgreSQL matches <c>to_tsvector('simple', …)</c> against <c>websearch_to_tsquery</c> over GIN expression indexes;
/// SQLite matches FTS5 tables that triggers keep in step with titles and message contents.
/// </remarks>
internal sealed class ConversationQueries(AppDbContext db)
{
    const int MaxQueryLength = 200;

    public async Task<ConversationPage> ListAsync(Guid orgId, Guid workspaceId, Guid userId, bool archived, string? q, DateTimeOffset? before, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 100)
            throw ProblemException.Invalid("limit", "limit is between 1 and 100.");
        var query = db.Set<Conversation>().AsNoTracking()
            .Where(c => c.OrganizationId == orgId && c.WorkspaceId == workspaceId && c.OwnerId == userId && (archived ? c.ArchivedAt != null : c.ArchivedAt == null));
        // PostgreSQL refuses NUL in text and no search means a control character: each is a space.
        var terms = q is null ? null : string.Create(q.Length, q, (span, text) =>
        {
            for (var i = 0; i < text.Length; i++)
                span[i] = char.IsControl(text[i]) ? ' ' : text[i];
        }).Trim() is { Length: > 0 } t ? t : null;
        if (terms is { Length: > MaxQueryLength })
            throw ProblemException.Invalid("q", $"A search can be at most {MaxQueryLength} characters.");
        if (terms is not null)
        {
            if (Words(terms).Count == 0)
                throw ProblemException.Invalid("q", "Search for at least one word.");
            var titles = TitleMatches(terms);
            var messages = MessageMatches(terms);
            query = query.Where(c => titles.Contains(c.Id) || messages.Any(m => m.ConversationId == c.Id));
        }

        // Pinned ones are few and all lead the first page; the pages after it walk the rest by recency.
        var pinned = archived || before is not null
            ? []
            : await query.Where(c => c.PinnedAt != null).OrderByDescending(c => c.UpdatedAt).ThenByDescending(c => c.Id).ToListAsync(ct);
        var rest = archived ? query : query.Where(c => c.PinnedAt == null);
        if (before is { } cursor)
            rest = rest.Where(c => c.UpdatedAt < cursor);
        var page = await rest.OrderByDescending(c => c.UpdatedAt).ThenByDescending(c => c.Id).Take(limit).ToListAsync(ct);
        DateTimeOffset? next = null;
        if (page.Count == limit)
        {
            // The whole last instant goes on this page, so the next one (strictly before it) skips none.
            next = page[^1].UpdatedAt;
            var last = next.Value;
            var seen = page.Select(c => c.Id).ToList();
            page.AddRange(await rest.Where(c => c.UpdatedAt == last && !seen.Contains(c.Id)).OrderByDescending(c => c.Id).ToListAsync(ct));
        }

        var items = pinned.Concat(page).ToList();
        var snippets = terms is null ? [] : await SnippetsAsync(items.Select(c => c.Id).ToList(), terms, ct);
        return new ConversationPage(items.Select(c => Describe(c, snippets.GetValueOrDefault(c.Id))).ToList(), next);
    }

    public static ConversationResponse Describe(Conversation c, string? snippet = null) => new(
        c.Id, c.WorkspaceId, c.Title, c.TitleGenerated, c.SystemPrompt, c.Model, c.PinnedAt is not null, c.PinnedAt,
        c.ArchivedAt is not null, c.ArchivedAt, c.ShareTokenHash is not null, c.SharedAt, c.CurrentLeafId, c.CreatedAt, c.UpdatedAt, snippet, c.KnowledgeBaseIds);

    /// <summary>The newest matching message of each conversation, cut around the first term it contains.</summary>
    async Task<Dictionary<Guid, string>> SnippetsAsync(List<Guid> ids, string terms, CancellationToken ct)
    {
        var hits = await MessageMatches(terms).Where(m => ids.Contains(m.ConversationId))
            .OrderByDescending(m => m.CreatedAt).Select(m => new { m.ConversationId, m.Content }).ToListAsync(ct);
        var words = Words(terms);
        return hits.DistinctBy(h => h.ConversationId).ToDictionary(h => h.ConversationId, h => Snippet(h.Content, words));
    }

    IQueryable<Guid> TitleMatches(string terms)
    {
        if (db.Database.IsNpgsql())
            return db.Set<Conversation>().Where(c => EF.Functions.ToTsVector("simple", c.Title).Matches(EF.Functions.WebSearchToTsQuery("simple", terms))).Select(c => c.Id);
        var match = FtsQuery(terms);
        return db.Database.SqlQuery<Guid>($"""
            SELECT c.id AS "Value" FROM conversations_fts JOIN conversations AS c ON c.rowid = conversations_fts.rowid
            WHERE conversations_fts MATCH {match}
            """);
    }

    IQueryable<StoredMessage> MessageMatches(string terms)
    {
        if (db.Database.IsNpgsql())
            return db.Set<StoredMessage>().Where(m => EF.Functions.ToTsVector("simple", m.Content).Matches(EF.Functions.WebSearchToTsQuery("simple", terms)));
        var match = FtsQuery(terms);
        var ids = db.Database.SqlQuery<Guid>($"""
            SELECT m.id AS "Value" FROM chat_messages_fts JOIN chat_messages AS m ON m.rowid = chat_messages_fts.rowid
            WHERE chat_messages_fts MATCH {match}
            """);
        return db.Set<StoredMessage>().Where(m => ids.Contains(m.Id));
    }

    /// <summary>Each word as an FTS5 string, all required: the user's text never reaches FTS5's query syntax.</summary>
    static string FtsQuery(string terms) =>
        string.Join(' ', Words(terms).Select(w => "\"" + w.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));

    static List<string> Words(string terms) =>
        terms.Split(' ', '\t', '\n', '\r').Select(w => w.Trim('"', '-', '(', ')', '*')).Where(w => w.Length > 0 && !w.Equals("or", StringComparison.OrdinalIgnoreCase)).ToList();

    static string Snippet(string content, List<string> words)
    {
        const int Before = 60, After = 140;
        var at = words.Select(w => content.IndexOf(w, StringComparison.OrdinalIgnoreCase)).Where(i => i >= 0).DefaultIfEmpty(0).Min();
        var start = Math.Max(0, at - Before);
        var end = Math.Min(content.Length, at + After);
        var text = content[start..end].ReplaceLineEndings(" ").Trim();
        return (start > 0 ? "…" : "") + text + (end < content.Length ? "…" : "");
    }
}
