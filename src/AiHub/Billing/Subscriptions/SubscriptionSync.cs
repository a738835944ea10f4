using AiHub.Billing.Lifecycle;
using AiHub.Billing.Payments;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Audit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Subscriptions;

/// <summary>
/// Keeps each organisation's subscription as the gateway last described it, and its plan in step: a paid or trialing
/// subscription grants its plan, a past-due one keeps it through the grace period, anything else is FREE.
/// </summary>
/// <remarks>
/// A report is applied whole (the gateway's current state), so a late or repeated webhook cannot move a subscription
/// backwards: the handler reads the object afresh from the gateway before calling here.
/// </remarks>
internal sealed class SubscriptionSync(
    AppDbContext db,
    PlanCatalog plans,
    PaymentGateways gateways,
    AuditLog audit,
    BillingNotices notices,
    IOptions<BillingSettings> settings,
    TimeProvider clock,
    ILogger<SubscriptionSync> log)
{
    public async Task<Subscription> ApplyAsync(GatewaySubscription reported, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (!await db.Set<Plan>().AsNoTracking().AnyAsync(p => p.Code == reported.PlanCode, ct))
            throw new PaymentGatewayException($"The subscription {reported.ExternalId} is for the plan '{reported.PlanCode}', which does not exist here.");
        var row = await db.Set<Subscription>().IgnoreQueryFilters().FirstOrDefaultAsync(s => s.Gateway == reported.Gateway && s.ExternalId == reported.ExternalId, ct);
        if (row is null)
        {
            row = new Subscription
            {
                Id = Guid.CreateVersion7(now), OrganizationId = reported.OrganizationId, Gateway = reported.Gateway, ExternalId = reported.ExternalId,
                PlanCode = reported.PlanCode, CreatedAt = now,
            };
            db.Add(row);
        }
        else if (row.OrganizationId != reported.OrganizationId)
        {
            log.LogWarning("Subscription {Gateway} {ExternalId} reported for another organisation than it was recorded for; ignored", reported.Gateway, reported.ExternalId);
            db.ChangeTracker.Clear();
            return row;
        }
        else if (row.Status == SubscriptionStatus.Canceled)
        {
            // Ended is final: a late event about it (an update before the deletion) must not bring the plan back.
            db.ChangeTracker.Clear();
            return row;
        }
        else if (reported.ReadAt is { } read && row.StateReadAt is { } applied && read < applied)
        {
            // A webhook's read that was overtaken by a newer one (the member resumed meanwhile) must not undo it.
            log.LogInformation("Subscription {Gateway} {ExternalId}: a state read at {Read:O} is older than the one applied ({Applied:O}); ignored",
                reported.Gateway, reported.ExternalId, read, applied);
            db.ChangeTracker.Clear();
            return row;
        }
        var before = (row.Status, row.PlanCode, row.CancelAtPeriodEnd, row.PendingPlanCode);
        var isNew = db.Entry(row).State == EntityState.Added;
        row.PlanCode = reported.PlanCode;
        row.Status = reported.Status;
        row.CurrentPeriodStart = reported.PeriodStart;
        row.CurrentPeriodEnd = reported.PeriodEnd;
        row.TrialEnd = reported.TrialEnd;
        row.CancelAtPeriodEnd = reported.CancelAtPeriodEnd;
        row.PendingPlanCode = reported.PendingPlanCode;
        row.PastDueSince = reported.Status == SubscriptionStatus.PastDue ? row.PastDueSince ?? now : null;
        row.EndedAt = reported.Status == SubscriptionStatus.Canceled ? row.EndedAt ?? now : null;
        row.UpdatedAt = now;
        row.StateReadAt = reported.ReadAt ?? row.StateReadAt;
        if (before != (row.Status, row.PlanCode, row.CancelAtPeriodEnd, row.PendingPlanCode))
        {
            audit.Add(BillingAuditKinds.SubscriptionChanged, null, new
            {
                gateway = row.Gateway, externalId = row.ExternalId, status = row.Status.ToString(), plan = row.PlanCode,
                cancelAtPeriodEnd = row.CancelAtPeriodEnd, pendingPlan = row.PendingPlanCode,
            }, null, row.OrganizationId);
        }
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (e is DbUpdateConcurrencyException || UniqueViolation.Is(e))
        {
            // Another report made or changed the row meanwhile: check this one against it again.
            db.ChangeTracker.Clear();
            return await ApplyAsync(reported, ct);
        }
        db.ChangeTracker.Clear();
        await SyncPlanAsync(row.OrganizationId, ct);
        // A new row has no earlier state: one first reported past due still gets its mail.
        await notices.AfterChangeAsync(isNew ? SubscriptionStatus.Incomplete : before.Status, row, null, ct);
        return row;
    }

    /// <summary>Ends a subscription now at the gateway and here (a refunded or disputed period, a grace period run out); the organisation goes to FREE.</summary>
    public async Task EndNowAsync(Guid orgId, Guid subscriptionId, string reason, CancellationToken ct)
    {
        var row = await db.Set<Subscription>().IgnoreQueryFilters().AsNoTracking().FirstOrDefaultAsync(s => s.OrganizationId == orgId && s.Id == subscriptionId, ct);
        if (row is null || row.Status == SubscriptionStatus.Canceled)
            return;
        await gateways.Of(row.Gateway).CancelNowAsync(row, ct);
        var now = clock.GetUtcNow();
        await db.Set<Subscription>().IgnoreQueryFilters().Where(s => s.Id == row.Id)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriptionStatus.Canceled).SetProperty(s => s.EndedAt, now)
                .SetProperty(s => s.UpdatedAt, now).SetProperty(s => s.CancelAtPeriodEnd, false), ct);
        audit.Add(BillingAuditKinds.SubscriptionChanged, null, new { gateway = row.Gateway, externalId = row.ExternalId, status = "Canceled", reason }, null, orgId);
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();
        await SyncPlanAsync(orgId, ct, reason);
        await notices.AfterChangeAsync(row.Status, Ended(row, now), reason, ct);
    }

    /// <summary>
    /// Ends, at the end of its period, a subscription of a gateway that does not renew by itself and was cancelled at
    /// period end: nothing is charged again, so nothing needs cancelling at the gateway.
    /// </summary>
    public async Task EndAtPeriodEndAsync(Guid orgId, Guid subscriptionId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var row = await db.Set<Subscription>().IgnoreQueryFilters().AsNoTracking().FirstOrDefaultAsync(s => s.OrganizationId == orgId && s.Id == subscriptionId, ct);
        if (row is null || row.Status == SubscriptionStatus.Canceled || !row.CancelAtPeriodEnd || row.CurrentPeriodEnd > now)
            return;
        var ended = await db.Set<Subscription>().IgnoreQueryFilters()
            .Where(s => s.Id == row.Id && s.Status != SubscriptionStatus.Canceled && s.CancelAtPeriodEnd)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, SubscriptionStatus.Canceled).SetProperty(s => s.EndedAt, row.CurrentPeriodEnd)
                .SetProperty(s => s.UpdatedAt, now).SetProperty(s => s.NextChargeAt, (DateTimeOffset?)null), ct);
        if (ended == 0)
            return;
        audit.Add(BillingAuditKinds.SubscriptionChanged, null, new { gateway = row.Gateway, externalId = row.ExternalId, status = "Canceled", reason = "cancelled at period end" }, null, orgId);
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();
        await SyncPlanAsync(orgId, ct, "cancelled at period end");
        await notices.AfterChangeAsync(row.Status, Ended(row, row.CurrentPeriodEnd), null, ct);
    }

    static Subscription Ended(Subscription row, DateTimeOffset at) => new()
    {
        Id = row.Id, OrganizationId = row.OrganizationId, Gateway = row.Gateway, ExternalId = row.ExternalId, PlanCode = row.PlanCode,
        Status = SubscriptionStatus.Canceled, CurrentPeriodStart = row.CurrentPeriodStart, CurrentPeriodEnd = row.CurrentPeriodEnd,
        PastDueSince = row.PastDueSince, CreatedAt = row.CreatedAt, UpdatedAt = at, EndedAt = at,
    };

    /// <summary>The plan the organisation's subscriptions grant now: a live one's, a past-due one's within the grace, else FREE.</summary>
    public async Task<string> PlanDueAsync(Guid orgId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var grace = settings.Value.GracePeriod;
        var live = await db.Set<Subscription>().AsNoTracking().IgnoreQueryFilters()
            .Where(s => s.OrganizationId == orgId && s.Status != SubscriptionStatus.Canceled && s.Status != SubscriptionStatus.Incomplete)
            .ToListAsync(ct);
        return live
            .Where(s => s.Status is SubscriptionStatus.Active or SubscriptionStatus.Trialing || (s.Status == SubscriptionStatus.PastDue && s.PastDueSince + grace > now))
            .OrderByDescending(s => s.UpdatedAt)
            .Select(s => s.PlanCode)
            .FirstOrDefault() ?? Plan.Free;
    }

    /// <summary>Moves an organisation that has a subscription to <see cref="PlanDueAsync"/> when it is on another plan.</summary>
    /// <remarks>Only reached through a subscription of the organisation: one an admin put on a plan by hand, with none, is never moved.</remarks>
    public async Task SyncPlanAsync(Guid orgId, CancellationToken ct, string reason = "subscription")
    {
        var due = await PlanDueAsync(orgId, ct);
        if ((await PlanCatalog.PlanOfAsync(db, orgId, ct)).Code != due)
            await plans.SetPaidPlanAsync(orgId, due, reason, ct);
    }
}
