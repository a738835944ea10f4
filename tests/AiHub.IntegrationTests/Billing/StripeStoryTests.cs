using System.Text.Json.Nodes;
using AiHub.Billing;
using AiHub.Billing.Checkout;
using AiHub.Billing.Invoices;
using AiHub.Billing.Payments;
using AiHub.Billing.Stripe;
using AiHub.Billing.Subscriptions;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Infrastructure.Jobs;
using AiHub.Infrastructure.Money;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Billing;

/// <summary>One AiHub on a real database taking money through the fake Stripe, whose signed webhooks reach AiHub's endpoint.</summary>
public abstract class StripeFixture(string provider) : IAsyncLifetime
{
    public FakeStripe Stripe { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Stripe = await FakeStripe.StartAsync();
        Host = await IdentityHost.StartAsync(provider, new Dictionary<string, string?>
        {
            ["Billing:Gateway"] = "stripe",
            ["Billing:Stripe:ApiBase"] = Stripe.BaseAddress.AbsoluteUri,
            ["Billing:Stripe:SecretKey"] = "sk_test_aihub_stories",
            ["Billing:Stripe:WebhookSecret"] = Stripe.WebhookSecret,
        });
        var client = Host.Client();
        Stripe.WebhookClient = client;
        Stripe.WebhookUrl = new Uri(client.BaseAddress!, "/api/billing/stripe/webhook");
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Stripe.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class StripeFixtureOnSqlite() : StripeFixture("Sqlite");

public sealed class StripeFixtureOnPostgres() : StripeFixture("Postgres");

/// <summary>Money in through Stripe, as a customer and Stripe's dashboard move it, told by the webhooks alone.</summary>
public abstract class StripeStoryTests(StripeFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    IdentityHost Host => fixture.Host;

    FakeStripe Stripe => fixture.Stripe;

    [Fact]
    public async Task A_plan_paid_on_checkout_moves_the_org_to_it_through_the_webhook_with_an_invoice_and_its_receipt_queued()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var (session, redirect) = await StartAsync(orgId, buyer, plan: "PRO");
        Assert.StartsWith(Stripe.BaseAddress.AbsoluteUri, redirect.AbsoluteUri, StringComparison.Ordinal);

        await Stripe.PayAsync(session.ExternalId);

        await WaitAsync(async db => (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code == "PRO", "the org is on PRO");
        await WaitAsync(db => db.Set<CheckoutSession>().IgnoreQueryFilters().AnyAsync(c => c.Id == session.Id && c.Status == CheckoutStatus.Completed, Ct), "the checkout is completed");
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var payment = await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.OrganizationId == orgId, Ct);
        Assert.Equal((PaymentKind.Plan, PaymentStatus.Succeeded, 7_900L, "PRO"), (payment.Kind, payment.Status, payment.AmountMinor, payment.PlanCode));
        Assert.StartsWith("in_", payment.ExternalId, StringComparison.Ordinal);
        var invoice = await db.Set<Invoice>().IgnoreQueryFilters().SingleAsync(i => i.PaymentId == payment.Id, Ct);
        Assert.Equal(7_900, invoice.TotalMinor);
        Assert.True(await db.WorkItems.AnyAsync(w => w.Kind == InvoiceIssuer.ReceiptWorkKind && w.Payload.Contains(invoice.Id.ToString()), Ct));
        var subscription = await db.Set<Subscription>().IgnoreQueryFilters().SingleAsync(s => s.OrganizationId == orgId, Ct);
        Assert.Equal(SubscriptionStatus.Active, subscription.Status);
        Assert.Equal(subscription.Id, payment.SubscriptionId);
        await AssertNoEventFailedAsync();
    }

    [Fact]
    public async Task A_credit_package_lands_in_the_buyers_account_or_the_org_pool()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var (own, _) = await StartAsync(orgId, buyer, package: "CREDITS_10");
        await Stripe.PayAsync(own.ExternalId);
        var (pooled, _) = await StartAsync(orgId, buyer, package: "CREDITS_50", toPool: true);
        await Stripe.PayAsync(pooled.ExternalId);

        var buyerAccount = await AccountAsync(CreditOwner.User, buyer, null);
        var pool = await AccountAsync(CreditOwner.Organization, null, orgId);
        await WaitAsync(async _ => await Host.BalanceMicrosAsync(buyerAccount) == 10 * Micros.PerCredit, "10 credits in the buyer's account");
        await WaitAsync(async _ => await Host.BalanceMicrosAsync(pool) == 50 * Micros.PerCredit, "50 credits in the pool");
        Assert.Empty(await Host.VerifyLedgerAsync());
        await AssertNoEventFailedAsync();
    }

    [Fact]
    public async Task A_hundred_duplicated_and_shuffled_deliveries_credit_exactly_once()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var (session, _) = await StartAsync(orgId, buyer, package: "CREDITS_10");
        var before = Stripe.Events.Count;
        Stripe.HoldWebhooks = true;
        try
        {
            await Stripe.PayAsync(session.ExternalId);
        }
        finally
        {
            Stripe.HoldWebhooks = false;
        }
        var made = Stripe.Events.Skip(before).Select(e => (string)e["id"]!).ToList();
        Assert.NotEmpty(made);
        var deliveries = Enumerable.Range(0, 100).Select(i => made[i % made.Count]).OrderBy(_ => Random.Shared.Next()).Cast<object>().ToList();

        var statuses = await Stripe.DeliverAsync(deliveries, parallelism: 8);

        Assert.All(statuses, s => Assert.Equal(200, s));
        var account = await AccountAsync(CreditOwner.User, buyer, null);
        await WaitAsync(async _ => await Host.BalanceMicrosAsync(account) == 10 * Micros.PerCredit, "the package is credited");
        await WaitAsync(db => db.Set<WebhookEvent>().Where(e => made.Contains(e.EventId)).AllAsync(e => e.State != WebhookEventState.Received, Ct), "every event is handled");
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(made.Count, await db.Set<WebhookEvent>().CountAsync(e => made.Contains(e.EventId), Ct));
        Assert.Equal(1, await Host.EntryCountAsync(account, CreditKind.Purchase));
        Assert.Equal(10 * Micros.PerCredit, await Host.BalanceMicrosAsync(account));
        Assert.Single(await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.OrganizationId == orgId).ToListAsync(Ct));
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_failed_renewal_keeps_the_plan_through_the_grace_then_the_org_falls_to_free_and_a_paid_retry_brings_it_back()
    {
        var (orgId, subscription) = await SubscribedAsync("PRO");

        await Stripe.RenewAsync(subscription.ExternalId, succeed: false);

        await WaitAsync(db => db.Set<Subscription>().IgnoreQueryFilters().AnyAsync(s => s.Id == subscription.Id && s.Status == SubscriptionStatus.PastDue, Ct), "past due");
        await WaitAsync(db => db.Set<Payment>().IgnoreQueryFilters().AnyAsync(p => p.OrganizationId == orgId && p.Status == PaymentStatus.Failed, Ct), "the failed renewal recorded");
        Assert.Equal("PRO", await PlanAsync(orgId));

        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            // Eight days later: the grace of seven has run out.
            await db.Set<Subscription>().IgnoreQueryFilters().Where(s => s.Id == subscription.Id)
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.PastDueSince, DateTimeOffset.UtcNow.AddDays(-8)), Ct);
            await scope.ServiceProvider.GetRequiredService<SubscriptionSync>().SyncPlanAsync(orgId, Ct);
        }
        Assert.Equal(Plan.Free, await PlanAsync(orgId));

        var open = Stripe.Find(subscription.ExternalId)!["latest_invoice"]!.GetValue<string>();
        await Stripe.RetryInvoiceAsync(open, succeed: true);
        await WaitAsync(async db => (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code == "PRO", "back on PRO once paid");
        await AssertNoEventFailedAsync();
    }

    [Fact]
    public async Task A_refund_from_the_dashboard_takes_the_credits_back_even_below_zero()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var (session, _) = await StartAsync(orgId, buyer, package: "CREDITS_10");
        await Stripe.PayAsync(session.ExternalId);
        var account = await AccountAsync(CreditOwner.User, buyer, null);
        await WaitAsync(async _ => await Host.BalanceMicrosAsync(account) == 10 * Micros.PerCredit, "credited");
        await using (var scope = Host.App.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<Ledger>().PostAsync(account, CreditKind.Adjustment, -8 * Micros.PerCredit, "spent", null, $"spend:{session.Id}", Ct);
        var intent = Stripe.Find(session.ExternalId)!["payment_intent"]!.GetValue<string>();

        await Stripe.RefundFromDashboardAsync(intent);

        await WaitAsync(db => db.Set<Payment>().IgnoreQueryFilters().AnyAsync(p => p.ExternalId == intent && p.Status == PaymentStatus.Refunded, Ct), "refunded");
        var after = await Host.AccountAsync(account);
        Assert.Equal(-8 * Micros.PerCredit, after.Balance);
        Assert.True(after.Overdrawn);
        Assert.Equal(1, await Host.EntryCountAsync(account, CreditKind.Refund));
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_dispute_takes_the_credits_back()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var (session, _) = await StartAsync(orgId, buyer, package: "CREDITS_10");
        await Stripe.PayAsync(session.ExternalId);
        var account = await AccountAsync(CreditOwner.User, buyer, null);
        await WaitAsync(async _ => await Host.BalanceMicrosAsync(account) == 10 * Micros.PerCredit, "credited");
        var intent = Stripe.Find(session.ExternalId)!["payment_intent"]!.GetValue<string>();
        var charge = Stripe.Find(intent)!["latest_charge"]!.GetValue<string>();

        await Stripe.OpenDisputeAsync(charge);

        await WaitAsync(db => db.Set<Payment>().IgnoreQueryFilters().AnyAsync(p => p.ExternalId == intent && p.Status == PaymentStatus.Disputed, Ct), "disputed");
        Assert.Equal(0, await Host.BalanceMicrosAsync(account));
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_refunded_subscription_payment_ends_the_plan_at_once()
    {
        var (orgId, subscription) = await SubscribedAsync("BASIC");
        var invoice = Stripe.Find(subscription.ExternalId)!["latest_invoice"]!.GetValue<string>();
        var intent = InvoiceIntent(invoice);

        await Stripe.RefundFromDashboardAsync(intent);

        await WaitAsync(db => db.Set<Subscription>().IgnoreQueryFilters().AnyAsync(s => s.Id == subscription.Id && s.Status == SubscriptionStatus.Canceled, Ct), "the subscription ended");
        await WaitAsync(async db => (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code == Plan.Free, "the org is on FREE");
        await WaitForQuietAsync();
        Assert.Equal("canceled", Stripe.Find(subscription.ExternalId)!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_upgrade_is_charged_at_once_with_proration_and_a_downgrade_waits_for_the_end_of_the_period()
    {
        var (orgId, subscription) = await SubscribedAsync("BASIC");

        await ChangePlanAsync(subscription, "PRO", atPeriodEnd: false);
        await WaitAsync(db => db.Set<Payment>().IgnoreQueryFilters().CountAsync(p => p.OrganizationId == orgId && p.Kind == PaymentKind.Plan && p.PaidAt != null, Ct).ContinueWith(t => t.Result == 2), "the proration invoice is paid");
        Assert.Equal("PRO", await PlanAsync(orgId));
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var proration = await db.Set<Payment>().IgnoreQueryFilters().Where(p => p.OrganizationId == orgId).OrderByDescending(p => p.CreatedAt).ThenByDescending(p => p.UpdatedAt).ToListAsync(Ct);
            Assert.Contains(proration, p => p.PlanCode == "PRO" && p.AmountMinor > 0 && p.AmountMinor < 7_900);
        }

        await ChangePlanAsync(await CurrentAsync(subscription.Id), "BASIC", atPeriodEnd: true);
        await WaitForQuietAsync();
        var pending = await CurrentAsync(subscription.Id);
        Assert.Equal(("PRO", "BASIC"), (pending.PlanCode, pending.PendingPlanCode));
        Assert.Equal("PRO", await PlanAsync(orgId));

        // Stripe renews into the next period: the plan paid for has run out, whatever AiHub's clock says.
        await Stripe.RenewAsync(subscription.ExternalId, succeed: true);
        await WaitAsync(async db => (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code == "BASIC", "on BASIC after the period");
        Assert.Null((await CurrentAsync(subscription.Id)).PendingPlanCode);
        await AssertNoEventFailedAsync();
    }

    [Fact]
    public async Task Cancel_at_the_period_end_keeps_the_plan_and_resume_takes_it_back()
    {
        var (orgId, subscription) = await SubscribedAsync("PRO");

        await SetCancelAsync(subscription, true);
        await WaitForQuietAsync();
        Assert.True((await CurrentAsync(subscription.Id)).CancelAtPeriodEnd);
        Assert.True(Stripe.Find(subscription.ExternalId)!["cancel_at_period_end"]!.GetValue<bool>());
        Assert.Equal("PRO", await PlanAsync(orgId));

        await SetCancelAsync(subscription, false);
        await WaitForQuietAsync();
        Assert.False((await CurrentAsync(subscription.Id)).CancelAtPeriodEnd);
        Assert.False(Stripe.Find(subscription.ExternalId)!["cancel_at_period_end"]!.GetValue<bool>());
        Assert.Equal("PRO", await PlanAsync(orgId));
    }

    [Fact]
    public async Task Events_about_a_customer_aihub_does_not_know_are_ignored_and_credit_nothing()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var stripe = new global::Stripe.StripeClient("sk_test_someone_else", apiBase: Stripe.BaseAddress.AbsoluteUri.TrimEnd('/'));
        var stranger = await new global::Stripe.CustomerService(stripe).CreateAsync(new global::Stripe.CustomerCreateOptions { Email = "stranger@example.com" }, cancellationToken: Ct);
        // AiHub's metadata, naming a real organisation, on a customer that is not the organisation's.
        var metadata = new Dictionary<string, string>
        {
            ["aihub_org"] = orgId.ToString(), ["aihub_kind"] = "credits", ["aihub_package"] = "CREDITS_10", ["aihub_buyer"] = buyer.ToString(),
            ["aihub_to_pool"] = "false", ["aihub_checkout"] = Guid.NewGuid().ToString(),
        };
        var session = await new global::Stripe.Checkout.SessionService(stripe).CreateAsync(new global::Stripe.Checkout.SessionCreateOptions
        {
            Mode = "payment", Customer = stranger.Id, SuccessUrl = "https://elsewhere.test/ok", Metadata = metadata,
            PaymentIntentData = new global::Stripe.Checkout.SessionPaymentIntentDataOptions { Metadata = metadata },
            LineItems = [new() { Quantity = 1, PriceData = new() { Currency = "usd", UnitAmount = 1_000, ProductData = new() { Name = "10 credits" } } }],
        }, cancellationToken: Ct);
        var before = Stripe.Events.Count;

        await Stripe.PayAsync(session.Id);
        var intent = Stripe.Find(session.Id)!["payment_intent"]!.GetValue<string>();
        await Stripe.RefundFromDashboardAsync(intent);

        var made = Stripe.Events.Skip(before).Select(e => (string)e["id"]!).ToList();
        await WaitAsync(db => db.Set<WebhookEvent>().Where(e => made.Contains(e.EventId)).AllAsync(e => e.State != WebhookEventState.Received, Ct), "every event is handled");
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var handled = await db.Set<WebhookEvent>().Where(e => made.Contains(e.EventId)).ToListAsync(Ct);
        Assert.Contains(handled, e => e.Type == "checkout.session.completed" && e.State == WebhookEventState.Ignored);
        Assert.Contains(handled, e => e.Type == "charge.refunded" && e.State == WebhookEventState.Ignored && e.Error!.Contains(stranger.Id, StringComparison.Ordinal));
        Assert.DoesNotContain(handled, e => e.State == WebhookEventState.Processed);
        Assert.False(await db.Set<Payment>().IgnoreQueryFilters().AnyAsync(p => p.OrganizationId == orgId, Ct));
        Assert.False(await db.Set<CreditAccount>().AnyAsync(a => a.UserId == buyer && a.Balance != 0, Ct));
    }

    [Fact]
    public async Task The_reconciliation_lists_a_payment_whose_webhooks_were_lost_and_recording_it_credits_once()
    {
        var (orgId, buyer) = await NewOrgAsync();
        var (session, _) = await StartAsync(orgId, buyer, package: "CREDITS_10");
        var from = DateTimeOffset.UtcNow.AddMinutes(-5);
        Stripe.HoldWebhooks = true;
        try
        {
            await Stripe.PayAsync(session.ExternalId);
        }
        finally
        {
            Stripe.HoldWebhooks = false;
        }
        var intent = Stripe.Find(session.ExternalId)!["payment_intent"]!.GetValue<string>();
        var account = await AccountAsync(CreditOwner.User, buyer, null);
        Assert.Equal(0, await Host.BalanceMicrosAsync(account));

        await using var scope = Host.App.Services.CreateAsyncScope();
        var gateway = scope.ServiceProvider.GetRequiredService<PaymentGateways>().Of("stripe");
        var listed = await gateway.ListPaymentsAsync(from, DateTimeOffset.UtcNow.AddMinutes(5), Ct);
        var missed = Assert.Single(listed, p => p.ExternalId == intent);
        Assert.Equal((orgId, PaymentKind.Credits, PaymentStatus.Succeeded, 1_000L, "CREDITS_10"), (missed.OrganizationId, missed.Kind, missed.Status, missed.AmountMinor, missed.PackageCode));
        var recorder = scope.ServiceProvider.GetRequiredService<PaymentRecorder>();
        await recorder.RecordAsync(missed, Ct);
        await recorder.RecordAsync(missed, Ct);

        Assert.Equal(10 * Micros.PerCredit, await Host.BalanceMicrosAsync(account));
        Assert.Equal(1, await Host.EntryCountAsync(account, CreditKind.Purchase));
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    // ---- steps ----

    async Task<(CheckoutSession Session, Uri Redirect)> StartAsync(Guid orgId, Guid userId, string? plan = null, string? package = null, bool toPool = false)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Checkouts>().StartAsync(orgId, userId, plan, package, toPool, Ct);
    }

    async Task<(Guid OrgId, Subscription Subscription)> SubscribedAsync(string plan)
    {
        var (orgId, buyer) = await NewOrgAsync();
        var (session, _) = await StartAsync(orgId, buyer, plan: plan);
        await Stripe.PayAsync(session.ExternalId);
        await WaitAsync(async db => (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code == plan, $"on {plan}");
        await WaitForQuietAsync();
        await using var scope = Host.App.Services.CreateAsyncScope();
        var subscription = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Subscription>().IgnoreQueryFilters().AsNoTracking()
            .SingleAsync(s => s.OrganizationId == orgId, Ct);
        return (orgId, subscription);
    }

    /// <summary>What the Billing page's "change plan" does: ask the gateway, then apply its answer.</summary>
    async Task ChangePlanAsync(Subscription subscription, string plan, bool atPeriodEnd)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var to = await db.Set<Plan>().AsNoTracking().SingleAsync(p => p.Code == plan, Ct);
        var changed = await scope.ServiceProvider.GetRequiredService<PaymentGateways>().Of("stripe").ChangePlanAsync(subscription, to, atPeriodEnd, Ct);
        await scope.ServiceProvider.GetRequiredService<SubscriptionSync>().ApplyAsync(changed, Ct);
    }

    async Task SetCancelAsync(Subscription subscription, bool cancel)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        var changed = await scope.ServiceProvider.GetRequiredService<PaymentGateways>().Of("stripe").SetCancelAtPeriodEndAsync(subscription, cancel, Ct);
        await scope.ServiceProvider.GetRequiredService<SubscriptionSync>().ApplyAsync(changed, Ct);
    }

    string InvoiceIntent(string invoiceId)
    {
        var stripe = new global::Stripe.StripeClient("sk_test_aihub_stories", apiBase: Stripe.BaseAddress.AbsoluteUri.TrimEnd('/'));
        var payments = new global::Stripe.InvoicePaymentService(stripe).List(new global::Stripe.InvoicePaymentListOptions { Invoice = invoiceId });
        return payments.Data.Single().Payment.PaymentIntentId;
    }

    async Task<Subscription> CurrentAsync(Guid id)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Subscription>().IgnoreQueryFilters().AsNoTracking().SingleAsync(s => s.Id == id, Ct);
    }

    async Task<string> PlanAsync(Guid orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return (await PlanCatalog.PlanOfAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), orgId, Ct)).Code;
    }

    async Task<Guid> AccountAsync(CreditOwner owner, Guid? userId, Guid? orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<Ledger>().OpenAsync(owner, userId, orgId, Ct)).Id;
    }

    /// <summary>Until every Stripe event stored so far is handled: the handlers run as work items, after the webhook has answered.</summary>
    async Task WaitForQuietAsync()
    {
        try
        {
            await WaitAsync(db => db.Set<WebhookEvent>().AllAsync(e => e.State != WebhookEventState.Received, Ct), "every stored event is handled");
        }
        catch (Xunit.Sdk.FailException)
        {
            await using var scope = Host.App.Services.CreateAsyncScope();
            var stuck = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<WebhookEvent>()
                .Where(e => e.State == WebhookEventState.Received).Select(e => e.Type + " " + e.ObjectId + ": " + e.Error).ToListAsync(Ct);
            var work = await scope.ServiceProvider.GetRequiredService<AppDbContext>().WorkItems
                .Where(w => w.Kind == StripeEventWork.Kind && w.State != WorkState.Succeeded).Select(w => w.State + " " + w.Attempts + " " + w.LastError).ToListAsync(Ct);
            Assert.Fail("Still waiting: " + string.Join("; ", stuck) + " | work: " + string.Join("; ", work));
        }
    }

    async Task AssertNoEventFailedAsync()
    {
        await WaitForQuietAsync();
        await using var scope = Host.App.Services.CreateAsyncScope();
        var failed = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<WebhookEvent>()
            .Where(e => e.State == WebhookEventState.Failed).Select(e => e.Type + ": " + e.Error).ToListAsync(Ct);
        Assert.Empty(failed);
    }

    async Task WaitAsync(Func<AppDbContext, Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow + Patience;
        while (true)
        {
            await using (var scope = Host.App.Services.CreateAsyncScope())
            {
                if (await condition(scope.ServiceProvider.GetRequiredService<AppDbContext>()))
                    return;
            }
            if (DateTime.UtcNow > until)
                Assert.Fail($"Timed out waiting until {what}.");
            await Task.Delay(100, Ct);
        }
    }

    async Task<(Guid OrgId, Guid UserId)> NewOrgAsync()
    {
        var (orgId, ownerId, _) = await Host.NewOrgAsync("Stripe");
        return (orgId, ownerId);
    }
}

public sealed class StripeStoriesOnSqlite(StripeFixtureOnSqlite fixture) : StripeStoryTests(fixture), IClassFixture<StripeFixtureOnSqlite>;

public sealed class StripeStoriesOnPostgres(StripeFixtureOnPostgres fixture) : StripeStoryTests(fixture), IClassFixture<StripeFixtureOnPostgres>;
