using AiHub.Notifications;

namespace AiHub.Billing.Lifecycle.Emails;

/// <summary>The billing notices and the reconciliation alert, sent through the mailer with the templates this feature owns.</summary>
internal static class BillingMails
{
    public static Task SendBillingNoticeAsync(this Mailer mailer, string to, string? displayName, BillingNoticeText notice, Uri link, CancellationToken ct)
    {
        Mailer.RequireAbsolute(link);
        return mailer.SendAsync<BillingNoticeEmail>(
            to,
            notice.Subject,
            new()
            {
                [nameof(BillingNoticeEmail.DisplayName)] = displayName,
                [nameof(BillingNoticeEmail.Subject)] = notice.Subject,
                [nameof(BillingNoticeEmail.Lines)] = notice.Lines,
                [nameof(BillingNoticeEmail.Action)] = notice.Action,
                [nameof(BillingNoticeEmail.Link)] = link,
            },
            BillingEmailText.Text(displayName, notice, link),
            ct);
    }

    public static Task SendReconciliationAsync(this Mailer mailer, string to, string subject, string summary, IReadOnlyList<string> lines, CancellationToken ct) =>
        mailer.SendAsync<ReconciliationEmail>(
            to,
            subject,
            new()
            {
                [nameof(ReconciliationEmail.Subject)] = subject,
                [nameof(ReconciliationEmail.Summary)] = summary,
                [nameof(ReconciliationEmail.Lines)] = lines,
            },
            BillingEmailText.Reconciliation(summary, lines),
            ct);
}
