using System.Globalization;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Hosting;
using AiHub.Notifications;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Credits.Pools;

/// <summary>Mails the key's creator and the org's Owners and Admins as a key's month crosses 80, 90 and 100% of its budget.</summary>
internal sealed class BudgetWarnings(AppDbContext db, LimitWarnings warnings, Mailer mailer, IOptions<PublicUrlSettings> identity)
{
    public Task CheckAsync(Guid orgId, Guid keyId, ApiKeyBudgetPeriod period, CancellationToken ct) =>
        warnings.NotifyAfterCommitAsync($"api-key:{keyId:N}:budget", period.PeriodStart.ToString("yyyy-MM", CultureInfo.InvariantCulture),
            period.SpentMicros, period.BudgetMicros, (percent, token) => SendAsync(orgId, keyId, period, percent, token), ct);

    async Task SendAsync(Guid orgId, Guid keyId, ApiKeyBudgetPeriod period, int percent, CancellationToken ct)
    {
        var key = await db.ApiKeys.IgnoreQueryFilters().AsNoTracking().Where(k => k.Id == keyId && k.OrganizationId == orgId)
            .Select(k => new { k.Name, k.CreatedBy }).FirstAsync(ct);
        var recipients = await Orgs.ManagersToMailAsync(db, orgId, key.CreatedBy, ct);
        var keys = new Uri(identity.Value.PublicUrl, $"/orgs/{orgId}/api-keys");
        foreach (var recipient in recipients)
            await mailer.SendBudgetWarningAsync(recipient.Email, recipient.DisplayName, key.Name, recipient.OrgName, percent,
                Micros.Format(period.BudgetMicros), period.ResetsAt, keys, ct);
    }
}
