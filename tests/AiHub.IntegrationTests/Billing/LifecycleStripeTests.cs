using System.Text.Json;
using AiHub.Billing;
using AiHub.Billing.Checkout;
using AiHub.Billing.Lifecycle;
using AiHub.Billing.Payments;
using AiHub.Credits;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Infrastructure.Money;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace AiHub.IntegrationTests.Billing;

/// <summary>
/// The lifecycle's jobs against the real Stripe gateway and a fake Stripe that speaks its wire format: a renewal that
/// fails runs through the grace to FREE, a customer who never comes back is served by the sweep, and a payment whose
/// webhook was lost is found by the nightly reconciliation.
/// </summary>
public abstract class LifecycleStripeTests(LifecycleStripeFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    IdentityHost Host => fixture.Host;

    FakeStripe Stripe => fixture.Stripe;

    [Fact]
    public async Task A_failed_renewal_keeps_the_plan_through_the_grace_then_the_org_falls_to_free_with_each_mail_once()
    {
        var (orgId, owner, email) = await Host.NewOrgAsync();
        var (session, _) = await Host.InScopeAsync(sp => sp.GetRequiredService<Checkouts>().StartAsync(orgId, owner, "PRO", null, false, Ct));
        await Stripe.PayAsync(session.ExternalId);
        await Host.InScopeAsync(sp => sp.GetRequiredService<Checkouts>().CompleteAsync(orgId, session.Id, Ct));
        Assert.Equal("PRO", await Host.PlanAsync(orgId));
        var subscriptionId = (string)Stripe.Find(session.ExternalId)!["subscription"]!;

        await Stripe.RenewAsync(subscriptionId, succeed: false);
        var pastDue = await WaitForAsync(async () => await Host.SubscriptionAsync("stripe", subscriptionId) is { Status: SubscriptionStatus.PastDue } s ? s : null);
        await Host.MailAsync(email, "Payment failed");
        Assert.Equal("PRO", await Host.PlanAsync(orgId));

        var since = pastDue.PastDueSince!.Value;
        await RunGraceSweepsAsync(3, since + TimeSpan.FromDays(5) + TimeSpan.FromMinutes(1));
        Assert.Equal("PRO", await Host.PlanAsync(orgId));
        await RunGraceSweepsAsync(3, since + TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        await RunGraceSweepsAsync(1, since + TimeSpan.FromDays(7) + TimeSpan.FromMinutes(16));

        Assert.Equal("FREE", await Host.PlanAsync(orgId));
        Assert.Equal(SubscriptionStatus.Canceled, (await Host.SubscriptionAsync("stripe", subscriptionId)).Status);
        Assert.Equal("canceled", (string?)Stripe.Find(subscriptionId)!["status"]);
        Assert.Single(await Host.SettledMailsAsync(email, "Payment failed"));
        Assert.Single(await Host.SettledMailsAsync(email, "Reminder"));
        var downgraded = Assert.Single(await Host.SettledMailsAsync(email, "is now on the FREE plan"));
        Assert.Contains("its data is kept", downgraded.TextBody, StringComparison.OrdinalIgnoreCase);
        Assert.Empty(await Host.SettledMailsAsync(email, "has ended"));
    }

    [Fact]
    public async Task A_customer_who_pays_and_never_returns_is_served_by_the_checkout_sweep_once()
    {
        var (orgId, buyer, _) = await Host.NewOrgAsync();
        var (session, _) = await Host.InScopeAsync(sp => sp.GetRequiredService<Checkouts>().StartAsync(orgId, buyer, null, "CREDITS_10", false, Ct));
        Stripe.HoldWebhooks = true;
        try
        {
            await Stripe.PayAsync(session.ExternalId);

            // Younger than two minutes: left to the customer's own return.
            var started = session.CreatedAt;
            await RunCheckoutSweepsAsync(1, started + TimeSpan.FromMinutes(1));
            Assert.Equal(CheckoutStatus.Open, (await CheckoutAsync(session.Id)).Status);
            Assert.Equal(0, await Host.BalanceMicrosAsync(buyer));

            await RunCheckoutSweepsAsync(3, started + TimeSpan.FromMinutes(3));
            await RunCheckoutSweepsAsync(1, started + TimeSpan.FromMinutes(8));
        }
        finally
        {
            Stripe.HoldWebhooks = false;
        }

        var done = await CheckoutAsync(session.Id);
        Assert.Equal(CheckoutStatus.Completed, done.Status);
        Assert.NotNull(done.PaymentId);
        Assert.Equal(10 * Micros.PerCredit, await Host.BalanceMicrosAsync(buyer));
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_checkout_left_open_past_its_lifetime_is_marked_expired()
    {
        var (orgId, buyer, _) = await Host.NewOrgAsync();
        var (session, _) = await Host.InScopeAsync(sp => sp.GetRequiredService<Checkouts>().StartAsync(orgId, buyer, null, "CREDITS_10", false, Ct));

        await RunCheckoutSweepsAsync(1, session.CreatedAt + TimeSpan.FromMinutes(10));
        Assert.Equal(CheckoutStatus.Open, (await CheckoutAsync(session.Id)).Status);

        await RunCheckoutSweepsAsync(2, session.ExpiresAt + TimeSpan.FromMinutes(1));
        var expired = await CheckoutAsync(session.Id);
        Assert.Equal(CheckoutStatus.Expired, expired.Status);
        Assert.Null(expired.PaymentId);
        Assert.Equal(0, await Host.BalanceMicrosAsync(buyer));
    }

    [Fact]
    public async Task Reconciliation_records_a_payment_whose_webhook_was_dropped_once_and_a_second_run_finds_nothing_new()
    {
        var (orgId, buyer, _) = await Host.NewOrgAsync();
        var (session, _) = await Host.InScopeAsync(sp => sp.GetRequiredService<Checkouts>().StartAsync(orgId, buyer, null, "CREDITS_50", false, Ct));
        // Every event of this payment is lost on the way, and the customer never comes back.
        var made = Stripe.Events.Count;
        Stripe.DropNextWebhooks(1_000);
        try
        {
            await Stripe.PayAsync(session.ExternalId);
        }
        finally
        {
            Stripe.DropNextWebhooks(-(1_000 - (Stripe.Events.Count - made)));
        }
        Assert.True(Stripe.Events.Count > made);
        var intent = (string)Stripe.Find(session.ExternalId)!["payment_intent"]!;
        Assert.Equal(0, await Host.BalanceMicrosAsync(buyer));

        var first = Assert.Single(await ReconcileAsync());
        var repaired = Assert.Single(Entries(first), e => e.ExternalId == intent);
        Assert.Equal("missed", repaired.Problem);
        Assert.True(repaired.Repaired);
        Assert.True(first.Repaired >= 1);
        Assert.Equal(50 * Micros.PerCredit, await Host.BalanceMicrosAsync(buyer));
        var alert = await Host.MailAsync(LifecycleStripeFixture.AlertEmail, "Billing reconciliation (stripe)");
        Assert.Contains(intent, alert.TextBody);

        var second = Assert.Single(await ReconcileAsync());
        Assert.DoesNotContain(Entries(second), e => e.ExternalId == intent);
        Assert.Equal(50 * Micros.PerCredit, await Host.BalanceMicrosAsync(buyer));
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var payment = await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.Gateway == "stripe" && p.ExternalId == intent, Ct);
        Assert.Equal(PaymentStatus.Succeeded, payment.Status);
        Assert.Single(await db.Set<CreditEntry>().Where(e => e.IdempotencyKey == PaymentRecorder.PurchaseKey(payment)).ToListAsync(Ct));
        Assert.Single(await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.PaymentId == payment.Id).ToListAsync(Ct));
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task Reconciliation_lists_a_paid_payment_that_stripe_does_not_know_and_leaves_it_as_it_is()
    {
        var (orgId, buyer, _) = await Host.NewOrgAsync();
        var unknown = $"pi_{Guid.NewGuid():N}";
        await Host.InScopeAsync(sp => sp.GetRequiredService<PaymentRecorder>().RecordAsync(new GatewayPayment(
            "stripe", unknown, orgId, PaymentKind.Credits, PaymentStatus.Succeeded, 1_000, 0, "USD", 0, false, DateTimeOffset.UtcNow,
            PackageCode: "CREDITS_10", BuyerUserId: buyer), Ct));

        var run = Assert.Single(await ReconcileAsync());
        var difference = Assert.Single(Entries(run), e => e.ExternalId == unknown);
        Assert.Equal("unknown_at_gateway", difference.Problem);
        Assert.False(difference.Repaired);
        Assert.Null(difference.Gateway);
        Assert.Equal(1_000, difference.AiHub!.AmountMinor);
        Assert.True(run.Differences >= 1);
        Assert.Equal(10 * Micros.PerCredit, await Host.BalanceMicrosAsync(buyer));
        var alert = await Host.MailAsync(LifecycleStripeFixture.AlertEmail, "difference(s) need a look");
        Assert.Contains(unknown, alert.TextBody);
    }

    Task<IReadOnlyList<ReconciliationRun>> ReconcileAsync() =>
        Host.InScopeAsync(sp => sp.GetRequiredService<Reconciliation>().RunAsync(1, Ct));

    static List<ReconciliationEntry> Entries(ReconciliationRun run) =>
        JsonSerializer.Deserialize<List<ReconciliationEntry>>(run.ReportJson, JsonSerializerOptions.Web)!;

    Task<CheckoutSession> CheckoutAsync(Guid id) =>
        Host.InScopeAsync(sp => sp.GetRequiredService<AppDbContext>().Set<CheckoutSession>().IgnoreQueryFilters().AsNoTracking().SingleAsync(c => c.Id == id, Ct));

    /// <summary>Runs the grace job as nodes would, several at once, at <paramref name="at"/>.</summary>
    async Task RunGraceSweepsAsync(int concurrently, DateTimeOffset at) =>
        await Task.WhenAll(Enumerable.Range(0, concurrently).Select(_ => Task.Run(() =>
            Host.InScopeAsync(sp => ActivatorUtilities.CreateInstance<GraceSweep>(sp, (TimeProvider)new FakeTimeProvider(at)).RunAsync(Ct)), Ct)));

    async Task RunCheckoutSweepsAsync(int concurrently, DateTimeOffset at) =>
        await Task.WhenAll(Enumerable.Range(0, concurrently).Select(_ => Task.Run(() =>
            Host.InScopeAsync(sp => ActivatorUtilities.CreateInstance<CheckoutSweep>(sp, (TimeProvider)new FakeTimeProvider(at)).RunAsync(Ct)), Ct)));

    static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe) where T : class
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            if (await probe() is { } found)
                return found;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("The webhook's work did not land within 90 s.");
            await Task.Delay(100, Ct);
        }
    }
}

/// <summary>A fake Stripe, and AiHub configured to call it and to receive its webhooks.</summary>
public abstract class LifecycleStripeFixture(string provider) : IAsyncLifetime
{
    public const string AlertEmail = "billing-alerts@example.com";

    public FakeStripe Stripe { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Stripe = await FakeStripe.StartAsync();
        Host = await IdentityHost.StartAsync(provider, new Dictionary<string, string?>
        {
            ["Billing:Gateway"] = "stripe",
            ["Billing:Stripe:SecretKey"] = "sk_test_lifecycle",
            ["Billing:Stripe:WebhookSecret"] = Stripe.WebhookSecret,
            ["Billing:Stripe:ApiBase"] = Stripe.BaseAddress.ToString(),
            ["Billing:AlertEmail"] = AlertEmail,
        });
        Stripe.WebhookClient = Host.Client();
        Stripe.WebhookUrl = new Uri("https://localhost/api/billing/stripe/webhook");
    }

    public async ValueTask DisposeAsync()
    {
        await Stripe.DisposeAsync();
        await Host.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class LifecycleStripeFixtureOnSqlite() : LifecycleStripeFixture("Sqlite");

public sealed class LifecycleStripeFixtureOnPostgres() : LifecycleStripeFixture("Postgres");

public sealed class LifecycleStripeOnSqlite(LifecycleStripeFixtureOnSqlite fixture) : LifecycleStripeTests(fixture), IClassFixture<LifecycleStripeFixtureOnSqlite>;

public sealed class LifecycleStripeOnPostgres(LifecycleStripeFixtureOnPostgres fixture) : LifecycleStripeTests(fixture), IClassFixture<LifecycleStripeFixtureOnPostgres>;
