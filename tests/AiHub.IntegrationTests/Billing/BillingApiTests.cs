using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Billing;
using AiHub.Billing.Subscriptions;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Identity;
using AiHub.Infrastructure.Money;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using S = global::Stripe;

namespace AiHub.IntegrationTests.Billing;

/// <summary>
/// The customer's billing API: who may do what, what bad input is told, and what each call changes, with the real
/// Stripe gateway talking to the fake Stripe server, whose signed webhooks reach the same Host.
/// </summary>
public abstract class BillingApiTests(StripeFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    IdentityHost Host => fixture.Host;

    FakeStripe Stripe => fixture.Stripe;

    [Fact]
    public async Task A_package_checkout_returns_the_hosted_page_and_its_outcome_says_what_it_added()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();

        using var started = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/checkout", new { package = "CREDITS_50", toPool = true }), Ct);
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var body = await started.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var checkoutId = body.GetProperty("checkoutId").GetGuid();
        Assert.StartsWith(new Uri(Stripe.BaseAddress, "checkout/pay/cs_test_").AbsoluteUri, body.GetProperty("url").GetString(), StringComparison.Ordinal);

        var open = await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        Assert.Equal("open", open.GetProperty("status").GetString());
        Assert.Equal(0, await Host.BalanceMicrosAsync(org));

        await PayAsync(checkoutId);
        var done = await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(50 * Micros.PerCredit, done.GetProperty("creditsAddedMicros").GetInt64());
        Assert.True(done.GetProperty("toPool").GetBoolean());
        Assert.StartsWith("AIH-", done.GetProperty("invoiceNumber").GetString());
        Assert.Equal(50 * Micros.PerCredit, await Host.BalanceMicrosAsync(org));

        // Asked again (the return page polls), and told by the webhooks too, nothing is credited twice.
        await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        await WaitForWebhooksAsync();
        Assert.Equal(50 * Micros.PerCredit, await Host.BalanceMicrosAsync(org));
    }

    [Fact]
    public async Task A_plan_checkout_moves_the_org_to_the_plan_and_a_second_one_is_refused()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();
        var checkoutId = await StartAsync(client, owner.Tokens, org, new { plan = "pro" });
        await PayAsync(checkoutId);

        var done = await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal("PRO", done.GetProperty("planNow").GetString());

        using var overview = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Get, $"/api/orgs/{org}/billing"), Ct);
        var o = await overview.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(o.GetProperty("enabled").GetBoolean());
        Assert.Equal("PRO", o.GetProperty("plan").GetProperty("code").GetString());
        Assert.Equal("active", o.GetProperty("subscription").GetProperty("status").GetString());
        Assert.Equal(7_900, o.GetProperty("nextInvoice").GetProperty("amountMinor").GetInt64());
        Assert.Equal("visa •••• 4242", o.GetProperty("customer").GetProperty("paymentMethod").GetString());
        Assert.True(o.GetProperty("portalAvailable").GetBoolean());
        Assert.Contains(o.GetProperty("packages").EnumerateArray(), p => p.GetProperty("code").GetString() == "CREDITS_10" && p.GetProperty("priceMinor").GetInt64() == 1_000);

        var sessionsBefore = Stripe.Requests.Count(r => r.Method == "POST" && r.Path == "/v1/checkout/sessions");
        using var again = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/checkout", new { plan = "BASIC" }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("subscription/plan", (await IdentityHost.ProblemAsync(again)).GetProperty("detail").GetString());
        Assert.Equal(1, await CountAsync<CheckoutSession>(org));
        Assert.Equal(sessionsBefore, Stripe.Requests.Count(r => r.Method == "POST" && r.Path == "/v1/checkout/sessions"));
    }

    [Fact]
    public async Task Bad_checkout_requests_name_the_field_and_start_nothing()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();
        foreach (var (body, field) in new (object, string)[]
        {
            (new { plan = "GOLD" }, "plan"),
            (new { package = "CREDITS_7" }, "package"),
            (new { plan = "PRO", package = "CREDITS_10" }, "plan"),
            (new { }, "plan"),
            (new { plan = "FREE" }, "plan"),
        })
        {
            using var response = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/checkout", body), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.True((await IdentityHost.ProblemAsync(response)).GetProperty("errors").TryGetProperty(field, out _), JsonSerializer.Serialize(body));
        }
        Assert.Equal(0, await CountAsync<CheckoutSession>(org));
        Assert.DoesNotContain(Stripe.Requests, r => r.Value("metadata[aihub_org]") == org.ToString());
    }

    [Fact]
    public async Task A_member_buys_credits_for_themselves_only_and_sees_only_their_own_checkouts()
    {
        var (org, owner, member) = await NewOrgAsync();
        using var client = Host.Client();

        using var overview = await client.SendAsync(IdentityHost.As(member.Tokens, HttpMethod.Get, $"/api/orgs/{org}/billing"), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, overview.StatusCode);
        foreach (var body in new object[] { new { plan = "PRO" }, new { package = "CREDITS_10", toPool = true } })
        {
            using var refused = await client.SendAsync(IdentityHost.As(member.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/checkout", body), Ct);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("Owners and Admins", (await IdentityHost.ProblemAsync(refused)).GetProperty("title").GetString());
        }
        foreach (var path in new[] { "/subscription/plan", "/subscription/cancel", "/subscription/resume", "/portal" })
        {
            using var refused = await client.SendAsync(IdentityHost.As(member.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing{path}", new { plan = "PRO" }), Ct);
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        }
        using var details = await client.SendAsync(IdentityHost.As(member.Tokens, HttpMethod.Put, $"/api/orgs/{org}/billing/customer", new { name = "X", email = "x@example.com" }), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, details.StatusCode);
        Assert.Equal(0, await CountAsync<CheckoutSession>(org));
        Assert.DoesNotContain(Stripe.Requests, r => r.Value("metadata[aihub_org]") == org.ToString());

        var mine = await StartAsync(client, member.Tokens, org, new { package = "CREDITS_10" });
        await PayAsync(mine);
        var done = await CheckoutAsync(client, member.Tokens, org, mine);
        Assert.False(done.GetProperty("toPool").GetBoolean());
        Assert.Equal(10 * Micros.PerCredit, await Host.BalanceMicrosAsync(member.Id));
        Assert.Equal(0, await Host.BalanceMicrosAsync(org));

        var owners = await StartAsync(client, owner.Tokens, org, new { package = "CREDITS_10", toPool = true });
        using var hidden = await client.SendAsync(IdentityHost.As(member.Tokens, HttpMethod.Get, $"/api/orgs/{org}/billing/checkouts/{owners}"), Ct);
        Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
        // The owner manages billing: every checkout of the org is theirs to see.
        Assert.Equal("completed", (await CheckoutAsync(client, owner.Tokens, org, mine)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Another_orgs_checkout_is_not_found()
    {
        var (org, owner, _) = await NewOrgAsync();
        var (other, otherOwner, _) = await NewOrgAsync();
        using var client = Host.Client();
        var theirs = await StartAsync(client, otherOwner.Tokens, other, new { package = "CREDITS_10" });
        // Held, so only a read of the checkout through the API could credit it.
        Stripe.HoldWebhooks = true;
        try
        {
            await PayAsync(theirs);
        }
        finally
        {
            Stripe.HoldWebhooks = false;
        }
        var reads = Stripe.Requests.Count(r => r.Path.StartsWith("/v1/checkout/sessions/", StringComparison.Ordinal));

        using var response = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Get, $"/api/orgs/{org}/billing/checkouts/{theirs}"), Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(reads, Stripe.Requests.Count(r => r.Path.StartsWith("/v1/checkout/sessions/", StringComparison.Ordinal)));
        Assert.Equal(0, await Host.BalanceMicrosAsync(otherOwner.Id));
    }

    [Fact]
    public async Task A_declined_payment_says_so_and_credits_nothing()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();
        var checkoutId = await StartAsync(client, owner.Tokens, org, new { package = "CREDITS_10" });
        var externalId = await ExternalIdAsync(checkoutId);

        // A declined card leaves Stripe's page open for another card, as Stripe Checkout does.
        await Stripe.DeclineAsync(externalId);
        var tried = await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        Assert.Equal("open", tried.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, tried.GetProperty("failureMessage").ValueKind);
        Assert.Equal(0, await Host.BalanceMicrosAsync(owner.Id));

        // A bank transfer that fails ends the checkout, and the bank's reason is shown.
        await Stripe.PayLaterAsync(externalId);
        await Stripe.SettleAsyncPaymentAsync(externalId, succeeded: false);
        var done = await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        Assert.Equal("failed", done.GetProperty("status").GetString());
        Assert.Equal("The customer's account has insufficient funds to cover this payment.", done.GetProperty("failureMessage").GetString());
        await WaitForWebhooksAsync();
        Assert.Equal(0, await Host.BalanceMicrosAsync(owner.Id));
        Assert.Equal(0, await CountAsync<Invoice>(org));
    }

    [Fact]
    public async Task Billing_details_are_checked_field_by_field_and_pushed_to_the_gateway()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();
        using var bad = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Put, $"/api/orgs/{org}/billing/customer",
            new { name = "", email = "not-an-email", country = "USA", taxId = "DE<123>", addressLine2 = "Floor 2" }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var errors = (await IdentityHost.ProblemAsync(bad)).GetProperty("errors");
        foreach (var field in new[] { "name", "email", "country", "taxId", "addressLine1" })
            Assert.True(errors.TryGetProperty(field, out _), field);
        Assert.Equal(0, await CountAsync<BillingCustomer>(org));

        var details = new { name = "Acme Pty Ltd", email = "billing@acme.example", addressLine1 = "1 George St", city = "Sydney", state = "NSW", postalCode = "2000", country = "au", taxId = "51 824 753 556" };
        using var saved = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Put, $"/api/orgs/{org}/billing/customer", details), Ct);
        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        Assert.Equal("AU", (await saved.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("country").GetString());
        // Not yet a customer at the gateway: the first checkout sends the details there.
        Assert.DoesNotContain(Stripe.Requests, r => r.Path.StartsWith("/v1/customers", StringComparison.Ordinal) && r.Value("metadata[aihub_org]") == org.ToString());
        await StartAsync(client, owner.Tokens, org, new { package = "CREDITS_10" });
        var customerId = (await CustomerAsync(org)).CustomerId;
        Assert.StartsWith("cus_", customerId, StringComparison.Ordinal);
        var atStripe = await new S.CustomerService(StripeClient).GetAsync(customerId, cancellationToken: Ct);
        Assert.Equal(("Acme Pty Ltd", "billing@acme.example", "Sydney", "AU", org.ToString()), (atStripe.Name, atStripe.Email, atStripe.Address.City, atStripe.Address.Country, atStripe.Metadata["aihub_org"]));
        var taxId = Assert.Single((await new S.CustomerTaxIdService(StripeClient).ListAsync(customerId, cancellationToken: Ct)).Data);
        Assert.Equal(("au_abn", "51 824 753 556"), (taxId.Type, taxId.Value));

        using var changed = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Put, $"/api/orgs/{org}/billing/customer", details with { city = "Newcastle" }), Ct);
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal("Newcastle", (await new S.CustomerService(StripeClient).GetAsync(customerId, cancellationToken: Ct)).Address.City);

        Stripe.FailNextRequests(1, 400, "Invalid tax id for AU.", $"/v1/customers/{customerId}", "POST", code: "tax_id_invalid");
        using var refused = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Put, $"/api/orgs/{org}/billing/customer", details with { city = "Perth" }), Ct);
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        Assert.Equal("Stripe refused saving the customer: Invalid tax id for AU.", (await IdentityHost.ProblemAsync(refused)).GetProperty("detail").GetString());
        Assert.Equal(0, Stripe.FaultsLeft);
        Assert.Equal("Newcastle", (await CustomerAsync(org)).City);
        Assert.Equal("Newcastle", (await new S.CustomerService(StripeClient).GetAsync(customerId, cancellationToken: Ct)).Address.City);
    }

    [Fact]
    public async Task Plan_changes_upgrade_now_downgrade_at_period_end_and_free_cancels_then_resumes()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();

        using var none = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/plan", new { plan = "PRO" }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, none.StatusCode);
        Assert.Contains("checkout", (await IdentityHost.ProblemAsync(none)).GetProperty("detail").GetString());

        var checkoutId = await StartAsync(client, owner.Tokens, org, new { plan = "BASIC" });
        await PayAsync(checkoutId);
        await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        Assert.Equal("BASIC", await PlanAsync(org));
        var subscriptionId = (string)Stripe.Find(await ExternalIdAsync(checkoutId))!["subscription"]!;

        var up = await ChangeAsync(client, owner.Tokens, org, "PRO");
        Assert.Equal("upgraded", up.GetProperty("change").GetString());
        Assert.Equal("PRO", await PlanAsync(org));
        Assert.Equal(7_900, (long)StripeItemPrice(subscriptionId)["unit_amount"]!);

        var down = await ChangeAsync(client, owner.Tokens, org, "BASIC");
        Assert.Equal("downgradeScheduled", down.GetProperty("change").GetString());
        Assert.Equal("BASIC", down.GetProperty("subscription").GetProperty("pendingPlan").GetString());
        Assert.Equal("PRO", await PlanAsync(org));

        using var unknown = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/plan", new { plan = "GOLD" }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);

        var free = await ChangeAsync(client, owner.Tokens, org, "FREE");
        Assert.Equal("cancelScheduled", free.GetProperty("change").GetString());
        Assert.True(free.GetProperty("subscription").GetProperty("cancelAtPeriodEnd").GetBoolean());
        Assert.Equal("PRO", await PlanAsync(org));
        Assert.True((bool)Stripe.Find(subscriptionId)!["cancel_at_period_end"]!);

        using var twice = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/cancel"), Ct);
        Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);

        using var resumed = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/resume"), Ct);
        Assert.Equal(HttpStatusCode.OK, resumed.StatusCode);
        Assert.False((await resumed.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("cancelAtPeriodEnd").GetBoolean());
        Assert.False((bool)Stripe.Find(subscriptionId)!["cancel_at_period_end"]!);

        using var resumeAgain = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/resume"), Ct);
        Assert.Equal(HttpStatusCode.Conflict, resumeAgain.StatusCode);

        using var cancel = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/cancel"), Ct);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        Assert.True((await cancel.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("cancelAtPeriodEnd").GetBoolean());
        Assert.True((bool)Stripe.Find(subscriptionId)!["cancel_at_period_end"]!);
    }

    [Fact]
    public async Task Gateway_failures_are_502_or_503_with_retry_after_and_a_failed_estimate_still_shows_the_page()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();
        var checkoutId = await StartAsync(client, owner.Tokens, org, new { plan = "PRO" });
        await PayAsync(checkoutId);
        await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        var subscriptionId = (string)Stripe.Find(await ExternalIdAsync(checkoutId))!["subscription"]!;

        // Stripe.net tries three times; Stripe answering 503 to all of them is a transient failure.
        Stripe.FailNextRequests(3, 503, "Stripe is temporarily unavailable.", "/v1/billing_portal/sessions");
        using var portalDown = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/portal"), Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, portalDown.StatusCode);
        Assert.NotNull(portalDown.Headers.RetryAfter);
        Assert.Equal("urn:aihub:problem:payment-gateway-failed", (await IdentityHost.ProblemAsync(portalDown)).GetProperty("type").GetString());
        Assert.Equal(0, Stripe.FaultsLeft);

        using var portal = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/portal"), Ct);
        Assert.Equal(HttpStatusCode.OK, portal.StatusCode);
        Assert.StartsWith(new Uri(Stripe.BaseAddress, "portal/bps_").AbsoluteUri, (await portal.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("url").GetString(), StringComparison.Ordinal);

        Stripe.FailNextRequests(1, 400, "No such price: 'price_pro'", $"/v1/subscriptions/{subscriptionId}", "POST", code: "resource_missing");
        using var refused = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/plan", new { plan = "ENTERPRISE" }), Ct);
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        Assert.Equal("Stripe refused the plan change: No such price: 'price_pro'", (await IdentityHost.ProblemAsync(refused)).GetProperty("detail").GetString());
        Assert.Equal(0, Stripe.FaultsLeft);
        Assert.Equal("PRO", await PlanAsync(org));
        Assert.Equal(7_900, (long)StripeItemPrice(subscriptionId)["unit_amount"]!);

        Stripe.FailNextRequests(3, 500, "An unknown error occurred.", "/v1/invoices/create_preview");
        using (var overview = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Get, $"/api/orgs/{org}/billing"), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, overview.StatusCode);
            var o = await overview.Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.Equal(JsonValueKind.Null, o.GetProperty("nextInvoice").ValueKind);
            Assert.Equal("PRO", o.GetProperty("subscription").GetProperty("plan").GetString());
        }
        Assert.Equal(0, Stripe.FaultsLeft);
        using (var overview = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Get, $"/api/orgs/{org}/billing"), Ct))
            Assert.Equal(7_900, (await overview.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("nextInvoice").GetProperty("amountMinor").GetInt64());
    }

    [Fact]
    public async Task A_past_due_subscription_shows_when_its_grace_ends()
    {
        var (org, owner, _) = await NewOrgAsync();
        using var client = Host.Client();
        var checkoutId = await StartAsync(client, owner.Tokens, org, new { plan = "PRO" });
        await PayAsync(checkoutId);
        await CheckoutAsync(client, owner.Tokens, org, checkoutId);
        var subscriptionId = (string)Stripe.Find(await ExternalIdAsync(checkoutId))!["subscription"]!;

        // The renewal's card is declined at Stripe; invoice.payment_failed and customer.subscription.updated tell AiHub.
        await Stripe.RenewAsync(subscriptionId, succeed: false);
        Assert.Equal("past_due", (string?)Stripe.Find(subscriptionId)!["status"]);
        await WaitAsync(async db => await db.Set<Subscription>().IgnoreQueryFilters().AnyAsync(s => s.OrganizationId == org && s.Status == SubscriptionStatus.PastDue, Ct), "the subscription is past due");

        using var overview = await client.SendAsync(IdentityHost.As(owner.Tokens, HttpMethod.Get, $"/api/orgs/{org}/billing"), Ct);
        var s = (await overview.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("subscription");
        Assert.Equal("pastDue", s.GetProperty("status").GetString());
        Assert.Equal(s.GetProperty("pastDueSince").GetDateTimeOffset().AddDays(7), s.GetProperty("graceEndsAt").GetDateTimeOffset());
        Assert.Equal("PRO", await PlanAsync(org));
    }

    S.IStripeClient? _stripeClient;

    /// <summary>Reads what Stripe holds, as any other Stripe client would.</summary>
    S.IStripeClient StripeClient => _stripeClient ??= new S.StripeClient("sk_test_billing_api_reads", apiBase: Stripe.BaseAddress.AbsoluteUri.TrimEnd('/'));

    /// <summary>What the hosted page's Pay button does, for an AiHub checkout.</summary>
    async Task PayAsync(Guid checkoutId) => await Stripe.PayAsync(await ExternalIdAsync(checkoutId));

    async Task<string> ExternalIdAsync(Guid checkoutId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CheckoutSession>().IgnoreQueryFilters()
            .Where(c => c.Id == checkoutId).Select(c => c.ExternalId).SingleAsync(Ct);
    }

    async Task<BillingCustomer> CustomerAsync(Guid org)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<BillingCustomer>().IgnoreQueryFilters().AsNoTracking().SingleAsync(c => c.OrganizationId == org, Ct);
    }

    /// <summary>The price the subscription's item is on at Stripe now.</summary>
    System.Text.Json.Nodes.JsonNode StripeItemPrice(string subscriptionId) =>
        Stripe.Find(subscriptionId)!["items"]!["data"]![0]!["price"]!;

    /// <summary>Webhooks sent in the background and the work items they queued are done, so a later check sees everything they changed.</summary>
    async Task WaitForWebhooksAsync()
    {
        await Stripe.WaitForDeliveriesAsync();
        await WaitAsync(db => db.Set<WebhookEvent>().AllAsync(e => e.State != WebhookEventState.Received, Ct), "every webhook is handled");
    }

    async Task WaitAsync(Func<AppDbContext, Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow + Patience;
        while (true)
        {
            await using (var scope = Host.App.Services.CreateAsyncScope())
                if (await condition(scope.ServiceProvider.GetRequiredService<AppDbContext>()))
                    return;
            Assert.True(DateTime.UtcNow < until, $"Waited {Patience.TotalSeconds} s for this: {what}.");
            await Task.Delay(100, Ct);
        }
    }

    static async Task<JsonElement> ChangeAsync(HttpClient client, AuthTokens tokens, Guid org, string plan)
    {
        using var response = await client.SendAsync(IdentityHost.As(tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/subscription/plan", new { plan }), Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Ct));
        return await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
    }

    static async Task<Guid> StartAsync(HttpClient client, AuthTokens tokens, Guid org, object body)
    {
        using var response = await client.SendAsync(IdentityHost.As(tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/checkout", body), Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync(Ct));
        return (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("checkoutId").GetGuid();
    }

    static async Task<JsonElement> CheckoutAsync(HttpClient client, AuthTokens tokens, Guid org, Guid checkoutId)
    {
        using var response = await client.SendAsync(IdentityHost.As(tokens, HttpMethod.Get, $"/api/orgs/{org}/billing/checkouts/{checkoutId}"), Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync(Ct));
        return await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
    }

    async Task<string> PlanAsync(Guid org)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return (await PlanCatalog.PlanOfAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), org, Ct)).Code;
    }

    async Task<int> CountAsync<T>(Guid org) where T : class, ITenantOwned
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<T>().IgnoreQueryFilters().CountAsync(e => e.OrganizationId == org, Ct);
    }

    /// <summary>A team org with an Owner and a Member, both signed in through the API.</summary>
    async Task<(Guid Org, Person Owner, Person Member)> NewOrgAsync()
    {
        var owner = await PersonAsync("owner");
        var member = await PersonAsync("member");
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var org = new Organization { Id = Guid.CreateVersion7(), Name = "Billing " + owner.Id, CreatedAt = DateTimeOffset.UtcNow };
        db.Add(org);
        db.Add(new Membership { OrganizationId = org.Id, UserId = owner.Id, Role = OrgRole.Owner, JoinedAt = DateTimeOffset.UtcNow });
        db.Add(new Membership { OrganizationId = org.Id, UserId = member.Id, Role = OrgRole.Member, JoinedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync(Ct);
        return (org.Id, owner, member);
    }

    async Task<Person> PersonAsync(string who)
    {
        var email = IdentityHost.NewEmail(who);
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var user = new AppUser { UserName = email, Email = email, EmailConfirmed = true, CreatedAt = DateTimeOffset.UtcNow };
            var created = await scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>().CreateAsync(user, IdentityHost.Password);
            Assert.True(created.Succeeded, string.Join(" ", created.Errors.Select(e => e.Description)));
        }
        using var client = Host.Client();
        var tokens = await IdentityHost.LoginAsync(client, email);
        await using var read = Host.App.Services.CreateAsyncScope();
        var id = await read.ServiceProvider.GetRequiredService<AppDbContext>().Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync(Ct);
        return new Person(id, tokens);
    }

    internal sealed record Person(Guid Id, AuthTokens Tokens);
}

/// <summary>The same API on a deployment that takes no payments online.</summary>
public abstract class BillingApiDisabledTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_a_gateway_the_overview_says_so_and_a_checkout_is_409_that_says_why()
    {
        var user = await host.App.Services.NewAppUserAsync("nopay");
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var manager = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
            var stored = await manager.FindByIdAsync(user.Id.ToString());
            stored!.EmailConfirmed = true;
            await manager.UpdateAsync(stored);
            await manager.AddPasswordAsync(stored, IdentityHost.Password);
        }
        using var client = host.Client();
        var tokens = await IdentityHost.LoginAsync(client, user.Email!);
        var org = Guid.CreateVersion7();
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Add(new Organization { Id = org, Name = "No payments " + user.Id, CreatedAt = DateTimeOffset.UtcNow });
            db.Add(new Membership { OrganizationId = org, UserId = user.Id, Role = OrgRole.Owner, JoinedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }

        using var overview = await client.SendAsync(IdentityHost.As(tokens, HttpMethod.Get, $"/api/orgs/{org}/billing"), Ct);
        Assert.Equal(HttpStatusCode.OK, overview.StatusCode);
        Assert.False((await overview.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("enabled").GetBoolean());

        using var checkout = await client.SendAsync(IdentityHost.As(tokens, HttpMethod.Post, $"/api/orgs/{org}/billing/checkout", new { plan = "PRO" }), Ct);
        Assert.Equal(HttpStatusCode.Conflict, checkout.StatusCode);
        Assert.Contains("not set up", (await IdentityHost.ProblemAsync(checkout)).GetProperty("title").GetString());
        await using var check = host.App.Services.CreateAsyncScope();
        Assert.False(await check.ServiceProvider.GetRequiredService<AppDbContext>().Set<CheckoutSession>().IgnoreQueryFilters().AnyAsync(c => c.OrganizationId == org, Ct));
    }
}

public sealed class BillingApiOnSqlite(StripeFixtureOnSqlite fixture) : BillingApiTests(fixture), IClassFixture<StripeFixtureOnSqlite>;

public sealed class BillingApiOnPostgres(StripeFixtureOnPostgres fixture) : BillingApiTests(fixture), IClassFixture<StripeFixtureOnPostgres>;

public sealed class BillingApiDisabledOnSqlite(SqliteIdentityFixture fixture) : BillingApiDisabledTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class BillingApiDisabledOnPostgres(PostgresIdentityFixture fixture) : BillingApiDisabledTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
