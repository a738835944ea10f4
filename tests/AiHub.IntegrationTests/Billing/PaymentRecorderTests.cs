using AiHub.Billing;
using AiHub.Billing.Payments;
using AiHub.Billing.Subscriptions;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Money;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Billing;

/// <summary>The one path money takes into AiHub: a payment reported any number of times is one row, one ledger entry and one invoice.</summary>
public abstract class PaymentRecorderTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_package_reported_many_times_at_once_credits_once_with_one_invoice()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var paid = Package(orgId, buyer, $"pi_{Guid.NewGuid():N}", PaymentStatus.Succeeded);

        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => RecordAsync(paid), Ct)));

        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var payment = await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.ExternalId == paid.ExternalId, Ct);
        Assert.Equal(PaymentStatus.Succeeded, payment.Status);
        Assert.Equal(10 * Micros.PerCredit, await host.BalanceMicrosAsync(buyer));
        Assert.Single(await db.Set<CreditEntry>().Where(e => e.IdempotencyKey == PaymentRecorder.PurchaseKey(payment)).ToListAsync(Ct));
        var invoice = await db.Set<Invoice>().IgnoreQueryFilters().SingleAsync(i => i.PaymentId == payment.Id, Ct);
        Assert.Equal(1_000, invoice.TotalMinor);
        Assert.Empty(await host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Invoice_numbers_have_no_gaps_when_payments_race()
    {
        var (orgId, buyer) = await NewOrgAsync();
        await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(() => RecordAsync(Package(orgId, buyer, $"pi_{Guid.NewGuid():N}", PaymentStatus.Succeeded)), Ct)));

        await using var scope = host.App.Services.CreateAsyncScope();
        var sequences = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Invoice>().IgnoreQueryFilters()
            .Select(i => i.Sequence).OrderBy(s => s).ToListAsync(Ct);
        Assert.Equal(Enumerable.Range(1, sequences.Count).Select(i => (long)i), sequences);
    }

    [Fact]
    public async Task A_refund_of_spent_credits_overdraws_the_account_once_and_the_ledger_still_verifies()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var external = $"pi_{Guid.NewGuid():N}";
        await RecordAsync(Package(orgId, buyer, external, PaymentStatus.Succeeded));
        await using (var scope = host.App.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<Ledger>().PostAsync(buyer, CreditKind.Adjustment, -8 * Micros.PerCredit, "spent", null, $"spend:{external}", Ct);

        var refunded = Package(orgId, buyer, external, PaymentStatus.Refunded) with { RefundedMinor = 1_000 };
        await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Task.Run(() => RecordAsync(refunded), Ct)));

        var account = await host.AccountAsync(buyer);
        Assert.Equal(-8 * Micros.PerCredit, account.Balance);
        Assert.True(account.Overdrawn);
        await using var check = host.App.Services.CreateAsyncScope();
        var db = check.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(PaymentStatus.Refunded, (await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.ExternalId == external, Ct)).Status);
        Assert.Single(await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.Kind == InvoiceKind.CreditNote && i.TotalMinor == -1_000 && i.OrganizationId == orgId).ToListAsync(Ct));
        Assert.Empty(await host.VerifyLedgerAsync());
        var problem = await Assert.ThrowsAsync<AiHub.Infrastructure.Errors.ProblemException>(() =>
            check.ServiceProvider.GetRequiredService<Ledger>().PostAsync(buyer, CreditKind.Adjustment, -1, "more", null, $"more:{external}", Ct));
        Assert.Equal(402, problem.Status);
    }

    [Fact]
    public async Task A_subscription_grants_its_plan_keeps_it_through_the_grace_and_an_ended_one_is_final()
    {
        var (orgId, _) = await NewOrgAsync();
        var now = DateTimeOffset.UtcNow;
        var active = new GatewaySubscription("stripe", $"sub_{Guid.NewGuid():N}", orgId, "PRO", SubscriptionStatus.Active, now, now.AddMonths(1), null, false);
        await using var scope = host.App.Services.CreateAsyncScope();
        var sync = scope.ServiceProvider.GetRequiredService<SubscriptionSync>();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();

        await sync.ApplyAsync(active, Ct);
        Assert.Equal("PRO", (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code);

        await sync.ApplyAsync(active with { Status = SubscriptionStatus.PastDue }, Ct);
        Assert.Equal("PRO", (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code);

        await sync.ApplyAsync(active with { Status = SubscriptionStatus.Canceled }, Ct);
        Assert.Equal(Plan.Free, (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code);

        await sync.ApplyAsync(active, Ct);
        Assert.Equal(Plan.Free, (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code);
    }

    [Fact]
    public async Task A_state_read_before_the_one_applied_does_not_undo_it_even_when_reports_race()
    {
        var (orgId, _) = await NewOrgAsync();
        var now = DateTimeOffset.UtcNow;
        var read = now.AddMinutes(-5);
        var cancelling = new GatewaySubscription("stripe", $"sub_{Guid.NewGuid():N}", orgId, "PRO", SubscriptionStatus.Active, now, now.AddMonths(1), null, true)
            { ReadAt = read };
        await ApplyAsync(cancelling);

        // The member resumes (read at +2 s) while a webhook that read the cancelling state at +1 s is still on its way.
        var resumed = cancelling with { CancelAtPeriodEnd = false, ReadAt = read.AddSeconds(2) };
        var stale = cancelling with { ReadAt = read.AddSeconds(1) };
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => Task.Run(() => ApplyAsync(i % 2 == 0 ? resumed : stale), Ct)));
        await ApplyAsync(stale);

        await using var scope = host.App.Services.CreateAsyncScope();
        var row = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Subscription>().IgnoreQueryFilters().AsNoTracking()
            .SingleAsync(s => s.ExternalId == cancelling.ExternalId, Ct);
        Assert.False(row.CancelAtPeriodEnd);
        // SQLite keeps the time to the millisecond.
        Assert.True(Math.Abs((row.StateReadAt!.Value - resumed.ReadAt!.Value).TotalMilliseconds) < 1, $"state read at {row.StateReadAt:O}");
    }

    async Task ApplyAsync(GatewaySubscription reported)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<SubscriptionSync>().ApplyAsync(reported, Ct);
    }

    static GatewayPayment Package(Guid orgId, Guid buyer, string externalId, PaymentStatus status) =>
        new("stripe", externalId, orgId, PaymentKind.Credits, status, 1_000, 0, "USD", 0, false, DateTimeOffset.UtcNow,
            PackageCode: "CREDITS_10", BuyerUserId: buyer);

    async Task RecordAsync(GatewayPayment payment)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<PaymentRecorder>().RecordAsync(payment, Ct);
    }

    async Task<(Guid OrgId, Guid UserId)> NewOrgAsync()
    {
        var (orgId, ownerId, _) = await host.NewOrgAsync("Billing");
        return (orgId, ownerId);
    }
}

public sealed class PaymentRecorderOnSqlite(SqliteIdentityFixture fixture) : PaymentRecorderTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class PaymentRecorderOnPostgres(PostgresIdentityFixture fixture) : PaymentRecorderTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
