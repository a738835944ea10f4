using Microsoft.EntityFrameworkCore;

namespace AiHub.Infrastructure.Audit;

internal sealed record AuditEntry(Guid Id, DateTimeOffset OccurredAt, string Kind, Guid? UserId, Guid? ActorId, Guid? OrganizationId, string? IpAddress, string? UserAgent, string? Data);

internal sealed record AuditPage(IReadOnlyList<AuditEntry> Items, DateTimeOffset? Before);

internal static class AuditQueries
{
    /// <summary>One page of events, newest first; <see cref="AuditPage.Before"/> asks for the next.</summary>
    public static async Task<AuditPage> PageAsync(IQueryable<AuditEvent> query, DateTimeOffset? before, int limit, CancellationToken ct)
    {
        if (before is { } cursor)
            query = query.Where(e => e.OccurredAt < cursor);
        var items = await query.OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id).Take(limit)
            .Select(e => new AuditEntry(e.Id, e.OccurredAt, e.Kind, e.UserId, e.ActorId, e.OrganizationId, e.IpAddress, e.UserAgent, e.Data))
            .ToListAsync(ct);
        return new AuditPage(items, items.Count == limit ? items[^1].OccurredAt : null);
    }
}
