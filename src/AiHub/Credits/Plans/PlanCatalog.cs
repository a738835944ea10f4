using System.Text.RegularExpressions;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Plans;

/// <summary>A plan as the API shows it: money as decimal next to the exact integer, a null limit for unlimited.</summary>
internal sealed record PlanResponse(
    string Code, string Name, int? ChatQuestions, QuotaPeriod ChatPeriod, long? StorageBytes, int? Videos,
    decimal Price, long PriceCents, string Currency, decimal Grant, long GrantMicros, bool Active, int SortOrder, long? MaxFileBytes);

/// <summary>A whole plan: a missing limit means unlimited. Grant is in credits (at most 6 decimals).</summary>
internal sealed record PlanRequest(
    string? Name, int? ChatQuestions, string? ChatPeriod, long? StorageBytes, int? Videos,
    long? PriceCents, string? Currency, decimal? Grant, bool? Active, int? SortOrder, long? MaxFileBytes = null);

internal sealed record AssignPlanRequest(string? Code);

internal sealed record QuotaResponse(string Kind, bool Allowed, long? Limit, long Used, long? Remaining, DateTimeOffset? ResetsAt, string Message);

internal sealed record OrgPlanResponse(Guid OrganizationId, PlanResponse Plan, DateTimeOffset? Since, IReadOnlyList<QuotaResponse> Quotas);

internal static class PlanAuditKinds
{
    public const string PlanCreated = "plan.created";
    public const string PlanUpdated = "plan.updated";
    public const string OrgPlanChanged = "org.plan_changed";
}

/// <summary>The plans on offer, who is on which, and the admin's changes to both; every change is audited.</summary>
internal sealed partial class PlanCatalog(AppDbContext db, AuditLog audit, IQuotaService quotas, TimeProvider clock)
{
    /// <summary>The web page that lists the plans; problems link here to say how to get more.</summary>
    public const string PlansPath = "/plans";

    public static async Task<Plan> PlanOfAsync(AppDbContext db, Guid orgId, CancellationToken ct)
    {
        var code = await db.Set<OrgPlan>().AsNoTracking().Where(p => p.OrganizationId == orgId).Select(p => p.PlanCode).FirstOrDefaultAsync(ct) ?? Plan.Free;
        return await db.Set<Plan>().AsNoTracking().FirstAsync(p => p.Code == code, ct);
    }

    public async Task<List<PlanResponse>> ListAsync(bool includeInactive, CancellationToken ct)
    {
        var plans = await db.Set<Plan>().AsNoTracking().Where(p => includeInactive || p.Active).ToListAsync(ct);
        return plans.OrderBy(p => p.SortOrder).ThenBy(p => p.Code, StringComparer.Ordinal).Select(Describe).ToList();
    }

    public async Task<OrgPlanResponse> OfOrgAsync(Guid orgId, CancellationToken ct)
    {
        var since = await db.Set<OrgPlan>().AsNoTracking().Where(p => p.OrganizationId == orgId).Select(p => (DateTimeOffset?)p.Since).FirstOrDefaultAsync(ct);
        var plan = await PlanOfAsync(db, orgId, ct);
        var statuses = new List<QuotaResponse>();
        foreach (var kind in Enum.GetValues<QuotaKind>())
        {
            var s = await quotas.GetAsync(orgId, kind, ct);
            statuses.Add(new QuotaResponse(KindName(kind), s.Allowed, s.Limit, s.Used, s.Remaining, s.ResetsAt, s.Message));
        }
        return new OrgPlanResponse(orgId, Describe(plan), since, statuses);
    }

    /// <summary>Creates the plan or replaces all of its fields; the limits apply at once to every organisation on it.</summary>
    public async Task<(PlanResponse Plan, bool Created)> SaveAsync(string code, PlanRequest body, Guid actorId, CancellationToken ct)
    {
        code = RequireCode(code);
        var name = body.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 100)
            throw ProblemException.Invalid("name", "Give a name of 1 to 100 characters.");
        if (body.ChatQuestions is < 0)
            throw ProblemException.Invalid("chatQuestions", "chatQuestions is 0 or more; leave it out (null) for unlimited.");
        if (!Enum.TryParse<QuotaPeriod>(body.ChatPeriod, ignoreCase: true, out var period) || int.TryParse(body.ChatPeriod, out _))
            throw ProblemException.Invalid("chatPeriod", "chatPeriod is 'total' (for the account's life) or 'day' (per UTC day).");
        if (body.StorageBytes is < 0)
            throw ProblemException.Invalid("storageBytes", "storageBytes is 0 or more; leave it out (null) for unlimited.");
        if (body.Videos is < 0)
            throw ProblemException.Invalid("videos", "videos is 0 or more; leave it out (null) for unlimited.");
        if (body.MaxFileBytes is < 1)
            throw ProblemException.Invalid("maxFileBytes", "maxFileBytes is 1 or more; leave it out (null) for no limit of the plan's own.");
        if (body.PriceCents is not (>= 0 and <= 100_000_000))
            throw ProblemException.Invalid("priceCents", "priceCents is the monthly price in cents, from 0 to 100000000.");
        var currency = body.Currency?.Trim().ToUpperInvariant();
        if (currency is null || !CurrencyCode().IsMatch(currency))
            throw ProblemException.Invalid("currency", "currency is a three-letter ISO 4217 code, like USD.");
        var grant = ToMicros(body.Grant);
        if (body.Active is not { } active)
            throw ProblemException.Invalid("active", "Say whether the plan is offered (true or false).");
        if (body.SortOrder is not (>= 0 and <= 10_000))
            throw ProblemException.Invalid("sortOrder", "sortOrder is from 0 to 10000; plans are listed by it.");

        var plan = await db.Set<Plan>().FirstOrDefaultAsync(p => p.Code == code, ct);
        var created = plan is null;
        if (plan is null)
        {
            plan = new Plan { Code = code, Name = name, Currency = currency };
            db.Add(plan);
        }
        var before = created ? null : Describe(plan);
        plan.Name = name;
        plan.ChatQuestions = body.ChatQuestions;
        plan.ChatPeriod = period;
        plan.StorageBytes = body.StorageBytes;
        plan.Videos = body.Videos;
        plan.MaxFileBytes = body.MaxFileBytes;
        plan.PriceCents = body.PriceCents.Value;
        plan.Currency = currency;
        plan.GrantMicros = grant;
        plan.Active = active;
        plan.SortOrder = body.SortOrder.Value;
        var after = Describe(plan);
        audit.Add(created ? PlanAuditKinds.PlanCreated : PlanAuditKinds.PlanUpdated, null, new { code, before, after }, actorId);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (created && UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            throw new ProblemException(StatusCodes.Status409Conflict, "The plan was created meanwhile.", "Send the change again to update it.", ProblemTypes.Conflict);
        }
        return (after, created);
    }

    /// <summary>Moves an organisation to a plan at once; its counters keep their period, so what was used today still counts.</summary>
    public async Task<OrgPlanResponse> AssignAsync(Guid orgId, string? code, Guid actorId, CancellationToken ct)
    {
        if (!await db.Organizations.AnyAsync(o => o.Id == orgId && o.DeletedAt == null, ct))
            throw Orgs.NotFound("No such organisation.", $"There is no organisation {orgId}.");
        var wanted = code?.Trim().ToUpperInvariant();
        if (string.IsNullOrEmpty(wanted) || await db.Set<Plan>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == wanted, ct) is not { } plan)
            throw ProblemException.Invalid("code", $"'{code}' is not a plan; GET /api/admin/plans lists them.");
        if (!plan.Active)
            throw ProblemException.Invalid("code", $"The plan {plan.Code} is not offered any more; make it active first.");
        var row = await db.Set<OrgPlan>().FirstOrDefaultAsync(p => p.OrganizationId == orgId, ct);
        var from = row?.PlanCode ?? Plan.Free;
        if (row is null)
            db.Add(row = new OrgPlan { OrganizationId = orgId, PlanCode = plan.Code });
        row.PlanCode = plan.Code;
        row.Since = clock.GetUtcNow();
        row.ChangedBy = actorId;
        audit.Add(PlanAuditKinds.OrgPlanChanged, null, new { from, to = plan.Code }, actorId, orgId);
        await db.SaveChangesAsync(ct);
        return await OfOrgAsync(orgId, ct);
    }

    /// <summary>
    /// Moves an organisation to the plan its subscription pays for (or back to FREE); unlike an admin's assignment it may
    /// keep a plan no longer offered, since the customer still pays for it. Returns the code it was on.
    /// </summary>
    public async Task<string> SetPaidPlanAsync(Guid orgId, string code, string reason, CancellationToken ct)
    {
        var row = await db.Set<OrgPlan>().IgnoreQueryFilters().FirstOrDefaultAsync(p => p.OrganizationId == orgId, ct);
        var from = row?.PlanCode ?? Plan.Free;
        if (from == code || !await db.Organizations.AnyAsync(o => o.Id == orgId, ct))
            return from;
        if (row is null)
            db.Add(row = new OrgPlan { OrganizationId = orgId, PlanCode = code });
        row.PlanCode = code;
        row.Since = clock.GetUtcNow();
        row.ChangedBy = null;
        audit.Add(PlanAuditKinds.OrgPlanChanged, null, new { from, to = code, reason }, null, orgId);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (from == Plan.Free && UniqueViolation.Is(e))
        {
            // Two reports gave the organisation its first plan row at once: this one updates the row the other made.
            db.ChangeTracker.Clear();
            return await SetPaidPlanAsync(orgId, code, reason, ct);
        }
        db.ChangeTracker.Clear();
        return from;
    }

    public static PlanResponse Describe(Plan p) => new(
        p.Code, p.Name, p.ChatQuestions, p.ChatPeriod, p.StorageBytes, p.Videos,
        p.PriceCents / 100m, p.PriceCents, p.Currency, p.GrantMicros / (decimal)Micros.PerCredit, p.GrantMicros, p.Active, p.SortOrder, p.MaxFileBytes);

    public static string KindName(QuotaKind kind) => kind switch
    {
        QuotaKind.ChatQuestions => "chatQuestions",
        QuotaKind.StorageBytes => "storageBytes",
        _ => "videos",
    };

    static string RequireCode(string code)
    {
        var upper = code.Trim().ToUpperInvariant();
        return PlanCode().IsMatch(upper) ? upper : throw ProblemException.Invalid("code", "A plan code is 2 to 32 letters, digits, '_' or '-', starting with a letter.");
    }

    /// <summary>Credits in, exact micro-credits kept: a grant finer than one micro-credit is refused, not rounded.</summary>
    static long ToMicros(decimal? credits) =>
        Micros.Require(credits, "grant", MicrosSign.NotNegative, "grant is the credits a new account on this plan receives: 0 or more.");

    [GeneratedRegex("^[A-Z][A-Z0-9_-]{1,31}$")]
    private static partial Regex PlanCode();

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyCode();
}
