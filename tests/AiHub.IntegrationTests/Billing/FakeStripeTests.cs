using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Stripe;
using Stripe.Checkout;

namespace AiHub.IntegrationTests.Billing;

/// <summary>The fake Stripe speaks Stripe's real API: the Stripe.net SDK and the official npm package accept what it says and signs.</summary>
public sealed partial class FakeStripeTests : IAsyncLifetime
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    FakeStripe _fake = null!;
    WebhookSink _sink = null!;
    StripeClient _stripe = null!;
    readonly HttpClient _browser = new(new HttpClientHandler { AllowAutoRedirect = false });

    public async ValueTask InitializeAsync()
    {
        _fake = await FakeStripe.StartAsync();
        _sink = await WebhookSink.StartAsync();
        _fake.WebhookUrl = _sink.Url;
        _stripe = new StripeClient("sk_test_fake", apiBase: _fake.BaseAddress.AbsoluteUri.TrimEnd('/'));
    }

    public async ValueTask DisposeAsync()
    {
        _browser.Dispose();
        await _fake.DisposeAsync();
        await _sink.DisposeAsync();
    }

    [Fact]
    public async Task Customers_are_created_and_updated_with_address_tax_id_and_metadata()
    {
        var customer = await _stripe.V1.Customers.CreateAsync(new CustomerCreateOptions
        {
            Name = "Acme Pty Ltd",
            Email = "owner@acme.test",
            Metadata = new() { ["aihub_org"] = "org-1" },
        }, cancellationToken: Ct);
        Assert.StartsWith("cus_", customer.Id, StringComparison.Ordinal);

        var updated = await _stripe.V1.Customers.UpdateAsync(customer.Id, new CustomerUpdateOptions
        {
            Name = "Acme Holdings",
            Address = new AddressOptions { Line1 = "1 George St", City = "Sydney", PostalCode = "2000", State = "NSW", Country = "AU" },
        }, cancellationToken: Ct);
        await _stripe.V1.Customers.TaxIds.CreateAsync(customer.Id, new CustomerTaxIdCreateOptions { Type = "au_abn", Value = "12345678912" }, cancellationToken: Ct);

        var read = await _stripe.V1.Customers.GetAsync(customer.Id, cancellationToken: Ct);
        Assert.Equal("Acme Holdings", read.Name);
        Assert.Equal("owner@acme.test", read.Email);
        Assert.Equal("AU", read.Address.Country);
        Assert.Equal("org-1", read.Metadata["aihub_org"]);
        Assert.Equal(updated.Address.Line1, read.Address.Line1);
        var taxIds = await _stripe.V1.Customers.TaxIds.ListAsync(customer.Id, cancellationToken: Ct);
        var taxId = Assert.Single(taxIds.Data);
        Assert.Equal(("au_abn", "12345678912", "AU"), (taxId.Type, taxId.Value, taxId.Country));

        var missing = await Assert.ThrowsAsync<StripeException>(() => _stripe.V1.Customers.GetAsync("cus_nobody", cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.NotFound, missing.HttpStatusCode);
        Assert.Equal("resource_missing", missing.StripeError.Code);
        Assert.Equal("invalid_request_error", missing.StripeError.Type);
    }

    [Fact]
    public async Task A_wrong_key_is_401_and_an_idempotency_key_replays_the_first_answer()
    {
        _fake.ApiKey = "sk_test_right";
        var wrong = new StripeClient("sk_test_wrong", apiBase: _fake.BaseAddress.AbsoluteUri.TrimEnd('/'));
        var refused = await Assert.ThrowsAsync<StripeException>(() => wrong.V1.Customers.CreateAsync(new CustomerCreateOptions(), cancellationToken: Ct));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.HttpStatusCode);
        Assert.DoesNotContain("sk_test_wrong", refused.StripeError.Message, StringComparison.Ordinal);

        var right = new StripeClient("sk_test_right", apiBase: _fake.BaseAddress.AbsoluteUri.TrimEnd('/'));
        var options = new RequestOptions { IdempotencyKey = "once-" + Guid.NewGuid() };
        var first = await right.V1.Customers.CreateAsync(new CustomerCreateOptions { Email = "a@b.test" }, options, Ct);
        var again = await right.V1.Customers.CreateAsync(new CustomerCreateOptions { Email = "a@b.test" }, options, Ct);
        Assert.Equal(first.Id, again.Id);
        var clash = await Assert.ThrowsAsync<StripeException>(() => right.V1.Customers.CreateAsync(new CustomerCreateOptions { Email = "c@d.test" }, options, Ct));
        Assert.Equal("idempotency_error", clash.StripeError.Type);
        Assert.Single((await right.V1.Customers.ListAsync(cancellationToken: Ct)).Data);
    }

    [Fact]
    public async Task Prices_are_found_by_lookup_key_with_their_product_expanded()
    {
        await PlanPriceAsync("aihub_plan_basic", 2_900);
        await PlanPriceAsync("aihub_plan_pro", 7_900);

        var found = await _stripe.V1.Prices.ListAsync(new PriceListOptions
        {
            LookupKeys = ["aihub_plan_pro"],
            Active = true,
            Expand = ["data.product"],
        }, cancellationToken: Ct);

        var price = Assert.Single(found.Data);
        Assert.Equal((7_900L, "usd", "month"), (price.UnitAmount!.Value, price.Currency, price.Recurring.Interval));
        Assert.Equal("PRO", price.Product.Name);
        var duplicate = await Assert.ThrowsAsync<StripeException>(() => PlanPriceAsync("aihub_plan_pro", 8_000));
        Assert.Equal(HttpStatusCode.BadRequest, duplicate.HttpStatusCode);
    }

    [Fact]
    public async Task A_package_paid_on_the_hosted_page_reads_back_paid_with_its_payment_intent_and_charge()
    {
        var customer = await _stripe.V1.Customers.CreateAsync(new CustomerCreateOptions { Email = "buyer@acme.test" }, cancellationToken: Ct);
        var session = await PackageCheckoutAsync(customer.Id, 1_000);
        Assert.Equal(new Uri(_fake.BaseAddress, "checkout/pay/" + session.Id).AbsoluteUri, session.Url);
        Assert.Equal(("open", "unpaid"), (session.Status, session.PaymentStatus));

        var page = await _browser.GetStringAsync(session.Url, Ct);
        Assert.Contains("USD 10.00", page, StringComparison.Ordinal);
        Assert.Contains("100 credits", page, StringComparison.Ordinal);
        var paid = await PostPageAsync(session.Url, "pay");
        Assert.Equal(HttpStatusCode.SeeOther, paid.StatusCode);
        Assert.Equal($"https://hub.test/orgs/1/billing/return?checkout=chk-1&session={session.Id}", paid.Headers.Location!.AbsoluteUri);

        var read = await _stripe.V1.Checkout.Sessions.GetAsync(session.Id, new SessionGetOptions { Expand = ["payment_intent.latest_charge", "line_items"] }, cancellationToken: Ct);
        Assert.Equal(("complete", "paid"), (read.Status, read.PaymentStatus));
        Assert.Equal(1_000, read.AmountTotal);
        Assert.Equal("100 credits", Assert.Single(read.LineItems.Data).Description);
        var intent = read.PaymentIntent;
        Assert.Equal(("succeeded", 1_000L), (intent.Status, intent.AmountReceived));
        Assert.Equal("pkg100", intent.Metadata["aihub_package"]);
        Assert.Equal((true, 0L, "4242", "visa"), (intent.LatestCharge.Paid, intent.LatestCharge.AmountRefunded,
            intent.LatestCharge.PaymentMethodDetails.Card.Last4, intent.LatestCharge.PaymentMethodDetails.Card.Brand));

        Assert.Equal(HttpStatusCode.Conflict, (await PostPageAsync(session.Url, "pay")).StatusCode);
        var types = _fake.Events.Select(e => (string)e["type"]!).ToList();
        Assert.Contains("payment_intent.succeeded", types);
        Assert.Equal("checkout.session.completed", types[^1]);
    }

    [Fact]
    public async Task A_declined_card_keeps_the_session_open_and_the_page_says_why()
    {
        var session = await PackageCheckoutAsync(null, 500);

        var declined = await PostPageAsync(session.Url, "decline");

        Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
        Assert.Contains("Your card was declined", await declined.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        var read = await _stripe.V1.Checkout.Sessions.GetAsync(session.Id, cancellationToken: Ct);
        Assert.Equal(("open", "unpaid"), (read.Status, read.PaymentStatus));
        Assert.DoesNotContain(_fake.Events, e => (string?)e["type"] == "checkout.session.completed");
        Assert.Equal(HttpStatusCode.SeeOther, (await PostPageAsync(session.Url, "pay")).StatusCode);
    }

    [Fact]
    public async Task A_bank_transfer_completes_unpaid_and_succeeds_when_it_settles()
    {
        var session = await PackageCheckoutAsync(null, 700);

        Assert.Equal(HttpStatusCode.SeeOther, (await PostPageAsync(session.Url, "async")).StatusCode);
        var waiting = await _stripe.V1.Checkout.Sessions.GetAsync(session.Id, new SessionGetOptions { Expand = ["payment_intent"] }, cancellationToken: Ct);
        Assert.Equal(("complete", "unpaid", "processing"), (waiting.Status, waiting.PaymentStatus, waiting.PaymentIntent.Status));

        await _fake.SettleAsyncPaymentAsync(session.Id, succeeded: true);

        var settled = await _stripe.V1.Checkout.Sessions.GetAsync(session.Id, new SessionGetOptions { Expand = ["payment_intent"] }, cancellationToken: Ct);
        Assert.Equal(("paid", "succeeded"), (settled.PaymentStatus, settled.PaymentIntent.Status));
        Assert.Contains(_fake.Events, e => (string?)e["type"] == "checkout.session.async_payment_succeeded");
    }

    [Fact]
    public async Task A_subscription_checkout_makes_an_active_subscription_and_a_paid_first_invoice_with_the_period_on_the_item()
    {
        var start = new DateTimeOffset(2026, 1, 31, 12, 0, 0, TimeSpan.Zero);
        _fake.UtcNow = start;
        var (session, customer) = await SubscriptionCheckoutAsync("aihub_plan_basic", 2_900, country: "AU");

        await _fake.PayAsync(session.Id);

        var read = await _stripe.V1.Checkout.Sessions.GetAsync(session.Id, new SessionGetOptions { Expand = ["subscription", "invoice.payments"] }, cancellationToken: Ct);
        Assert.Equal(("complete", "paid"), (read.Status, read.PaymentStatus));
        var subscription = read.Subscription;
        Assert.Equal("active", subscription.Status);
        Assert.Equal("BASIC", subscription.Metadata["aihub_plan"]);
        var item = Assert.Single(subscription.Items.Data);
        Assert.Equal((start.UtcDateTime, new DateTime(2026, 2, 28, 12, 0, 0, DateTimeKind.Utc)), (item.CurrentPeriodStart, item.CurrentPeriodEnd));
        var invoice = read.Invoice;
        Assert.Equal(("paid", "subscription_create"), (invoice.Status, invoice.BillingReason));
        // 10 % GST on top for an Australian address with automatic tax on.
        Assert.Equal((2_900L, 3_190L, 3_190L, 290L), (invoice.Subtotal, invoice.Total, invoice.AmountPaid, Assert.Single(invoice.TotalTaxes).Amount));
        Assert.Equal(subscription.Id, invoice.Parent.SubscriptionDetails.SubscriptionId);
        Assert.Equal("BASIC", invoice.Parent.SubscriptionDetails.Metadata["aihub_plan"]);
        Assert.Equal(item.CurrentPeriodEnd, Assert.Single(invoice.Lines.Data).Period.End);
        var intent = await _stripe.V1.PaymentIntents.GetAsync(Assert.Single(invoice.Payments.Data).Payment.PaymentIntentId, cancellationToken: Ct);
        Assert.Equal(("succeeded", 3_190L, customer.Id), (intent.Status, intent.AmountReceived, intent.CustomerId));
        var types = _fake.Events.Select(e => (string)e["type"]!).ToList();
        Assert.True(types.IndexOf("customer.subscription.created") < types.IndexOf("invoice.paid"));
        Assert.True(types.IndexOf("invoice.paid") < types.IndexOf("checkout.session.completed"));
    }

    [Fact]
    public async Task A_trial_starts_trialing_with_a_free_first_invoice()
    {
        var (session, _) = await SubscriptionCheckoutAsync("aihub_plan_pro", 7_900, trialDays: 14);

        var completed = await _fake.PayAsync(session.Id);

        Assert.Equal("no_payment_required", (string?)completed["payment_status"]);
        var subscription = await _stripe.V1.Subscriptions.GetAsync((string)completed["subscription"]!, new SubscriptionGetOptions { Expand = ["latest_invoice"] }, cancellationToken: Ct);
        Assert.Equal("trialing", subscription.Status);
        Assert.Equal(subscription.TrialEnd, subscription.Items.Data[0].CurrentPeriodEnd);
        Assert.Equal(14, (subscription.TrialEnd!.Value - subscription.TrialStart!.Value).TotalDays);
        Assert.Equal((0L, "paid"), (subscription.LatestInvoice.Total, subscription.LatestInvoice.Status));
    }

    [Fact]
    public async Task An_upgrade_with_always_invoice_makes_and_pays_a_proration_invoice_at_once()
    {
        var start = new DateTimeOffset(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
        _fake.UtcNow = start;
        var subscription = await PaidSubscriptionAsync("aihub_plan_basic", 3_000);
        var pro = await PlanPriceAsync("aihub_plan_pro", 9_300);
        _fake.UtcNow = start.AddDays(15.5); // half of March's 31 days are left

        var updated = await _stripe.V1.Subscriptions.UpdateAsync(subscription.Id, new SubscriptionUpdateOptions
        {
            Items = [new SubscriptionItemOptions { Id = subscription.Items.Data[0].Id, Price = pro.Id }],
            ProrationBehavior = "always_invoice",
            Metadata = new() { ["aihub_plan"] = "PRO" },
            Expand = ["latest_invoice"],
        }, cancellationToken: Ct);

        Assert.Equal(pro.Id, updated.Items.Data[0].Price.Id);
        Assert.Equal("PRO", updated.Metadata["aihub_plan"]);
        var invoice = updated.LatestInvoice;
        Assert.Equal(("subscription_update", "paid"), (invoice.BillingReason, invoice.Status));
        Assert.Equal([-1_500L, 4_650L], invoice.Lines.Data.Select(l => l.Amount));
        Assert.All(invoice.Lines.Data, l => Assert.True(l.Parent.SubscriptionItemDetails.Proration));
        Assert.Equal((3_150L, 3_150L), (invoice.Total, invoice.AmountPaid));
        var changed = _fake.Events.Last(e => (string?)e["type"] == "customer.subscription.updated");
        Assert.NotNull(changed["data"]!["previous_attributes"]!["items"]);
    }

    [Fact]
    public async Task Cancel_at_period_end_can_be_resumed_and_a_delete_ends_the_subscription_now()
    {
        var subscription = await PaidSubscriptionAsync("aihub_plan_basic", 2_900);

        var canceling = await _stripe.V1.Subscriptions.UpdateAsync(subscription.Id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = true }, cancellationToken: Ct);
        Assert.True(canceling.CancelAtPeriodEnd);
        Assert.Equal(canceling.Items.Data[0].CurrentPeriodEnd, canceling.CancelAt);
        var noPreview = await Assert.ThrowsAsync<StripeException>(() => _stripe.V1.Invoices.CreatePreviewAsync(new InvoiceCreatePreviewOptions { Subscription = subscription.Id }, cancellationToken: Ct));
        Assert.Equal("invoice_upcoming_none", noPreview.StripeError.Code);

        var resumed = await _stripe.V1.Subscriptions.UpdateAsync(subscription.Id, new SubscriptionUpdateOptions { CancelAtPeriodEnd = false }, cancellationToken: Ct);
        Assert.False(resumed.CancelAtPeriodEnd);
        Assert.Null(resumed.CancelAt);
        var preview = await _stripe.V1.Invoices.CreatePreviewAsync(new InvoiceCreatePreviewOptions { Customer = subscription.CustomerId, Subscription = subscription.Id }, cancellationToken: Ct);
        Assert.Equal(2_900, preview.AmountDue);
        Assert.Equal(resumed.Items.Data[0].CurrentPeriodEnd, preview.Lines.Data[0].Period.Start);

        var ended = await _stripe.V1.Subscriptions.CancelAsync(subscription.Id, cancellationToken: Ct);
        Assert.Equal("canceled", ended.Status);
        Assert.NotNull(ended.EndedAt);
        await _fake.WaitForDeliveriesAsync();
        Assert.Contains(_sink.Received, r => r.Type == "customer.subscription.deleted");
        var live = await _stripe.V1.Subscriptions.ListAsync(new SubscriptionListOptions { Customer = subscription.CustomerId }, cancellationToken: Ct);
        Assert.Empty(live.Data);
        var all = await _stripe.V1.Subscriptions.ListAsync(new SubscriptionListOptions { Customer = subscription.CustomerId, Status = "all" }, cancellationToken: Ct);
        Assert.Single(all.Data);
    }

    [Fact]
    public async Task Refunds_take_part_then_the_rest_and_refuse_more_than_is_left()
    {
        var session = await PackageCheckoutAsync(null, 1_000);
        var paid = await _fake.PayAsync(session.Id);
        var intentId = (string)paid["payment_intent"]!;

        var part = await _stripe.V1.Refunds.CreateAsync(new RefundCreateOptions { PaymentIntent = intentId, Amount = 300, Reason = "requested_by_customer" }, cancellationToken: Ct);
        Assert.Equal(("succeeded", 300L), (part.Status, part.Amount));
        var tooMuch = await Assert.ThrowsAsync<StripeException>(() => _stripe.V1.Refunds.CreateAsync(new RefundCreateOptions { PaymentIntent = intentId, Amount = 701 }, cancellationToken: Ct));
        Assert.Equal((HttpStatusCode.BadRequest, "amount"), (tooMuch.HttpStatusCode, tooMuch.StripeError.Param));
        var rest = await _stripe.V1.Refunds.CreateAsync(new RefundCreateOptions { Charge = part.ChargeId }, cancellationToken: Ct);
        Assert.Equal(700, rest.Amount);

        var charge = await _stripe.V1.Charges.GetAsync(part.ChargeId, cancellationToken: Ct);
        Assert.Equal((1_000L, true), (charge.AmountRefunded, charge.Refunded));
        var again = await Assert.ThrowsAsync<StripeException>(() => _stripe.V1.Refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id }, cancellationToken: Ct));
        Assert.Equal("charge_already_refunded", again.StripeError.Code);
        await _fake.WaitForDeliveriesAsync();
        var refunded = _sink.Received.Where(r => r.Type == "charge.refunded").Select(r => r.Event.Data.Object).Cast<Charge>().ToList();
        Assert.Equal([300L, 1_000L], refunded.Select(c => c.AmountRefunded));
        Assert.Equal(2, _sink.Received.Count(r => r.Type == "refund.created"));
    }

    [Fact]
    public async Task A_dispute_marks_the_charge_and_sends_its_event()
    {
        var paid = await _fake.PayAsync((await PackageCheckoutAsync(null, 1_000)).Id);
        var intent = await _stripe.V1.PaymentIntents.GetAsync((string)paid["payment_intent"]!, cancellationToken: Ct);

        await _fake.OpenDisputeAsync(intent.LatestChargeId);

        var dispute = (Dispute)_sink.Received.Single(r => r.Type == "charge.dispute.created").Event.Data.Object;
        Assert.Equal((intent.LatestChargeId, 1_000L, "needs_response"), (dispute.ChargeId, dispute.Amount, dispute.Status));
        Assert.True((await _stripe.V1.Charges.GetAsync(intent.LatestChargeId, cancellationToken: Ct)).Disputed);
    }

    [Fact]
    public async Task A_failed_renewal_is_past_due_until_a_later_renewal_succeeds()
    {
        var start = new DateTimeOffset(2026, 1, 15, 0, 0, 0, TimeSpan.Zero);
        _fake.UtcNow = start;
        var subscription = await PaidSubscriptionAsync("aihub_plan_basic", 2_900);
        _fake.UtcNow = start.AddMonths(1);

        var failed = await _fake.RenewAsync(subscription.Id, succeed: false);

        var pastDue = await _stripe.V1.Subscriptions.GetAsync(subscription.Id, cancellationToken: Ct);
        Assert.Equal("past_due", pastDue.Status);
        Assert.Equal((start.AddMonths(1).UtcDateTime, start.AddMonths(2).UtcDateTime), (pastDue.Items.Data[0].CurrentPeriodStart, pastDue.Items.Data[0].CurrentPeriodEnd));
        var open = await _stripe.V1.Invoices.GetAsync((string)failed!["id"]!, cancellationToken: Ct);
        Assert.Equal(("open", "subscription_cycle", 0L), (open.Status, open.BillingReason, open.AmountPaid));
        Assert.Contains(_sink.Received, r => r.Type == "invoice.payment_failed" && ((Invoice)r.Event.Data.Object).Id == open.Id);

        _fake.UtcNow = start.AddMonths(2);
        var renewed = await _fake.RenewAsync(subscription.Id, succeed: true);

        Assert.Equal("active", (await _stripe.V1.Subscriptions.GetAsync(subscription.Id, cancellationToken: Ct)).Status);
        Assert.Equal("paid", (string?)renewed!["status"]);
        var cycle = await _stripe.V1.Invoices.ListAsync(new InvoiceListOptions { Subscription = subscription.Id, Created = new DateRangeOptions { GreaterThanOrEqual = start.AddMonths(1).UtcDateTime } }, cancellationToken: Ct);
        Assert.Equal(2, cycle.Data.Count);
        var retried = await _fake.RetryInvoiceAsync(open.Id, succeed: true);
        Assert.Equal("paid", (string?)retried["status"]);
    }

    [Fact]
    public async Task Portal_sessions_and_events_are_served_as_stripe_lists_them()
    {
        var customer = await _stripe.V1.Customers.CreateAsync(new CustomerCreateOptions { Name = "Acme" }, cancellationToken: Ct);

        var portal = await _stripe.V1.BillingPortal.Sessions.CreateAsync(new Stripe.BillingPortal.SessionCreateOptions { Customer = customer.Id, ReturnUrl = "https://hub.test/orgs/1/billing" }, cancellationToken: Ct);
        var page = await _browser.GetStringAsync(portal.Url, Ct);
        Assert.Contains("href=\"https://hub.test/orgs/1/billing\"", page, StringComparison.Ordinal);

        await _fake.PayAsync((await PackageCheckoutAsync(customer.Id, 1_000)).Id);
        await _fake.PayAsync((await PackageCheckoutAsync(customer.Id, 2_000)).Id);
        var completed = await _stripe.V1.Events.ListAsync(new EventListOptions { Type = "checkout.session.completed" }, cancellationToken: Ct);
        Assert.Equal(2, completed.Data.Count);
        Assert.Equal(2_000, ((Session)completed.Data[0].Data.Object).AmountTotal);
        var one = await _stripe.V1.Events.GetAsync(completed.Data[1].Id, cancellationToken: Ct);
        Assert.Equal(FakeStripe.ApiVersion, one.ApiVersion);
        var firstPage = await _stripe.V1.Events.ListAsync(new EventListOptions { Limit = 2 }, cancellationToken: Ct);
        Assert.True(firstPage.HasMore);
        Assert.Equal(_fake.Events.Count, _stripe.V1.Events.ListAutoPaging(new EventListOptions { Limit = 3 }).Count());
    }

    [Fact]
    public async Task Deliveries_are_signed_so_stripe_net_accepts_them_and_a_tampered_body_is_rejected()
    {
        await _fake.PayAsync((await PackageCheckoutAsync(null, 1_000)).Id);

        var delivery = _sink.Received.Single(r => r.Type == "checkout.session.completed");
        Assert.StartsWith("application/json", delivery.ContentType, StringComparison.Ordinal);
        Assert.Matches("^t=[0-9]+,v1=[0-9a-f]{64}$", delivery.Signature);
        var evt = EventUtility.ConstructEvent(delivery.Body, delivery.Signature, _fake.WebhookSecret);
        Assert.Equal(delivery.Event.Id, evt.Id);
        Assert.IsType<Session>(evt.Data.Object);
        Assert.Throws<StripeException>(() => EventUtility.ConstructEvent(delivery.Body.Replace("\"paid\"", "\"unpaid\"", StringComparison.Ordinal), delivery.Signature, _fake.WebhookSecret));
        Assert.Throws<StripeException>(() => EventUtility.ConstructEvent(delivery.Body, delivery.Signature, "whsec_other"));
    }

    [Fact]
    public async Task Held_events_are_sent_only_when_chosen_failed_deliveries_are_retried_and_dropped_ones_never_go()
    {
        _fake.HoldWebhooks = true;
        await _fake.PayAsync((await PackageCheckoutAsync(null, 1_000)).Id);
        Assert.Empty(_sink.Received);

        var completed = _fake.Events.Single(e => (string?)e["type"] == "checkout.session.completed");
        var id = (string)completed["id"]!;
        _sink.Failures = 1;
        var statuses = await _fake.DeliverAsync(Enumerable.Repeat<object>(id, 5), parallelism: 3);
        Assert.All(statuses, s => Assert.Equal(200, s));
        Assert.Equal(5, _sink.Received.Count(r => r.Event.Id == id));
        Assert.Equal(6, _fake.Deliveries.Count(d => d.EventId == id));

        _fake.HoldWebhooks = false;
        _fake.DropNextWebhooks(100);
        await _fake.PayAsync((await PackageCheckoutAsync(null, 2_000)).Id);
        Assert.Equal(5, _sink.Received.Count);
        Assert.Equal(2, _fake.Events.Count(e => (string?)e["type"] == "checkout.session.completed"));
    }

    [Fact]
    public async Task The_official_stripe_package_verifies_the_fake_signature_and_makes_the_same_header()
    {
        await _fake.PayAsync((await PackageCheckoutAsync(null, 1_000)).Id);
        var delivery = _sink.Received.Single(r => r.Type == "checkout.session.completed");
        var timestamp = long.Parse(Regex.Match(delivery.Signature, "t=([0-9]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var payload = Path.GetTempFileName();
        try
        {
            await System.IO.File.WriteAllTextAsync(payload, delivery.Body, Ct);
            var run = await NodeClients.RunAsync("billing/stripe-signature.mjs", [payload, _fake.WebhookSecret, delivery.Signature, timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            Assert.True(run.ExitCode == 0, run.ToString());
            var result = JsonNode.Parse(run.Stdout)!;
            Assert.Equal(delivery.Event.Id, (string?)result["id"]);
            Assert.True((bool)result["tamperedRejected"]!);
            Assert.Equal(delivery.Signature, (string?)result["header"]);
            Assert.Equal(delivery.Signature, _fake.SignatureHeader(delivery.Body, DateTimeOffset.FromUnixTimeSeconds(timestamp)));
        }
        finally
        {
            System.IO.File.Delete(payload);
        }
    }

    // ---- helpers ----

    async Task<Price> PlanPriceAsync(string lookupKey, long amount) =>
        await _stripe.V1.Prices.CreateAsync(new PriceCreateOptions
        {
            UnitAmount = amount,
            Currency = "usd",
            Recurring = new PriceRecurringOptions { Interval = "month" },
            LookupKey = lookupKey,
            ProductData = new PriceProductDataOptions { Name = lookupKey.Replace("aihub_plan_", "", StringComparison.Ordinal).ToUpperInvariant() },
        }, cancellationToken: Ct);

    Task<Session> PackageCheckoutAsync(string? customerId, long amount) =>
        _stripe.V1.Checkout.Sessions.CreateAsync(new SessionCreateOptions
        {
            Mode = "payment",
            Customer = customerId,
            LineItems = [new SessionLineItemOptions
            {
                Quantity = 1,
                PriceData = new SessionLineItemPriceDataOptions { Currency = "usd", UnitAmount = amount, ProductData = new SessionLineItemPriceDataProductDataOptions { Name = "100 credits" } },
            }],
            SuccessUrl = "https://hub.test/orgs/1/billing/return?checkout=chk-1&session={CHECKOUT_SESSION_ID}",
            CancelUrl = "https://hub.test/orgs/1/billing?canceled=chk-1",
            Metadata = new() { ["aihub_kind"] = "credits", ["aihub_package"] = "pkg100" },
            PaymentIntentData = new SessionPaymentIntentDataOptions { Metadata = new() { ["aihub_kind"] = "credits", ["aihub_package"] = "pkg100" } },
        }, cancellationToken: Ct);

    async Task<(Session Session, Customer Customer)> SubscriptionCheckoutAsync(string lookupKey, long amount, string? country = null, long? trialDays = null)
    {
        var price = await PlanPriceAsync(lookupKey, amount);
        var customer = await _stripe.V1.Customers.CreateAsync(new CustomerCreateOptions
        {
            Email = "owner@acme.test",
            Address = country is null ? null : new AddressOptions { Country = country, Line1 = "1 George St", City = "Sydney", PostalCode = "2000" },
        }, cancellationToken: Ct);
        var plan = lookupKey.Replace("aihub_plan_", "", StringComparison.Ordinal).ToUpperInvariant();
        var session = await _stripe.V1.Checkout.Sessions.CreateAsync(new SessionCreateOptions
        {
            Mode = "subscription",
            Customer = customer.Id,
            LineItems = [new SessionLineItemOptions { Price = price.Id, Quantity = 1 }],
            SuccessUrl = "https://hub.test/orgs/1/billing/return?checkout=chk-2",
            CancelUrl = "https://hub.test/orgs/1/billing?canceled=chk-2",
            AutomaticTax = new SessionAutomaticTaxOptions { Enabled = true },
            CustomerUpdate = new SessionCustomerUpdateOptions { Address = "auto" },
            TaxIdCollection = new SessionTaxIdCollectionOptions { Enabled = true },
            AllowPromotionCodes = true,
            Metadata = new() { ["aihub_kind"] = "plan", ["aihub_plan"] = plan },
            SubscriptionData = new SessionSubscriptionDataOptions { Metadata = new() { ["aihub_kind"] = "plan", ["aihub_plan"] = plan }, TrialPeriodDays = trialDays },
        }, cancellationToken: Ct);
        return (session, customer);
    }

    async Task<Subscription> PaidSubscriptionAsync(string lookupKey, long amount)
    {
        var (session, _) = await SubscriptionCheckoutAsync(lookupKey, amount);
        var paid = await _fake.PayAsync(session.Id);
        return await _stripe.V1.Subscriptions.GetAsync((string)paid["subscription"]!, cancellationToken: Ct);
    }

    async Task<HttpResponseMessage> PostPageAsync(string url, string action) =>
        await _browser.PostAsync(url, new FormUrlEncodedContent([new("action", action)]), Ct);

    /// <summary>A webhook endpoint on loopback that keeps what it received and can fail the next few deliveries.</summary>
    sealed class WebhookSink : IAsyncDisposable
    {
        readonly WebApplication _app;
        readonly Lock _gate = new();
        readonly List<Delivery> _received = [];

        WebhookSink(WebApplication app) => _app = app;

        public Uri Url { get; private set; } = null!;

        /// <summary>How many of the next deliveries get a 500.</summary>
        public int Failures { get; set; }

        public IReadOnlyList<Delivery> Received
        {
            get { lock (_gate) return [.. _received]; }
        }

        public static async Task<WebhookSink> StartAsync()
        {
            var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
            builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var sink = new WebhookSink(app);
            app.Run(async context =>
            {
                using var reader = new StreamReader(context.Request.Body);
                var body = await reader.ReadToEndAsync();
                lock (sink._gate)
                {
                    if (sink.Failures > 0)
                    {
                        sink.Failures--;
                        context.Response.StatusCode = 500;
                        return;
                    }
                    var evt = EventUtility.ParseEvent(body);
                    sink._received.Add(new Delivery(body, context.Request.Headers["Stripe-Signature"].ToString(), context.Request.ContentType ?? "", evt));
                }
            });
            await app.StartAsync();
            sink.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/webhook");
            return sink;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    sealed record Delivery(string Body, string Signature, string ContentType, Event Event)
    {
        public string Type => Event.Type;
    }
}
