using System.Globalization;
using AiHub.Billing.Checkout;
using AiHub.Billing.Lifecycle.Emails;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Hosting;
using AiHub.Notifications;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Lifecycle;

/// <summary>
/// The mails a subscription's life sends to the organisation's billing address (else its Owners): payment failed, the
/// reminder before the grace ends, downgraded, ended, recovered. Each goes out at most once per subscription, kind and
/// billing period, however many nodes, webhooks and job runs report the same transition.
/// </summary>
internal sealed partial class BillingNotices(
    AppDbContext db,
    Mailer mailer,
    IOptions<BillingSettings> settings,
    IOptions<PublicUrlSettings> urls,
    TimeProvider clock,
    ILogger<BillingNotices> log)
{
    /// <summary>The reason <see cref="Subscriptions.SubscriptionSync.EndNowAsync"/> is given when the grace period ran out.</summary>
    public const string GraceReason = "grace period ended";

    /// <summary>How long before the grace period's end the reminder goes out.</summary>
    public static readonly TimeSpan ReminderBefore = TimeSpan.FromDays(2);

    public DateTimeOffset GraceEnd(Subscription s) => (s.PastDueSince ?? clock.GetUtcNow()) + settings.Value.GracePeriod;

    /// <summary>Sends the notices a change from <paramref name="before"/> to <paramref name="after"/> calls for; never throws, as the change is already saved.</summary>
    public async Task AfterChangeAsync(SubscriptionStatus before, Subscription after, string? reason, CancellationToken ct)
    {
        if (before == after.Status)
            return;
        if (after.Status == SubscriptionStatus.PastDue)
            await AfterCommitAsync(after, BillingNoticeKind.PaymentFailed, null, ct);
        else if (before == SubscriptionStatus.PastDue && after.Status is SubscriptionStatus.Active or SubscriptionStatus.Trialing)
            await AfterCommitAsync(after, BillingNoticeKind.Recovered, null, ct);
        else if (after.Status == SubscriptionStatus.Canceled && before is SubscriptionStatus.Active or SubscriptionStatus.Trialing or SubscriptionStatus.PastDue)
        {
            // A past-due subscription that ends, whoever ends it, ended for want of payment.
            var kind = before == SubscriptionStatus.PastDue || reason == GraceReason ? BillingNoticeKind.Downgraded : BillingNoticeKind.Ended;
            await AfterCommitAsync(after, kind, reason, ct);
        }
    }

    /// <summary><see cref="SendAsync"/> for a caller whose change is committed: a notice that cannot go out is logged, and the grace job tries the past-due ones again.</summary>
    public async Task AfterCommitAsync(Subscription s, BillingNoticeKind kind, string? reason, CancellationToken ct)
    {
        try
        {
            await SendAsync(s, kind, reason, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogNotSent(e, kind, s.Id);
        }
    }

    /// <summary>Claims the notice's key and queues its mail; false when it was claimed before (sent already, or being sent).</summary>
    public async Task<bool> SendAsync(Subscription s, BillingNoticeKind kind, string? reason, CancellationToken ct)
    {
        var (key, period) = Key(s, kind);
        if (!await ClaimAsync(s.Id, key, period, ct))
            return false;
        try
        {
            var at = kind is BillingNoticeKind.PaymentFailed or BillingNoticeKind.GraceReminder ? GraceEnd(s) : s.EndedAt ?? clock.GetUtcNow();
            var plan = await db.Set<Plan>().AsNoTracking().Where(p => p.Code == s.PlanCode).Select(p => p.Name).FirstOrDefaultAsync(ct) ?? s.PlanCode;
            var org = await db.Organizations.IgnoreQueryFilters().AsNoTracking().Where(o => o.Id == s.OrganizationId).Select(o => o.Name).FirstAsync(ct);
            var link = new Uri(urls.Value.PublicUrl, Checkouts.BillingPath(s.OrganizationId));
            var notice = BillingEmailText.Notice(kind, org, plan, at, reason);
            foreach (var (email, name) in await RecipientsAsync(s.OrganizationId, ct))
                await mailer.SendBillingNoticeAsync(email, name, notice, link, ct);
            LogSent(kind, s.Id);
            return true;
        }
        catch
        {
            // Not sent: free the key so that the next report or job run sends it.
            await db.Set<BillingNotice>().Where(n => n.SubscriptionId == s.Id && n.Kind == key && n.Period == period).ExecuteDeleteAsync(CancellationToken.None);
            throw;
        }
    }

    /// <summary>The billing address the customer gave, else the organisation's Owners.</summary>
    async Task<List<(string Email, string? Name)>> RecipientsAsync(Guid orgId, CancellationToken ct)
    {
        var billing = await db.Set<BillingCustomer>().IgnoreQueryFilters().AsNoTracking().Where(c => c.OrganizationId == orgId).Select(c => c.Email).FirstOrDefaultAsync(ct);
        if (!string.IsNullOrWhiteSpace(billing))
            return [(billing, null)];
        var owners = await (from m in db.Memberships
                            join u in db.Users on m.UserId equals u.Id
                            where m.OrganizationId == orgId && m.Role == OrgRole.Owner && u.Email != null
                            select new { u.Email, u.DisplayName }).AsNoTracking().ToListAsync(ct);
        return owners.Select(o => (o.Email!, (string?)o.DisplayName)).ToList();
    }

    /// <summary>
    /// A failed renewal, its reminder and its recovery are keyed by the period the gateway reports (the same in every
    /// concurrent report, unlike the moment each one noticed); an ended subscription has one "ended" key, so a downgrade
    /// and a cancellation reported for the same end send one mail.
    /// </summary>
    static (string Kind, string Period) Key(Subscription s, BillingNoticeKind kind) => kind switch
    {
        BillingNoticeKind.Downgraded or BillingNoticeKind.Ended => ("Ended", "end"),
        _ => (kind.ToString(), s.CurrentPeriodStart.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)),
    };

    async Task<bool> ClaimAsync(Guid subscriptionId, string kind, string period, CancellationToken ct)
    {
        if (await db.Set<BillingNotice>().AnyAsync(n => n.SubscriptionId == subscriptionId && n.Kind == kind && n.Period == period, ct))
            return false;
        return await UniqueViolation.TryInsertAsync(db, new BillingNotice { SubscriptionId = subscriptionId, Kind = kind, Period = period, SentAt = clock.GetUtcNow() }, ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Billing notice {Kind} for subscription {SubscriptionId} queued")]
    partial void LogSent(BillingNoticeKind kind, Guid subscriptionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Billing notice {Kind} for subscription {SubscriptionId} could not be queued; the next report or job run tries again")]
    partial void LogNotSent(Exception e, BillingNoticeKind kind, Guid subscriptionId);
}
