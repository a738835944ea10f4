using System.Text;
using AiHub.Chat.Grounding;
using AiHub.Data;

namespace AiHub.Knowledge.Insights;

/// <summary>Records the questions asked of a workspace's knowledge, and what their answers cited, for the insight page.</summary>
/// <remarks>
/// Written in a unit of work of its own: a failure here is logged and never fails the chat, and never leaves
/// half-saved rows in the chat's own context to break its next save.
/// </remarks>
internal sealed class QuestionLog(IServiceScopeFactory scopes, TimeProvider clock, ILogger<QuestionLog> log)
{
    public async Task RecordAsync(Guid orgId, Guid workspaceId, string question, double? topScore, bool answered, IReadOnlyList<ChatCitation> citations, CancellationToken ct)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var now = clock.GetUtcNow();
            var text = Cut(question.Trim());
            var row = new KnowledgeQuestion
            {
                Id = Guid.CreateVersion7(now),
                OrganizationId = orgId,
                WorkspaceId = workspaceId,
                Text = text,
                Normalized = Normalize(text),
                TopScore = topScore,
                Answered = answered,
                AskedAt = now,
            };
            db.Add(row);
            var rank = 0;
            foreach (var c in citations)
                db.Add(new KnowledgeCitation
                {
                    OrganizationId = orgId,
                    QuestionId = row.Id,
                    SourceId = c.SourceId,
                    ChunkId = c.ChunkId,
                    Page = c.Page,
                    StartSeconds = c.Start,
                    Rank = ++rank,
                });
            await db.SaveChangesAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            log.LogWarning(e, "Could not record a question asked of workspace {WorkspaceId}; the answer goes on without it.", workspaceId);
        }
    }

    /// <summary>Lower case, words separated by single spaces, a trailing question mark or full stop dropped: questions asked alike count together.</summary>
    public static string Normalize(string question)
    {
        var text = new StringBuilder(question.Length);
        foreach (var word in question.ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            (text.Length > 0 ? text.Append(' ') : text).Append(word);
        return Cut(text.ToString().TrimEnd('?', '.', '!', ' '));
    }

    static string Cut(string text) =>
        text.Length <= KnowledgeModelConfiguration.QuestionLength ? text : text[..KnowledgeModelConfiguration.QuestionLength];
}
