using System.Globalization;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Knowledge.Grounding;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Knowledge.Insights;

internal sealed record QuestionCount(string Question, int Count, DateTimeOffset LastAskedAt);

internal sealed record SourceCount(Guid SourceId, string Title, int Count);

/// <param name="Start">The moment of a recording, in seconds; null for a page.</param>
internal sealed record MomentCount(Guid SourceId, string Title, int? Page, double? Start, string Label, string Link, int Count);

/// <summary>What a workspace's audience asked over the last <see cref="Days"/> days, what answered them, and what found nothing.</summary>
/// <param name="Gaps">Questions no passage answered well: content the workspace lacks.</param>
internal sealed record InsightsResponse(
    int Days, DateTimeOffset Since, IReadOnlyList<QuestionCount> TopQuestions, IReadOnlyList<SourceCount> TopSources, IReadOnlyList<MomentCount> TopMoments,
    IReadOnlyList<QuestionCount> Gaps);

/// <summary>The creator's insight: questions asked most, sources and moments cited most, and the content gaps.</summary>
internal sealed class KnowledgeInsights(AppDbContext db, TimeProvider clock)
{
    public const int DefaultDays = 30;
    public const int MaxDays = 365;
    public const int ListLength = 20;

    // Aggregated in memory over a bounded window: DateTimeOffset is stored as an integer on SQLite, where SQL cannot take its maximum.
    const int MaxRows = 50_000;

    /// <summary>Fenced by (org, workspace) on every table read.</summary>
    public async Task<InsightsResponse> ReportAsync(Guid orgId, Guid workspaceId, int days, CancellationToken ct)
    {
        if (days is < 1 or > MaxDays)
            throw ProblemException.Invalid("days", $"days is between 1 and {MaxDays}.");
        var since = clock.GetUtcNow().AddDays(-days);
        var asked = await db.Set<KnowledgeQuestion>().AsNoTracking()
            .Where(q => q.OrganizationId == orgId && q.WorkspaceId == workspaceId && q.AskedAt >= since)
            .OrderByDescending(q => q.AskedAt).Take(MaxRows)
            .Select(q => new { q.Text, q.Normalized, q.AskedAt, q.Answered }).ToListAsync(ct);
        var cited = await (from c in db.Set<KnowledgeCitation>().AsNoTracking()
                           join q in db.Set<KnowledgeQuestion>() on c.QuestionId equals q.Id
                           where c.OrganizationId == orgId && q.OrganizationId == orgId && q.WorkspaceId == workspaceId && q.AskedAt >= since
                           select new { c.SourceId, c.Page, c.StartSeconds }).Take(MaxRows).ToListAsync(ct);
        var sourceIds = cited.Select(c => c.SourceId).Distinct().ToList();
        var titles = await db.Set<KnowledgeSource>().AsNoTracking()
            .Where(s => s.OrganizationId == orgId && s.WorkspaceId == workspaceId && sourceIds.Contains(s.Id))
            .ToDictionaryAsync(s => s.Id, s => s.Title, ct);

        List<QuestionCount> Count(IEnumerable<(string Text, string Normalized, DateTimeOffset AskedAt)> questions) =>
        [
            .. questions.GroupBy(q => q.Normalized)
                // The latest wording stands for the group: the list is sorted newest first.
                .Select(g => new QuestionCount(g.First().Text, g.Count(), g.Max(q => q.AskedAt)))
                .OrderByDescending(q => q.Count).ThenByDescending(q => q.LastAskedAt).Take(ListLength),
        ];

        var sources = cited.Where(c => titles.ContainsKey(c.SourceId)).GroupBy(c => c.SourceId)
            .Select(g => new SourceCount(g.Key, titles[g.Key], g.Count()))
            .OrderByDescending(s => s.Count).ThenBy(s => s.Title, StringComparer.Ordinal).Take(ListLength).ToList();
        var moments = cited.Where(c => titles.ContainsKey(c.SourceId) && (c.Page is not null || c.StartSeconds is not null))
            .GroupBy(c => (c.SourceId, c.Page, Second: c.StartSeconds is { } s ? (long?)Math.Floor(s) : null))
            .Select(g => new MomentCount(g.Key.SourceId, titles[g.Key.SourceId], g.Key.Page, g.Key.Second,
                Citations.Label(g.Key.Page, g.Key.Second), Citations.Link(workspaceId, g.Key.SourceId, g.Key.Page, g.Key.Second), g.Count()))
            .OrderByDescending(m => m.Count).ThenBy(m => m.Title, StringComparer.Ordinal).ThenBy(m => m.Page).ThenBy(m => m.Start).Take(ListLength).ToList();

        return new InsightsResponse(days, since,
            Count(asked.Select(q => (q.Text, q.Normalized, q.AskedAt))),
            sources, moments,
            Count(asked.Where(q => !q.Answered).Select(q => (q.Text, q.Normalized, q.AskedAt))));
    }

    /// <summary>One CSV for the four lists, told apart by the <c>kind</c> column.</summary>
    public static byte[] Csv(InsightsResponse report) => Credits.Bulk.Csv.Write(csv =>
    {
        foreach (var name in (string[])["kind", "question", "source_id", "title", "page", "start_seconds", "label", "count", "last_asked_at"])
            csv.WriteField(name);
        csv.EndRecord();
        void Question(string kind, QuestionCount q)
        {
            csv.WriteField(kind);
            csv.WriteField(q.Question);
            csv.WriteField("");
            csv.WriteField("");
            csv.WriteField("");
            csv.WriteField("");
            csv.WriteField("");
            csv.WriteField(q.Count);
            csv.WriteField(q.LastAskedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
            csv.EndRecord();
        }
        void Source(string kind, Guid sourceId, string title, int? page, double? start, string label, int count)
        {
            csv.WriteField(kind);
            csv.WriteField("");
            csv.WriteField(sourceId.ToString());
            csv.WriteField(title);
            csv.WriteField(page?.ToString(CultureInfo.InvariantCulture) ?? "");
            csv.WriteField(start?.ToString(CultureInfo.InvariantCulture) ?? "");
            csv.WriteField(label);
            csv.WriteField(count);
            csv.WriteField("");
            csv.EndRecord();
        }
        foreach (var q in report.TopQuestions)
            Question("question", q);
        foreach (var s in report.TopSources)
            Source("source", s.SourceId, s.Title, null, null, "", s.Count);
        foreach (var m in report.TopMoments)
            Source("moment", m.SourceId, m.Title, m.Page, m.Start, m.Label, m.Count);
        foreach (var g in report.Gaps)
            Question("gap", g);
    });
}
