using AiHub.Credits.Pools.Emails;
using AiHub.Notifications;

namespace AiHub.Credits.Pools;

/// <summary>The credit request mails, sent through the mailer with the templates this feature owns.</summary>
internal static class PoolMails
{
    public static Task SendCreditRequestAsync(this Mailer mailer, string to, string requester, string orgName, string credits, string reason, Uri link, CancellationToken ct)
    {
        Mailer.RequireAbsolute(link);
        return mailer.SendAsync<CreditRequestEmail>(
            to,
            PoolEmailText.RequestSubject(orgName),
            new()
            {
                [nameof(CreditRequestEmail.Requester)] = requester,
                [nameof(CreditRequestEmail.OrgName)] = orgName,
                [nameof(CreditRequestEmail.Credits)] = credits,
                [nameof(CreditRequestEmail.Reason)] = reason,
                [nameof(CreditRequestEmail.Link)] = link,
            },
            PoolEmailText.Request(requester, orgName, credits, reason, link),
            ct);
    }

    public static Task SendCreditDecisionAsync(this Mailer mailer, string to, string? displayName, string orgName, bool approved, string asked, string? granted, string? reason, Uri link, CancellationToken ct)
    {
        Mailer.RequireAbsolute(link);
        return mailer.SendAsync<CreditDecisionEmail>(
            to,
            PoolEmailText.DecisionSubject(approved, orgName),
            new()
            {
                [nameof(CreditDecisionEmail.DisplayName)] = displayName,
                [nameof(CreditDecisionEmail.OrgName)] = orgName,
                [nameof(CreditDecisionEmail.Approved)] = approved,
                [nameof(CreditDecisionEmail.Asked)] = asked,
                [nameof(CreditDecisionEmail.Granted)] = granted,
                [nameof(CreditDecisionEmail.Reason)] = reason,
                [nameof(CreditDecisionEmail.Link)] = link,
            },
            PoolEmailText.Decision(displayName, orgName, approved, asked, granted, reason, link),
            ct);
    }
}
