using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Pools;

internal sealed record AllocationResponse(
    Guid UserId, string Email, string? DisplayName, OrgRole Role, bool Capped,
    decimal? Allowance, long? AllowanceMicros, decimal? Held, long? HeldMicros,
    decimal SpentThisMonth, long SpentThisMonthMicros, int PendingRequests, decimal PendingCredits, long PendingMicros);

internal sealed record AllocationList(bool MembersNeedAllocation, IReadOnlyList<AllocationResponse> Items);

/// <summary>A member's own view: capped or not, what is left, and whether the org lets uncapped members draw.</summary>
/// <param name="Status"><c>capped</c>, <c>uncapped</c>, or <c>none</c> when the org requires an allowance and the member has none.</param>
internal sealed record MyAllocation(string Status, bool Capped, decimal? Allowance, long? AllowanceMicros, decimal? Available, long? AvailableMicros,
    decimal SpentThisMonth, long SpentThisMonthMicros, bool MembersNeedAllocation);

internal sealed record AllocationChange(decimal? Credits, string? Reason);

internal sealed record PoolSettingsBody(bool? MembersNeedAllocation);

internal sealed record PoolSettingsResponse(bool MembersNeedAllocation);

internal sealed record PoolOverview(BalanceResponse Balance, IReadOnlyList<EntryResponse> History);

/// <summary>
/// An org pool's allowances (who is capped, by how much) and its settings, for the API and the web UI alike. Every call
/// checks the caller's grant again (the pages have no route policy) and fetches by (org, id).
/// </summary>
internal sealed class Allowances(AppDbContext db, Ledger ledger, CreditAccounts accounts, PoolMembers allocations, AuditLog audit, TimeProvider clock)
{
    public async Task<PoolOverview> PoolAsync(OrgGrant caller, int limit, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsRead);
        var account = await ledger.OpenAsync(CreditOwner.Organization, null, caller.OrganizationId, ct);
        return new PoolOverview(CreditAccounts.Describe(account), (await accounts.HistoryAsync(account.Id, null, null, limit, ct)).Items);
    }

    public async Task<AllocationList> ListAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsManage);
        var orgId = caller.OrganizationId;
        var members = await (from m in db.Memberships
                             join u in db.Users on m.UserId equals u.Id
                             where m.OrganizationId == orgId
                             orderby u.Email
                             select new { m.UserId, u.Email, u.DisplayName, m.Role }).ToListAsync(ct);
        var caps = await (from a in db.Set<MemberAllocation>()
                          join c in db.Set<CreditAccount>() on a.AccountId equals c.Id
                          where a.OrganizationId == orgId
                          select new { a.UserId, c.Balance, c.Reserved }).ToDictionaryAsync(c => c.UserId, ct);
        var spent = await SpentThisMonthAsync(orgId, null, ct);
        var pending = await db.Set<CreditRequest>().Where(r => r.OrganizationId == orgId && r.Status == CreditRequestStatus.Pending)
            .GroupBy(r => r.UserId).Select(g => new { UserId = g.Key, Count = g.Count(), Amount = g.Sum(r => r.Amount) }).ToDictionaryAsync(p => p.UserId, ct);
        var items = members.Select(m =>
        {
            var cap = caps.GetValueOrDefault(m.UserId);
            var used = spent.GetValueOrDefault(m.UserId);
            var asked = pending.GetValueOrDefault(m.UserId);
            return new AllocationResponse(m.UserId, m.Email!, m.DisplayName, m.Role, cap is not null,
                cap is null ? null : Micros.ToCredits(cap.Balance), cap?.Balance, cap is null ? null : Micros.ToCredits(cap.Reserved), cap?.Reserved,
                Micros.ToCredits(used), used, asked?.Count ?? 0, Micros.ToCredits(asked?.Amount ?? 0), asked?.Amount ?? 0);
        }).ToList();
        return new AllocationList(await MembersNeedAllocationAsync(orgId, ct), items);
    }

    public async Task<MyAllocation> MineAsync(OrgGrant caller, Guid userId, CancellationToken ct)
    {
        var orgId = caller.OrganizationId;
        var cap = await (from a in db.Set<MemberAllocation>()
                         join c in db.Set<CreditAccount>() on a.AccountId equals c.Id
                         where a.OrganizationId == orgId && a.UserId == userId
                         select new { c.Balance, c.Reserved }).FirstOrDefaultAsync(ct);
        var spent = (await SpentThisMonthAsync(orgId, userId, ct)).GetValueOrDefault(userId);
        var required = await MembersNeedAllocationAsync(orgId, ct);
        return new MyAllocation(cap is not null ? "capped" : required ? "none" : "uncapped", cap is not null, cap is null ? null : Micros.ToCredits(cap.Balance), cap?.Balance,
            cap is null ? null : Micros.ToCredits(cap.Balance - cap.Reserved), cap is null ? null : cap.Balance - cap.Reserved,
            Micros.ToCredits(spent), spent, required);
    }

    /// <summary>
    /// Raises (positive) or lowers (negative) a member's allowance with an Allocation entry; the credits stay in the pool.
    /// The first change makes the member capped.
    /// </summary>
    /// <remarks><paramref name="requestKey"/> (the Idempotency-Key header) makes a retried change harmless.</remarks>
    public async Task<AllocationResponse> ChangeAsync(OrgGrant caller, Guid actorId, Guid userId, AllocationChange body, string? requestKey, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsManage);
        var orgId = caller.OrganizationId;
        await RequireMemberAsync(orgId, userId, ct);
        var reason = CreditReasons.Require(body.Reason);
        var micros = PoolMembers.ToMicros(body.Credits, allowNegative: true);
        var key = $"allocation:{orgId:N}:{userId:N}:" + (requestKey is null ? Guid.NewGuid().ToString("N") : IdempotencyKeys.Digest(requestKey));
        var replay = await db.Set<CreditEntry>().AnyAsync(e => e.IdempotencyKey == key, ct);
        var existing = await allocations.AllocationOfAsync(orgId, userId, ct);
        if (existing is null && micros < 0 && !replay)
            throw BelowZero(0);
        var accountId = existing?.AccountId ?? await OpenAllocationAsync(orgId, userId, ct);
        CreditEntry entry;
        try
        {
            entry = await ledger.PostAsync(accountId, CreditKind.Allocation, micros, reason, actorId, key, ct);
        }
        catch (ProblemException short_) when (short_.Type == ProblemTypes.InsufficientCredits)
        {
            var account = await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == accountId, ct);
            throw BelowZero(account.Balance - account.Reserved);
        }
        if (!replay)
        {
            audit.Add(AuditKinds.CreditsAllocationChanged, userId, new { creditsMicros = micros, reason, entry = entry.Id }, actorId, orgId);
            await db.SaveChangesAsync(ct);
        }
        return (await ListAsync(caller, ct)).Items.First(i => i.UserId == userId);
    }

    /// <summary>Lifts a member's cap: what is left of the allowance is written off with an entry, and the member draws uncapped.</summary>
    public async Task RemoveAsync(OrgGrant caller, Guid actorId, Guid userId, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsManage);
        var orgId = caller.OrganizationId;
        await RequireMemberAsync(orgId, userId, ct);
        if (await allocations.AllocationOfAsync(orgId, userId, ct) is not { } allocation)
            return;
        var account = await db.Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == allocation.AccountId, ct);
        var left = account.Balance - account.Reserved;
        if (left > 0)
            await ledger.PostAsync(account.Id, CreditKind.Expiry, -left, "allocation removed: the member draws uncapped", actorId,
                $"allocation-end:{account.Id:N}:{allocation.CreatedAt.UtcTicks}", ct);
        var removed = await db.Set<MemberAllocation>().Where(a => a.OrganizationId == orgId && a.UserId == userId).ExecuteDeleteAsync(ct);
        if (removed == 0)
            return;
        audit.Add(AuditKinds.CreditsAllocationRemoved, userId, new { writtenOffMicros = Math.Max(0, left) }, actorId, orgId);
        await db.SaveChangesAsync(ct);
    }

    public async Task<PoolSettingsResponse> SettingsAsync(OrgGrant caller, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsManage);
        return new PoolSettingsResponse(await MembersNeedAllocationAsync(caller.OrganizationId, ct));
    }

    public async Task<PoolSettingsResponse> ChangeSettingsAsync(OrgGrant caller, Guid actorId, PoolSettingsBody body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsManage);
        if (body.MembersNeedAllocation is not { } need)
            throw ProblemException.Invalid("membersNeedAllocation", "Say true or false.");
        var orgId = caller.OrganizationId;
        var settings = await db.Set<PoolSettings>().FirstOrDefaultAsync(s => s.OrganizationId == orgId, ct);
        if (settings is null)
            db.Add(settings = new PoolSettings { OrganizationId = orgId });
        settings.MembersNeedAllocation = need;
        settings.UpdatedAt = clock.GetUtcNow();
        audit.Add(AuditKinds.CreditsPoolSettingsChanged, null, new { membersNeedAllocation = need }, actorId, orgId);
        await db.SaveChangesAsync(ct);
        return new PoolSettingsResponse(need);
    }

    /// <summary>What each member's settled AI calls cost this calendar month (UTC), capped or not.</summary>
    async Task<Dictionary<Guid, long>> SpentThisMonthAsync(Guid orgId, Guid? userId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var start = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var query = db.Set<LedgerHold>().Where(h => h.OrganizationId == orgId && h.State == HoldState.Posted && h.CreatedAt >= start && h.UserId != null);
        if (userId is { } one)
            query = query.Where(h => h.UserId == one);
        return await query.GroupBy(h => h.UserId!.Value).Select(g => new { UserId = g.Key, Spent = g.Sum(h => h.ActualCost ?? 0) })
            .ToDictionaryAsync(s => s.UserId, s => s.Spent, ct);
    }

    /// <summary>Caps a member, reusing their allocation account if they had one before; two callers at once make one.</summary>
    async Task<Guid> OpenAllocationAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        var accountId = await allocations.AccountOfAsync(orgId, userId, ct);
        db.Add(new MemberAllocation { OrganizationId = orgId, UserId = userId, AccountId = accountId, CreatedAt = clock.GetUtcNow() });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            // Another request capped the member at the same moment, with the same account.
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
        return accountId;
    }

    async Task<bool> MembersNeedAllocationAsync(Guid orgId, CancellationToken ct) =>
        await db.Set<PoolSettings>().AnyAsync(s => s.OrganizationId == orgId && s.MembersNeedAllocation, ct);

    async Task RequireMemberAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == orgId && m.UserId == userId, ct))
            throw Orgs.NotFound("No such member.", $"User {userId} is not a member of this organisation.");
    }

    static ProblemException BelowZero(long available) => Orgs.Conflict("An allowance cannot go below zero.",
        $"The member has {Micros.Format(available)} credits of allowance free to lower; lower it by at most that, or remove the cap.");
}
