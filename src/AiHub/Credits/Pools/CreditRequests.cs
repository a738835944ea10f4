using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using AiHub.Notifications;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Credits.Pools;

internal sealed record CreditRequestBody(decimal? Credits, string? Reason);

internal sealed record ApproveBody(decimal? Credits);

internal sealed record DenyBody(string? Reason);

internal sealed record CreditRequestResponse(
    Guid Id, Guid UserId, string Email, decimal Credits, long CreditsMicros, string Reason, CreditRequestStatus Status, DateTimeOffset CreatedAt,
    Guid? DecidedBy, DateTimeOffset? DecidedAt, decimal? ApprovedCredits, long? ApprovedMicros, string? DenyReason);

/// <summary>
/// Members ask the org for credits; managers approve (the amount joins the member's allowance) or deny, and both sides
/// are mailed. Every call checks the caller's grant again (the pages have no route policy) and fetches by (org, id).
/// </summary>
internal sealed class CreditRequests(AppDbContext db, Ledger ledger, PoolMembers allocations, AuditLog audit, Mailer mailer, IOptions<PublicUrlSettings> identity, TimeProvider clock)
{
    public async Task<CreditRequestResponse> RequestAsync(OrgGrant caller, Guid userId, CreditRequestBody body, CancellationToken ct)
    {
        Orgs.Require(caller, OrgPermissions.OrgRead);
        var micros = PoolMembers.ToMicros(body.Credits, allowNegative: false);
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
        var micros = body.Credits is null ? request.Amount : PoolMembers.ToMicros(body.Credits, allowNegative: false);
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
        var accountId = await allocations.AccountOfAsync(orgId, request.UserId, ct);
        var decidedHere = false;
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
                if (await allocations.AllocationOfAsync(orgId, request.UserId, c) is null)
                    db.Add(new MemberAllocation { OrganizationId = orgId, UserId = request.UserId, AccountId = accountId, CreatedAt = now });
                decidedHere = true;
            });
        // The ledger answers a key it has seen with the first entry and without running the decision: another manager approved it.
        if (!decidedHere)
            throw AlreadyDecided();
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

    async Task<CreditRequest> FindRequestAsync(Guid orgId, Guid requestId, CancellationToken ct) =>
        await db.Set<CreditRequest>().AsNoTracking().FirstOrDefaultAsync(r => r.OrganizationId == orgId && r.Id == requestId, ct)
        ?? throw Orgs.NotFound("No such credit request.", $"There is no request {requestId} in this organisation.");

    static void RequirePending(CreditRequest request)
    {
        if (request.Status != CreditRequestStatus.Pending)
            throw AlreadyDecided();
    }

    static ProblemException AlreadyDecided() => Orgs.Conflict("The request is already decided.", "A request is approved or denied once.");

    async Task<CreditRequestResponse> DescribeAsync(CreditRequest request, CancellationToken ct) =>
        Describe(request, (await Orgs.EmailsAsync(db, [request.UserId], ct)).GetValueOrDefault(request.UserId, ""));

    static CreditRequestResponse Describe(CreditRequest r, string email) => new(
        r.Id, r.UserId, email, Micros.ToCredits(r.Amount), r.Amount, r.Reason, r.Status, r.CreatedAt,
        r.DecidedBy, r.DecidedAt, r.ApprovedAmount is { } a ? Micros.ToCredits(a) : null, r.ApprovedAmount, r.DenyReason);

    Uri Link(Guid orgId) => new(identity.Value.PublicUrl, $"/orgs/{orgId}/credits");

    static string Truncate(string text) => text.Length <= CreditReasons.MaxLength ? text : text[..CreditReasons.MaxLength];
}
