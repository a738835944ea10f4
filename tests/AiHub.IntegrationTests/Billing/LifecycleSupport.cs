using AiHub.Billing;
using AiHub.Billing.Subscriptions;
using AiHub.Data;
using AiHub.Infrastructure.Jobs;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace AiHub.IntegrationTests.Billing;

/// <summary>Organisations, subscriptions and mail counting for the lifecycle stories.</summary>
internal static class LifecycleSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>An organisation with one Owner, whose address receives the billing mails (no billing customer yet).</summary>
    public static async Task<(Guid OrgId, Guid OwnerId, string OwnerEmail)> NewOrgAsync(this IdentityHost host, string name = "Lifecycle")
    {
        var user = await host.App.Services.NewAppUserAsync("billing");
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var org = new Organization { Id = Guid.CreateVersion7(), Name = $"{name} {Guid.NewGuid().ToString("N")[..6]}", CreatedAt = DateTimeOffset.UtcNow };
        db.Add(org);
        db.Add(new Membership { OrganizationId = org.Id, UserId = user.Id, Role = OrgRole.Owner, JoinedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync(Ct);
        return (org.Id, user.Id, user.Email!);
    }

    public static async Task<T> InScopeAsync<T>(this IdentityHost host, Func<IServiceProvider, Task<T>> call)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await call(scope.ServiceProvider);
    }

    public static Task<Subscription> ApplyAsync(this IdentityHost host, GatewaySubscription reported) =>
        host.InScopeAsync(sp => sp.GetRequiredService<SubscriptionSync>().ApplyAsync(reported, Ct));

    public static Task<Subscription> SubscriptionAsync(this IdentityHost host, string gateway, string externalId) =>
        host.InScopeAsync(sp => sp.GetRequiredService<AppDbContext>().Set<Subscription>().IgnoreQueryFilters().AsNoTracking()
            .SingleAsync(s => s.Gateway == gateway && s.ExternalId == externalId, Ct));

    public static Task<string> PlanAsync(this IdentityHost host, Guid orgId) =>
        host.InScopeAsync(async sp => (await AiHub.Credits.Plans.PlanCatalog.PlanOfAsync(sp.GetRequiredService<AppDbContext>(), orgId, Ct)).Code);

    /// <summary>
    /// The mails to <paramref name="to"/> whose subject contains <paramref name="subjectPart"/>, once every queued mail
    /// has been handed to the SMTP server: a count taken then is final, so "once" is really once.
    /// </summary>
    public static async Task<IReadOnlyList<MimeMessage>> SettledMailsAsync(this IdentityHost host, string to, string subjectPart)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (await host.InScopeAsync(sp => sp.GetRequiredService<AppDbContext>().WorkItems
                   .AnyAsync(w => w.Kind == AiHub.Notifications.EmailSendHandler.KindName && (w.State == WorkState.Pending || w.State == WorkState.Running), Ct)))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("Queued mails were not sent within 90 s.");
            await Task.Delay(100, Ct);
        }
        return [.. (await host.Mail.MessagesToAsync(to)).Where(m => (m.Subject ?? "").Contains(subjectPart, StringComparison.OrdinalIgnoreCase))];
    }
}
