using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Notifications;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Credits.Pools;

internal sealed record AllocationResponse(
    Guid UserId, string Email, string? DisplayName, string Role, bool Capped,
    decimal? Allowance, long? AllowanceMicros, decimal? Held, long? HeldMicros,
    decimal SpentThisMonth, long SpentThisMonthMicros, int PendingRequests, decimal PendingCredits, long PendingMicros);

internal sealed record AllocationList(bool MembersNeedAllocation, IReadOnlyList<AllocationResponse> Items);

/// <summary>A member's own view: capped or not, what is left, and whether the org lets uncapped members draw.</summary>
/// <param name="Status"><c>capped</c>, <c>uncapped</c>, or <c>none</c> when the org requires an allowance and the member has none.</param>
internal sealed record MyAllocation(string Status, bool Capped, decimal? Allowance, long? AllowanceMicros, decimal? Available, long? AvailableMicros,
    decimal SpentThisMonth, long SpentThisMonthMicros, bool MembersNeedAllocation);

internal sealed record AllocationChange(decimal? Credits, string? Reason);

internal sealed record CreditRequestBody(decimal? Credits, string? Reason);

internal sealed record ApproveBody(decimal? Credits);

internal sealed record DenyBody(string? Reason);

internal sealed record PoolSettingsBody(bool? MembersNeedAllocation);

internal sealed record PoolSettingsResponse(bool MembersNeedAllocation);

internal sealed record CreditRequestResponse(
    Guid Id, Guid UserId, string Email, decimal Credits, long CreditsMicros, string Reason, string Status, DateTimeOffset CreatedAt,
    Guid? DecidedBy, DateTimeOffset? DecidedAt, decimal? ApprovedCredits, long? ApprovedMicros, string? DenyReason);

internal sealed record PoolOverview(BalanceResponse Balance, IReadOnlyList<EntryResponse> History);

/// <summary>
/// An org pool's allocations, credit requests and settings, for the API and the web UI alike. Every call checks the
/// caller's grant again (the pages have no route policy) and fetches by (org, id).
/// </summary>
internal sealed class CreditPools(AppDbContext db, Ledger ledger, CreditAccounts accounts, AuditLog audit, Mailer mailer, IOptions<PublicUrlSettings> identity, TimeProvider clock)
{
    public async Task<PoolOverview> PoolAsync(OrgGrant caller, int limit, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsRead);
        var account = await ledger.OpenAsync(CreditOwner.Organization, null, caller.OrganizationId, ct);
        return new PoolOverview(CreditAccounts.Describe(account), (await accounts.HistoryAsync(account.Id, null, limit, ct)).Items);
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
            return new AllocationResponse(m.UserId, m.Email!, m.DisplayName, m.Role.ToString(), cap is not null,
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
        var micros = ToMicros(body.Credits, allowNegative: true);
        var key = $"allocation:{orgId:N}:{userId:N}:" + (requestKey is null ? Guid.NewGuid().ToString("N") : IdempotencyKeys.Digest(requestKey));
        var replay = await db.Set<CreditEntry>().AnyAsync(e => e.IdempotencyKey == key, ct);
        var existing = await AllocationOfAsync(orgId, userId, ct);
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
        if (await AllocationOfAsync(orgId, userId, ct) is not { } allocation)
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

    public async Task<CreditRequestResponse> RequestAsync(OrgGrant caller, Guid userId, CreditRequestBody body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgRead);
        var micros = ToMicros(body.Credits, allowNegative: false);
        var reason = CreditReasons.Require(body.Reason);
        var orgId = caller.OrganizationId;
        var org = await db.Organizations.AsNoTracking().FirstAsync(o => o.Id == orgId, ct);
        if (org.IsPersonal)
            throw Orgs.Conflict("A personal organisation has no pool to ask from.", "Its calls are paid from your own credits.");
        var now = clock.GetUtcNow();
        var request = new CreditRequest
        {
            Id = Guid.CreateVersion7(now), OrganizationId = orgId, UserId = userId, Amount = micros, Reason = reason,
            Status = CreditRequestStatus.Pending, CreatedAt = now,
        };
        db.Add(request);
        audit.Add(AuditKinds.CreditsRequested, userId, new { request = request.Id, creditsMicros = micros, reason }, organizationId: orgId);
        await db.SaveChangesAsync(ct);

        var requester = await db.Users.AsNoTracking().FirstAsync(u => u.Id == userId, ct);
        var managers = await Orgs.ManagersToMailAsync(db, orgId, null, ct);
        var name = string.IsNullOrWhiteSpace(requester.DisplayName) ? requester.Email! : $"{requester.DisplayName.Trim()} ({requester.Email})";
        foreach (var manager in managers)
            await mailer.SendCreditRequestAsync(manager.Email, name, org.Name, Micros.Format(micros), reason, Link(orgId), ct);
        return await DescribeAsync(request, ct);
    }

    /// <summary>Managers see every request of the org; anyone else their own.</summary>
    public async Task<List<CreditRequestResponse>> RequestsAsync(OrgGrant caller, Guid? userId, string? status, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgRead);
        var query = db.Set<CreditRequest>().AsNoTracking().Where(r => r.OrganizationId == caller.OrganizationId);
        if (!string.IsNullOrEmpty(status))
        {
            if (!Enum.TryParse<CreditRequestStatus>(status, ignoreCase: true, out var wanted) || !Enum.IsDefined(wanted) || int.TryParse(status, out _))
                throw ProblemException.Invalid("status", "status is pending, approved or denied.");
            query = query.Where(r => r.Status == wanted);
        }
        if (!caller.Has(OrgPermissions.CreditsManage))
        {
            if (userId is not { } me)
                throw Orgs.Forbidden("Only members see their own requests; this key needs credits:manage to see all.");
            query = query.Where(r => r.UserId == me);
        }
        var requests = await query.OrderByDescending(r => r.CreatedAt).Take(200).ToListAsync(ct);
        var emails = await Orgs.EmailsAsync(db, requests.Select(r => r.UserId), ct);
        return requests.Select(r => Describe(r, emails.GetValueOrDefault(r.UserId, ""))).ToList();
    }

    /// <summary>Adds the approved amount (the asked one unless a manager says otherwise) to the member's allocation, in the same transaction as the decision.</summary>
    public async Task<CreditRequestResponse> ApproveAsync(OrgGrant caller, Guid actorId, Guid requestId, ApproveBody body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsManage);
        var orgId = caller.OrganizationId;
        var request = await FindRequestAsync(orgId, requestId, ct);
        RequirePending(request);
        var micros = body.Credits is null ? request.Amount : ToMicros(body.Credits, allowNegative: false);
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == orgId && m.UserId == request.UserId, ct))
            throw Orgs.Conflict("The member has left the organisation.", "Deny the request instead.");
        var now = clock.GetUtcNow();
        await DecideAndAllocateAsync(request, actorId, micros, now, ct);
        audit.Add(AuditKinds.CreditsRequestApproved, request.UserId, new { request = requestId, creditsMicros = micros }, actorId, orgId);
        await db.SaveChangesAsync(ct);
        var decidedRequest = await FindRequestAsync(orgId, requestId, ct);
        await MailDecisionAsync(decidedRequest, approved: true, null, ct);
        return await DescribeAsync(decidedRequest, ct);
    }

    async Task DecideAndAllocateAsync(CreditRequest request, Guid actorId, long micros, DateTimeOffset now, CancellationToken ct)
    {
        var (orgId, requestId) = (request.OrganizationId, request.Id);
        var accountId = await MemberAccountAsync(orgId, request.UserId, ct);
        await ledger.PostAllAsync([new Posting(accountId, CreditKind.Allocation, micros, Truncate($"credit request: {request.Reason}"), actorId, $"credit-request:{requestId:N}")], ct,
            async (_, c) =>
            {
                // The decision commits with the allocation: of two managers deciding at once, one wins and the other gets 409.
                var decided = await db.Set<CreditRequest>()
                    .Where(r => r.Id == requestId && r.OrganizationId == orgId && r.Status == CreditRequestStatus.Pending)
                    .ExecuteUpdateAsync(u => u.SetProperty(r => r.Status, CreditRequestStatus.Approved).SetProperty(r => r.DecidedBy, actorId)
                        .SetProperty(r => r.DecidedAt, now).SetProperty(r => r.ApprovedAmount, micros), c);
                if (decided == 0)
                    throw AlreadyDecided();
                if (await AllocationOfAsync(orgId, request.UserId, c) is null)
                    db.Add(new MemberAllocation { OrganizationId = orgId, UserId = request.UserId, AccountId = accountId, CreatedAt = now });
            });
    }

    public async Task<CreditRequestResponse> DenyAsync(OrgGrant caller, Guid actorId, Guid requestId, DenyBody body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.CreditsManage);
        var orgId = caller.OrganizationId;
        var request = await FindRequestAsync(orgId, requestId, ct);
        RequirePending(request);
        var reason = CreditReasons.Require(body.Reason);
        var decided = await db.Set<CreditRequest>()
            .Where(r => r.Id == requestId && r.OrganizationId == orgId && r.Status == CreditRequestStatus.Pending)
            .ExecuteUpdateAsync(u => u.SetProperty(r => r.Status, CreditRequestStatus.Denied).SetProperty(r => r.DecidedBy, actorId)
                .SetProperty(r => r.DecidedAt, clock.GetUtcNow()).SetProperty(r => r.DenyReason, reason), ct);
        if (decided == 0)
            throw AlreadyDecided();
        audit.Add(AuditKinds.CreditsRequestDenied, request.UserId, new { request = requestId, reason }, actorId, orgId);
        await db.SaveChangesAsync(ct);
        var decidedRequest = await FindRequestAsync(orgId, requestId, ct);
        await MailDecisionAsync(decidedRequest, approved: false, reason, ct);
        return await DescribeAsync(decidedRequest, ct);
    }

    async Task MailDecisionAsync(CreditRequest request, bool approved, string? reason, CancellationToken ct)
    {
        var member = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == request.UserId, ct);
        if (member?.Email is null)
            return;
        var org = await db.Organizations.AsNoTracking().FirstAsync(o => o.Id == request.OrganizationId, ct);
        await mailer.SendCreditDecisionAsync(member.Email, member.DisplayName, org.Name, approved, Micros.Format(request.Amount),
            request.ApprovedAmount is { } granted ? Micros.Format(granted) : null, reason, Link(org.Id), ct);
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

    async Task<MemberAllocation?> AllocationOfAsync(Guid orgId, Guid userId, CancellationToken ct) =>
        await db.Set<MemberAllocation>().AsNoTracking().FirstOrDefaultAsync(a => a.OrganizationId == orgId && a.UserId == userId, ct);

    /// <summary>Caps a member, reusing their allocation account if they had one before; two callers at once make one.</summary>
    async Task<Guid> OpenAllocationAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        var accountId = await MemberAccountAsync(orgId, userId, ct);
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

    /// <summary>The member's allocation account, kept after a cap is lifted and reused by the next; made once however many ask at once.</summary>
    async Task<Guid> MemberAccountAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        var existing = db.Set<CreditAccount>().AsNoTracking().Where(a => a.Owner == CreditOwner.Member && a.OrganizationId == orgId && a.UserId == userId)
            .Select(a => (Guid?)a.Id);
        if (await existing.FirstOrDefaultAsync(ct) is { } id)
            return id;
        db.Add(new CreditAccount { Id = Guid.CreateVersion7(clock.GetUtcNow()), Owner = CreditOwner.Member, OrganizationId = orgId, UserId = userId, CreatedAt = clock.GetUtcNow() });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
        return (await existing.FirstAsync(ct))!.Value;
    }

    async Task<bool> MembersNeedAllocationAsync(Guid orgId, CancellationToken ct) =>
        await db.Set<PoolSettings>().AnyAsync(s => s.OrganizationId == orgId && s.MembersNeedAllocation, ct);

    async Task RequireMemberAsync(Guid orgId, Guid userId, CancellationToken ct)
    {
        if (!await db.Memberships.AnyAsync(m => m.OrganizationId == orgId && m.UserId == userId, ct))
            throw Orgs.NotFound("No such member.", $"User {userId} is not a member of this organisation.");
    }

    async Task<CreditRequest> FindRequestAsync(Guid orgId, Guid requestId, CancellationToken ct) =>
        await db.Set<CreditRequest>().AsNoTracking().FirstOrDefaultAsync(r => r.OrganizationId == orgId && r.Id == requestId, ct)
        ?? throw Orgs.NotFound("No such credit request.", $"There is no request {requestId} in this organisation.");

    static void RequirePending(CreditRequest request)
    {
        if (request.Status != CreditRequestStatus.Pending)
            throw AlreadyDecided();
    }

    static ProblemException AlreadyDecided() => Orgs.Conflict("The request is already decided.", "A request is approved or denied once.");

    static ProblemException BelowZero(long available) => Orgs.Conflict("An allowance cannot go below zero.",
        $"The member has {Micros.Format(available)} credits of allowance free to lower; lower it by at most that, or remove the cap.");

    async Task<CreditRequestResponse> DescribeAsync(CreditRequest request, CancellationToken ct) =>
        Describe(request, (await Orgs.EmailsAsync(db, [request.UserId], ct)).GetValueOrDefault(request.UserId, ""));

    static CreditRequestResponse Describe(CreditRequest r, string email) => new(
        r.Id, r.UserId, email, Micros.ToCredits(r.Amount), r.Amount, r.Reason, r.Status.ToString().ToLowerInvariant(), r.CreatedAt,
        r.DecidedBy, r.DecidedAt, r.ApprovedAmount is { } a ? Micros.ToCredits(a) : null, r.ApprovedAmount, r.DenyReason);

    Uri Link(Guid orgId) => new(identity.Value.PublicUrl, $"/orgs/{orgId}/credits");

    static string Truncate(string text) => text.Length <= CreditReasons.MaxLength ? text : text[..CreditReasons.MaxLength];

    /// <summary>Credits in, exact micro-credits kept: an amount finer than one micro-credit is refused, not rounded.</summary>
    public static long ToMicros(decimal? credits, bool allowNegative) => Micros.Require(credits, "credits", allowNegative ? MicrosSign.NotZero : MicrosSign.Positive,
        allowNegative ? "Give a non-zero number of credits (negative lowers the allowance)." : "Give a positive number of credits.");
}
