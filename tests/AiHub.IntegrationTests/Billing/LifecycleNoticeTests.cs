using AiHub.Billing;
using AiHub.Billing.Lifecycle;
using AiHub.Billing.Lifecycle.Emails;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AiHub.IntegrationTests.Billing;

/// <summary>The dunning mails of a renewal that fails: each goes out once, however often and however concurrently the change is reported.</summary>
public abstract class LifecycleNoticeTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_failed_renewal_is_mailed_once_reminded_once_before_the_grace_ends_and_its_recovery_is_mailed()
    {
        var (orgId, _, owner) = await host.NewOrgAsync();
        var now = DateTimeOffset.UtcNow;
        var active = new GatewaySubscription("stripe", $"sub_{Guid.NewGuid():N}", orgId, "PRO", SubscriptionStatus.Active, now, now.AddMonths(1), null, false);
        await host.ApplyAsync(active);

        // Stripe sends invoice.payment_failed and customer.subscription.updated, each possibly more than once.
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => host.ApplyAsync(active with { Status = SubscriptionStatus.PastDue }), Ct)));
        var row = await host.SubscriptionAsync("stripe", active.ExternalId);
        var failed = Assert.Single(await host.SettledMailsAsync(owner, "Payment failed"));
        Assert.Contains(BillingEmailText.Date(row.PastDueSince!.Value + TimeSpan.FromDays(7)), failed.TextBody);
        Assert.Contains($"https://aihub.test/orgs/{orgId}/billing", failed.TextBody);
        Assert.Equal("PRO", await host.PlanAsync(orgId));

        // Four days on, too early for the reminder: three days of grace are left.
        await RunGraceSweepsAsync(2, row.PastDueSince.Value + TimeSpan.FromDays(4));
        Assert.Empty(await host.SettledMailsAsync(owner, "Reminder"));

        var reminderTime = row.PastDueSince.Value + TimeSpan.FromDays(5) + TimeSpan.FromMinutes(1);
        await RunGraceSweepsAsync(4, reminderTime);
        await RunGraceSweepsAsync(1, reminderTime + TimeSpan.FromMinutes(15));
        Assert.Single(await host.SettledMailsAsync(owner, "Reminder"));
        Assert.Single(await host.SettledMailsAsync(owner, "Payment failed"));
        Assert.Equal("PRO", await host.PlanAsync(orgId));

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => host.ApplyAsync(active), Ct)));
        Assert.Single(await host.SettledMailsAsync(owner, "Payment received"));
        Assert.Equal("PRO", await host.PlanAsync(orgId));
        Assert.Null((await host.SubscriptionAsync("stripe", active.ExternalId)).PastDueSince);
    }

    [Fact]
    public async Task A_failed_renewal_of_a_later_period_is_mailed_again_and_the_billing_address_is_preferred_to_the_owners()
    {
        var (orgId, _, owner) = await host.NewOrgAsync();
        var billing = IdentityHost.NewEmail("accounts");
        await host.InScopeAsync(async sp =>
        {
            var db = sp.GetRequiredService<AiHub.Data.AppDbContext>();
            db.Add(new BillingCustomer { OrganizationId = orgId, Gateway = "stripe", Email = billing, Name = "Accounts", CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow });
            return await db.SaveChangesAsync(Ct);
        });
        var now = DateTimeOffset.UtcNow;
        var active = new GatewaySubscription("stripe", $"sub_{Guid.NewGuid():N}", orgId, "BASIC", SubscriptionStatus.Active, now, now.AddMonths(1), null, false);
        await host.ApplyAsync(active);
        await host.ApplyAsync(active with { Status = SubscriptionStatus.PastDue });
        await host.ApplyAsync(active);
        var next = active with { PeriodStart = active.PeriodEnd, PeriodEnd = active.PeriodEnd.AddMonths(1) };
        await host.ApplyAsync(next);
        await host.ApplyAsync(next with { Status = SubscriptionStatus.PastDue });
        await host.ApplyAsync(next with { Status = SubscriptionStatus.PastDue });

        Assert.Equal(2, (await host.SettledMailsAsync(billing, "Payment failed")).Count);
        Assert.Single(await host.SettledMailsAsync(billing, "Payment received"));
        Assert.Empty(await host.Mail.MessagesToAsync(owner));
    }

    /// <summary>Runs the grace job as nodes would, several at once, at <paramref name="at"/>.</summary>
    async Task RunGraceSweepsAsync(int concurrently, DateTimeOffset at) =>
        await Task.WhenAll(Enumerable.Range(0, concurrently).Select(_ => Task.Run(() =>
            host.InScopeAsync(sp => ActivatorUtilities.CreateInstance<GraceSweep>(sp, (TimeProvider)new FakeTimeProvider(at)).RunAsync(Ct)), Ct)));
}

public sealed class LifecycleNoticeOnSqlite(SqliteIdentityFixture fixture) : LifecycleNoticeTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class LifecycleNoticeOnPostgres(PostgresIdentityFixture fixture) : LifecycleNoticeTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
