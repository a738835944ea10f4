using System.Globalization;
using AiHub.Billing.Checkout;
using AiHub.Billing.Payments;
using AiHub.Billing.Subscriptions;
using AiHub.Credits.Plans;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Eway;

/// <summary>
/// eWAY has no subscription engine: this job charges each due eWAY subscription's stored card for its next period.
/// A decline puts it past due and retries with a doubling wait; the grace rule then decides the plan.
/// </summary>
/// <remarks>
/// Safe on many nodes and when a run overlaps the last: a subscription is claimed with a conditional update before it
/// is charged, and a period that has an attempt whose outcome is unknown is looked up by its reference, never charged again.
/// </remarks>
internal sealed class EwayRenewals(
    AppDbContext db,
    EwayGateway gateway,
    EwayClient eway,
    PaymentRecorder payments,
    SubscriptionSync subscriptions,
    IOptions<BillingSettings> settings,
    TimeProvider clock,
    ILogger<EwayRenewals> log)
{
    public const string JobId = "billing-eway-renewals";

    /// <summary>How long a claimed subscription is left to the node that claimed it before another may try (a crash mid-charge).</summary>
    internal static readonly TimeSpan ClaimLease = TimeSpan.FromMinutes(15);

    public async Task RunAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var max = settings.Value.Eway.MaxChargeAttempts;
        var due = await db.Set<Subscription>().AsNoTracking().IgnoreQueryFilters()
            .Where(s => s.Gateway == EwayGateway.GatewayName
                && (s.Status == SubscriptionStatus.Active || s.Status == SubscriptionStatus.Trialing || s.Status == SubscriptionStatus.PastDue)
                && (s.FailedCharges < max || s.CancelAtPeriodEnd))
            .ToListAsync(ct);
        foreach (var subscription in due.Where(s => (s.NextChargeAt ?? s.CurrentPeriodEnd) <= now).OrderBy(s => s.NextChargeAt ?? s.CurrentPeriodEnd))
        {
            try
            {
                await RenewAsync(subscription, ct);
            }
            catch (PaymentGatewayException e)
            {
                // One subscription's trouble must not hold up the others; its claim lapses and it is tried again.
                log.LogWarning(e, "Renewing eWAY subscription {Subscription} failed: {Message}", subscription.Id, e.Message);
            }
        }
    }

    async Task RenewAsync(Subscription observed, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var claimed = await db.Set<Subscription>().IgnoreQueryFilters()
            .Where(s => s.Id == observed.Id && s.Status == observed.Status && s.NextChargeAt == observed.NextChargeAt
                && s.FailedCharges == observed.FailedCharges && s.CurrentPeriodEnd == observed.CurrentPeriodEnd)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.NextChargeAt, now + ClaimLease), ct);
        if (claimed == 0)
            return;
        var subscription = observed;

        if (subscription.CancelAtPeriodEnd)
        {
            await subscriptions.ApplyAsync(gateway.Describe(subscription) with { Status = SubscriptionStatus.Canceled }, ct);
            await db.Set<Subscription>().IgnoreQueryFilters().Where(s => s.Id == subscription.Id)
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.NextChargeAt, (DateTimeOffset?)null), ct);
            log.LogInformation("eWAY subscription {Subscription} ended at the end of its period, as asked", subscription.Id);
            return;
        }

        var periodStart = subscription.CurrentPeriodEnd;
        if (await ResolveEarlierAsync(subscription, periodStart, ct))
            return;

        var code = subscription.PendingPlanCode ?? subscription.PlanCode;
        var plan = await db.Set<Plan>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == code, ct)
            ?? throw new PaymentGatewayException($"The plan {code} of subscription {subscription.Id} does not exist.");
        var token = await db.Set<BillingCustomer>().AsNoTracking().IgnoreQueryFilters()
            .Where(c => c.OrganizationId == subscription.OrganizationId && c.Gateway == EwayGateway.GatewayName).Select(c => c.CustomerId).FirstOrDefaultAsync(ct);
        if (plan.PriceCents <= 0 || token is null)
        {
            await DeclinedAsync(subscription, token is null ? "No card is saved at eWAY for this organisation." : $"{plan.Name} is free.", ct);
            return;
        }
        var attempt = await gateway.NewAttemptAsync(subscription, EwayChargeKind.Renewal, plan.Code, periodStart, periodStart.AddMonths(1), plan.PriceCents, plan.Currency, ct);
        var t = await gateway.ChargeAsync(attempt, token, $"{plan.Name} plan, {periodStart.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}", ct);
        if (t is null)
            return;   // the answer was lost: the claim lapses, and the next run looks the attempt up by its reference
        if (t.Approved)
            await PaidAsync(subscription, attempt, t, ct);
        else
            await DeclinedAsync(subscription, EwayCodes.Declined(t.ResponseMessage), ct);
    }

    /// <summary>
    /// Settles this period's earlier attempts whose outcome AiHub does not know (a crash or a lost answer) by asking
    /// eWAY for their reference; true when the period turns out paid, so it is not charged again.
    /// </summary>
    async Task<bool> ResolveEarlierAsync(Subscription subscription, DateTimeOffset periodStart, CancellationToken ct)
    {
        var earlier = await db.Set<EwayChargeAttempt>().AsNoTracking().IgnoreQueryFilters()
            .Where(a => a.SubscriptionId == subscription.Id && a.Kind == EwayChargeKind.Renewal && a.PeriodStart == periodStart
                && (a.State == EwayChargeState.Pending || a.State == EwayChargeState.Succeeded))
            .OrderBy(a => a.CreatedAt).ToListAsync(ct);
        foreach (var attempt in earlier)
        {
            var found = await eway.FindByReferenceAsync(attempt.Reference, ct);
            var approved = found.FirstOrDefault(t => t.Approved);
            if (approved is not null)
            {
                if (attempt.State == EwayChargeState.Pending)
                {
                    log.LogInformation("eWAY charge {Reference} was taken though its answer was lost; recorded now, not charged again", attempt.Reference);
                    await gateway.SettleAsync(attempt, approved.TransactionId.ToString(CultureInfo.InvariantCulture), EwayChargeState.Succeeded, null, ct);
                }
                await PaidAsync(subscription, attempt, approved, ct);
                return true;
            }
            if (attempt.State == EwayChargeState.Pending)
            {
                var declined = found.Count > 0 ? found[0] : null;
                await gateway.SettleAsync(attempt, declined?.TransactionId.ToString(CultureInfo.InvariantCulture),
                    declined is null ? EwayChargeState.Abandoned : EwayChargeState.Declined, declined is null ? "eWAY has no transaction with this reference." : EwayCodes.Declined(declined.ResponseMessage), ct);
            }
        }
        return false;
    }

    /// <summary>Records the period's payment (invoice, receipt) and moves the subscription on; each step is safe to repeat.</summary>
    async Task PaidAsync(Subscription subscription, EwayChargeAttempt attempt, EwayTransaction t, CancellationToken ct)
    {
        await payments.RecordAsync(gateway.PaymentOf(attempt, t, subscription.ExternalId), ct);
        await subscriptions.ApplyAsync(gateway.Describe(subscription) with
        {
            PlanCode = attempt.PlanCode, Status = SubscriptionStatus.Active, PeriodStart = attempt.PeriodStart, PeriodEnd = attempt.PeriodEnd, PendingPlanCode = null,
        }, ct);
        await db.Set<Subscription>().IgnoreQueryFilters().Where(s => s.Id == subscription.Id)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.FailedCharges, 0).SetProperty(s => s.NextChargeAt, (DateTimeOffset?)null), ct);
        log.LogInformation("eWAY subscription {Subscription} renewed to {PeriodEnd}", subscription.Id, attempt.PeriodEnd);
    }

    /// <summary>Past due, and the next try after <c>RetryBackoff × 2^(failures − 1)</c>; after the last try it waits for the grace rule.</summary>
    async Task DeclinedAsync(Subscription subscription, string reason, CancellationToken ct)
    {
        var eway = settings.Value.Eway;
        var failed = subscription.FailedCharges + 1;
        DateTimeOffset? next = failed < eway.MaxChargeAttempts ? clock.GetUtcNow() + RetryDelay(eway.RetryBackoff, failed) : null;
        await subscriptions.ApplyAsync(gateway.Describe(subscription) with { Status = SubscriptionStatus.PastDue }, ct);
        await db.Set<Subscription>().IgnoreQueryFilters().Where(s => s.Id == subscription.Id)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.FailedCharges, failed).SetProperty(s => s.NextChargeAt, next), ct);
        log.LogInformation("eWAY renewal of subscription {Subscription} declined ({Failed} of {Max}): {Reason}", subscription.Id, failed, eway.MaxChargeAttempts, reason);
    }

    /// <summary>The wait before the try after <paramref name="failures"/> failed ones: the backoff, doubled for each failure after the first.</summary>
    internal static TimeSpan RetryDelay(TimeSpan backoff, int failures) => backoff * Math.Pow(2, Math.Clamp(failures - 1, 0, 16));
}
