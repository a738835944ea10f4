using AiHub.Credits;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Chat.Conversations;

/// <summary>
/// The keys of a conversation's AI calls (<c>chat:{conversation}:{call}</c>, and <c>title:</c> and <c>follow-ups:</c>
/// for its side calls), and what a credit history says about them: the conversation's title and page, for its owner.
/// </summary>
internal sealed class ConversationCalls(AppDbContext db) : ICallSubjects
{
    public const string Answer = "chat";
    public const string Title = "title";
    public const string FollowUps = "follow-ups";

    static readonly Dictionary<string, string> What = new()
    {
        [Answer] = "Chat",
        [Title] = "Chat title",
        [FollowUps] = "Suggested follow-ups",
    };

    /// <summary>A new call's key: unique per call, and naming its conversation.</summary>
    public static string Key(string purpose, Guid conversationId) => $"{purpose}:{conversationId:N}:{Guid.CreateVersion7():N}";

    public static string Purpose(string key) => key.Split(':')[0];

    static (string Purpose, Guid Conversation)? Parse(string key)
    {
        var parts = key.Split(':');
        return parts.Length == 3 && What.ContainsKey(parts[0]) && Guid.TryParseExact(parts[1], "N", out var id) ? (parts[0], id) : null;
    }

    public async Task<IReadOnlyDictionary<string, CallSubject>> DescribeAsync(IReadOnlyCollection<string> callKeys, Guid reader, CancellationToken ct)
    {
        var calls = callKeys.Select(k => (Key: k, Call: Parse(k))).Where(c => c.Call is not null).ToList();
        if (calls.Count == 0)
            return new Dictionary<string, CallSubject>();
        var ids = calls.Select(c => c.Call!.Value.Conversation).Distinct().ToList();
        // A conversation is private to its owner: a history read by anyone else (an org's pool) names none.
        var conversations = await db.Set<Conversation>().IgnoreQueryFilters().AsNoTracking()
            .Where(c => ids.Contains(c.Id) && c.OwnerId == reader)
            .Select(c => new { c.Id, c.OrganizationId, c.WorkspaceId, c.Title })
            .ToDictionaryAsync(c => c.Id, ct);
        return calls.ToDictionary(c => c.Key, c =>
        {
            var (purpose, id) = c.Call!.Value;
            return conversations.GetValueOrDefault(id) is { } found
                ? new CallSubject(What[purpose], found.Title, $"/orgs/{found.OrganizationId}/workspaces/{found.WorkspaceId}/chat/{found.Id}")
                : new CallSubject(What[purpose], null, null);
        });
    }
}
