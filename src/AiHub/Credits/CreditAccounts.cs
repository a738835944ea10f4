using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits;

/// <summary>Balances, histories and the admin adjustment of credit accounts, for the API and the pages alike.</summary>
internal sealed class CreditAccounts(AppDbContext db, Ledger ledger, AuditLog audit)
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

    public async Task<HistoryPage> HistoryAsync(Guid accountId, DateTimeOffset? before, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 200)
            throw ProblemException.Invalid("limit", "limit is between 1 and 200.");
        var query = db.Set<CreditEntry>().AsNoTracking().Where(e => e.AccountId == accountId);
        if (before is { } cursor)
            query = query.Where(e => e.CreatedAt < cursor);
        var entries = await query.OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.Id).Take(limit).ToListAsync(ct);
        if (entries.Count == limit)
        {
            // The cursor is a time and one commit can stamp many entries alike: the page takes all of its last instant.
            var last = entries[^1].CreatedAt;
            var seen = entries.Where(e => e.CreatedAt == last).Select(e => e.Id).ToList();
            entries.AddRange(await db.Set<CreditEntry>().AsNoTracking()
                .Where(e => e.AccountId == accountId && e.CreatedAt == last && !seen.Contains(e.Id)).OrderByDescending(e => e.Id).ToListAsync(ct));
        }
        return new HistoryPage(entries.Select(Describe).ToList(), entries.Count >= limit ? entries[^1].CreatedAt : null);
    }

    public static EntryResponse Describe(CreditEntry e) =>
        new(e.Id, e.Kind, Micros.ToCredits(e.Amount), e.Amount, e.Reference, e.ActorId, e.CreatedAt);

    public static BalanceResponse Describe(CreditAccount a) => new(
        a.Id, Micros.ToCredits(a.Balance), a.Balance, Micros.ToCredits(a.Reserved), a.Reserved, Micros.ToCredits(a.Balance - a.Reserved), a.Balance - a.Reserved);
}
