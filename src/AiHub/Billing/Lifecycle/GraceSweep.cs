using AiHub.Billing.Subscriptions;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Lifecycle;

/// <summary>
/// Every 15 minutes: mails past-due subscriptions (the failed payment, then the reminder before the grace ends), ends
/// those whose grace period ran out, and ends at period end the cancelled subscriptions of gateways that do not renew
/// by themselves.
/// </summary>
/// <remarks>
/// Safe on many nodes at once: it reads rows and calls services that are idempotent (ending an ended subscription does
/// nothing, each notice's key is claimed once). One subscription's failure (a gateway down) is logged and tried again
/// next run; it never stops the others.
/// </remarks>
internal sealed partial class GraceSweep(
    IServiceScopeFactory scopes,
    AppDbContext db,
    PaymentGateways gateways,
    IOptions<BillingSettings> settings,
    TimeProvider clock,
    ILogger<GraceSweep> log)
{
    public const string JobId = "billing-grace";

    public const string Cron = "*/15 * * * *";

    public async Task<GraceSweepResult> RunAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var grace = settings.Value.GracePeriod;
        var pastDue = await db.Set<Subscription>().IgnoreQueryFilters().AsNoTracking()
            .Where(s => s.Status == SubscriptionStatus.PastDue).OrderBy(s => s.PastDueSince).ToListAsync(ct);
        int ended = 0, failed = 0;
        foreach (var s in pastDue)
        {
            var since = s.PastDueSince ?? s.UpdatedAt;
            var ok = await EachAsync(s, async (scope, token) =>
            {
                if (since + grace <= now)
                {
                    await scope.GetRequiredService<SubscriptionSync>().EndNowAsync(s.OrganizationId, s.Id, BillingNotices.GraceReason, token);
                    ended++;
                    return;
                }
                var notices = scope.GetRequiredService<BillingNotices>();
                // Sent when it went past due; asked again here in case that mail could not be queued then.
                await notices.SendAsync(s, BillingNoticeKind.PaymentFailed, null, token);
                if (since + grace - BillingNotices.ReminderBefore <= now)
                    await notices.SendAsync(s, BillingNoticeKind.GraceReminder, null, token);
            }, ct);
            failed += ok ? 0 : 1;
        }

        var cancelled = await db.Set<Subscription>().IgnoreQueryFilters().AsNoTracking()
            .Where(s => s.Status != SubscriptionStatus.Canceled && s.CancelAtPeriodEnd && s.CurrentPeriodEnd <= now).ToListAsync(ct);
        foreach (var s in cancelled.Where(s => !RenewsItself(s.Gateway)))
        {
            var ok = await EachAsync(s, async (scope, token) =>
            {
                await scope.GetRequiredService<SubscriptionSync>().EndAtPeriodEndAsync(s.OrganizationId, s.Id, token);
                ended++;
            }, ct);
            failed += ok ? 0 : 1;
        }
        if (ended > 0 || failed > 0)
            LogRun(pastDue.Count, ended, failed);
        return new GraceSweepResult(pastDue.Count, ended, failed);
    }

    /// <summary>A gateway that is not registered is left alone: ending its subscriptions here could end one it still renews.</summary>
    bool RenewsItself(string gateway)
    {
        try
        {
            return gateways.Of(gateway).RenewsItself;
        }
        catch (InvalidOperationException)
        {
            LogNoGateway(gateway);
            return true;
        }
    }

    async Task<bool> EachAsync(Subscription s, Func<IServiceProvider, CancellationToken, Task> step, CancellationToken ct)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await step(scope.ServiceProvider, ct);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailed(e, s.Gateway, s.ExternalId);
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Grace sweep: {PastDue} past-due subscription(s), {Ended} ended, {Failed} to try again next run")]
    partial void LogRun(int pastDue, int ended, int failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grace sweep: no gateway named {Gateway} is registered; its subscriptions cancelled at period end are left as they are")]
    partial void LogNoGateway(string gateway);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Grace sweep: subscription {Gateway} {ExternalId} failed; tried again next run")]
    partial void LogFailed(Exception e, string gateway, string externalId);
}

internal sealed record GraceSweepResult(int PastDue, int Ended, int Failed);
