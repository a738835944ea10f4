using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits;

/// <summary>Balances, histories and the admin adjustment of credit accounts, for the API and the pages alike.</summary>
internal sealed class CreditAccounts(AppDbContext db, Ledger ledger, AuditLog audit, IEnumerable<ICallSubjects> subjects)
{
    /// <remarks>The reason is required and audited; <paramref name="idempotencyKey"/> makes a retried adjustment harmless.</remarks>
    public async Task<BalanceResponse> AdjustAsync(AdjustRequest body, string idempotencyKey, Guid actor, CancellationToken ct)
    {
        var reason = CreditReasons.Require(body.Reason);
        var micros = Micros.Require(body.Amount, "amount", MicrosSign.NotZero, "Give a non-zero amount of credits (negative takes credits away).");
        // Keys are the admin's own, and the audit event commits with the entry: a retry writes neither again.
        var key = $"adjust:{actor:N}:{idempotencyKey}";
        await ledger.PostAsync(body.AccountId, CreditKind.Adjustment, micros, reason, actor, key, ct, async (entry, token) =>
        {
            var owner = await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == entry.AccountId, token);
            audit.Add(AuditKinds.CreditsAdjusted, owner.UserId, new { account = owner.Id, amountMicros = micros, reason, entry = entry.Id }, actor, owner.OrganizationId);
        });
        return Describe(await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == body.AccountId, ct));
    }

    /// <summary>
    /// The movements of an account, newest first: one line per AI call with its model and what it was for, and no
    /// bookkeeping lines that moved nothing (the historical reservation and release entries of amount zero).
    /// </summary>
    /// <param name="reader">The user reading it: their own calls are titled with their conversation; null names no conversation.</param>
    public async Task<HistoryPage> HistoryAsync(Guid accountId, Guid? reader, DateTimeOffset? before, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 200)
            throw ProblemException.Invalid("limit", "limit is between 1 and 200.");
        var moved = db.Set<CreditEntry>().AsNoTracking().Where(e => e.AccountId == accountId && e.Amount != 0);
        var query = moved;
        if (before is { } cursor)
            query = query.Where(e => e.CreatedAt < cursor);
        var entries = await query.OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.Id).Take(limit).ToListAsync(ct);
        if (entries.Count == limit)
        {
            // The cursor is a time and one commit can stamp many entries alike: the page takes all of its last instant.
            var last = entries[^1].CreatedAt;
            var seen = entries.Where(e => e.CreatedAt == last).Select(e => e.Id).ToList();
            entries.AddRange(await moved.Where(e => e.CreatedAt == last && !seen.Contains(e.Id)).OrderByDescending(e => e.Id).ToListAsync(ct));
        }
        var calls = await CallsAsync(entries, reader, ct);
        return new HistoryPage(entries.Select(e => Describe(e) with { Call = e.HoldId is { } hold ? calls.GetValueOrDefault(hold) : null }).ToList(),
            entries.Count >= limit ? entries[^1].CreatedAt : null);
    }

    /// <summary>The calls that the usage entries paid for, by hold: the model from the usage record, the subject from the feature that made the call.</summary>
    async Task<Dictionary<Guid, CallResponse>> CallsAsync(List<CreditEntry> entries, Guid? reader, CancellationToken ct)
    {
        var holdIds = entries.Where(e => e.HoldId is not null).Select(e => e.HoldId!.Value).Distinct().ToList();
        if (holdIds.Count == 0)
            return [];
        // The holds are named by entries of the account being read, which the caller may read: no tenant narrows them further.
        var holds = await db.Set<LedgerHold>().AsNoTracking().Where(h => holdIds.Contains(h.Id))
            .Select(h => new { h.Id, h.IdempotencyKey, h.ApiKeyId }).ToDictionaryAsync(h => h.Id, ct);
        var usage = (await db.Set<Usage.UsageRecord>().IgnoreQueryFilters().AsNoTracking()
                .Where(r => r.ReservationId != null && holdIds.Contains(r.ReservationId.Value))
                .Select(r => new { Hold = r.ReservationId!.Value, r.Provider, r.Model, r.InputTokens, r.OutputTokens }).ToListAsync(ct))
            .GroupBy(r => r.Hold).ToDictionary(g => g.Key, g => g.First());
        var named = new Dictionary<string, CallSubject>();
        if (reader is { } who)
            foreach (var source in subjects)
                foreach (var (key, subject) in await source.DescribeAsync(holds.Values.Select(h => h.IdempotencyKey).ToList(), who, ct))
                    named.TryAdd(key, subject);
        return holdIds.ToDictionary(id => id, id =>
        {
            var record = usage.GetValueOrDefault(id);
            var hold = holds.GetValueOrDefault(id);
            var subject = hold is null ? null : named.GetValueOrDefault(hold.IdempotencyKey);
            return new CallResponse(record?.Provider, record?.Model, record?.InputTokens ?? 0, record?.OutputTokens ?? 0,
                subject?.What ?? (hold?.ApiKeyId is null ? "AI call" : "API call"), subject?.Title, subject?.Url, hold?.ApiKeyId is not null);
        });
    }

    public static EntryResponse Describe(CreditEntry e) =>
        new(e.Id, e.Kind, Micros.ToCredits(e.Amount), e.Amount, e.Reference, e.ActorId, e.CreatedAt);

    public static BalanceResponse Describe(CreditAccount a) => new(
        a.Id, Micros.ToCredits(a.Balance), a.Balance, Micros.ToCredits(a.Reserved), a.Reserved, Micros.ToCredits(a.Balance - a.Reserved), a.Balance - a.Reserved);
}
