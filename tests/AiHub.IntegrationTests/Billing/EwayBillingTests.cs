using System.Net;
using AiHub.Billing;
using AiHub.Billing.Checkout;
using AiHub.Billing.Eway;
using AiHub.Billing.Lifecycle;
using AiHub.Billing.Payments;
using AiHub.Billing.Subscriptions;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Infrastructure.Money;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Billing;

/// <summary>AiHub on a real database with Billing:Gateway=eway, talking to a fake eWAY Rapid API that keeps state.</summary>
public abstract class EwayFixture(string provider) : IAsyncLifetime
{
    /// <summary>10 % GST, added by AiHub since eWAY computes no tax.</summary>
    public const int TaxBasisPoints = 1_000;

    public static readonly TimeSpan RetryBackoff = TimeSpan.FromHours(1);

    public FakeEway Eway { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Eway = await FakeEway.StartAsync();
        Host = await IdentityHost.StartAsync(provider, new Dictionary<string, string?>
        {
            ["Billing:Gateway"] = "eway",
            ["Billing:Eway:Endpoint"] = Eway.BaseAddress.AbsoluteUri,
            ["Billing:Eway:ApiKey"] = FakeEway.DefaultApiKey,
            ["Billing:Eway:Password"] = FakeEway.DefaultPassword,
            ["Billing:Eway:MaxChargeAttempts"] = "4",
            ["Billing:Eway:RetryBackoff"] = RetryBackoff.ToString(),
            ["Billing:Seller:TaxRateBasisPoints"] = TaxBasisPoints.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Billing:Seller:TaxName"] = "GST",
        });
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Eway.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteEwayFixture() : EwayFixture("Sqlite");

public sealed class PostgresEwayFixture() : EwayFixture("Postgres");

/// <summary>Paying through eWAY: the shared page, the return and the sweep, token renewals, upgrades, refunds, and refused keys.</summary>
public abstract class EwayBillingTests(EwayFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    IdentityHost Host => fixture.Host;

    FakeEway Eway => fixture.Eway;

    [Fact]
    public async Task A_plan_paid_on_the_shared_page_moves_the_org_to_it_saves_the_card_and_issues_an_invoice_with_gst()
    {
        var (orgId, userId) = await NewOrgAsync();

        var checkout = await BuyAsync(orgId, userId, "PRO", null, "pay");
        var done = await CompleteAsync(orgId, checkout);

        Assert.Equal(CheckoutStatus.Completed, done.Status);
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal("PRO", (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code);
        var sent = Eway.Requests.Last(r => r.Path == "/AccessCodesShared").Body!;
        Assert.Equal("TokenPayment", (string?)sent["Method"]);
        Assert.Equal(checkout.ToString("N"), (string?)sent["Payment"]!["InvoiceReference"]);
        // 79.00 and 10 % GST, rounded half up: 86.90.
        Assert.Equal(8_690, (int)sent["Payment"]!["TotalAmount"]!);
        var customer = await db.Set<BillingCustomer>().IgnoreQueryFilters().SingleAsync(c => c.OrganizationId == orgId, Ct);
        var charged = Eway.Transactions.Single(t => t.InvoiceReference == checkout.ToString("N"));
        Assert.Equal(charged.TokenCustomerID, customer.CustomerId);
        Assert.Equal("card •••• 1111", customer.PaymentMethod);
        var subscription = await db.Set<Subscription>().IgnoreQueryFilters().SingleAsync(s => s.OrganizationId == orgId, Ct);
        Assert.Equal((SubscriptionStatus.Active, "PRO", EwayGateway.SubscriptionIdOf(checkout)), (subscription.Status, subscription.PlanCode, subscription.ExternalId));
        Assert.Equal(subscription.CurrentPeriodStart.AddMonths(1), subscription.CurrentPeriodEnd);
        var payment = await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.OrganizationId == orgId, Ct);
        Assert.Equal((charged.TransactionID.ToString(System.Globalization.CultureInfo.InvariantCulture), 8_690L, 790L, subscription.Id),
            (payment.ExternalId, payment.AmountMinor, payment.TaxMinor, payment.SubscriptionId!.Value));
        var invoice = await db.Set<Invoice>().IgnoreQueryFilters().SingleAsync(i => i.PaymentId == payment.Id, Ct);
        Assert.Equal((7_900L, 790L, 8_690L), (invoice.SubtotalMinor, invoice.TaxMinor, invoice.TotalMinor));
    }

    [Fact]
    public async Task A_package_credits_once_however_often_the_return_is_read()
    {
        var (orgId, userId) = await NewOrgAsync();
        var checkout = await BuyAsync(orgId, userId, null, "CREDITS_10", "pay");

        await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => CompleteAsync(orgId, checkout), Ct)));

        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var account = await scope.ServiceProvider.GetRequiredService<Ledger>().OpenAsync(CreditOwner.User, userId, null, Ct);
        Assert.Equal(10 * Micros.PerCredit, await Host.BalanceMicrosAsync(account.Id));
        var payment = await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.OrganizationId == orgId, Ct);
        Assert.Single(await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.PaymentId == payment.Id).ToListAsync(Ct));
        Assert.Single(Eway.Transactions, t => t.InvoiceReference == checkout.ToString("N"));
        Assert.Empty(await Host.VerifyLedgerAsync());
    }

    [Fact]
    public async Task A_declined_card_on_the_shared_page_fails_the_checkout_in_words_and_records_nothing()
    {
        var (orgId, userId) = await NewOrgAsync();
        var checkout = await BuyAsync(orgId, userId, "BASIC", null, "decline");

        var done = await CompleteAsync(orgId, checkout);

        Assert.Equal(CheckoutStatus.Failed, done.Status);
        Assert.Contains("do not honour (D4405)", done.FailureMessage, StringComparison.Ordinal);
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(Plan.Free, (await PlanCatalog.PlanOfAsync(db, orgId, Ct)).Code);
        Assert.False(await db.Set<Payment>().IgnoreQueryFilters().AnyAsync(p => p.OrganizationId == orgId, Ct));
        Assert.False(await db.Set<Subscription>().IgnoreQueryFilters().AnyAsync(s => s.OrganizationId == orgId, Ct));
    }

    [Fact]
    public async Task The_sweep_records_a_payment_whose_customer_never_came_back_and_expires_an_unpaid_checkout()
    {
        var (orgId, userId) = await NewOrgAsync();
        var paid = await BuyAsync(orgId, userId, null, "CREDITS_50", "pay");
        var abandoned = await BuyAsync(orgId, userId, null, "CREDITS_10", null);
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var past = DateTimeOffset.UtcNow.AddHours(-2);
            await db.Set<CheckoutSession>().IgnoreQueryFilters().Where(c => c.Id == paid || c.Id == abandoned)
                .ExecuteUpdateAsync(u => u.SetProperty(c => c.CreatedAt, past).SetProperty(c => c.ExpiresAt, past.AddHours(1)), Ct);
        }

        await using (var scope = Host.App.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<CheckoutSweep>().RunAsync(Ct);

        await using var check = Host.App.Services.CreateAsyncScope();
        var checkDb = check.ServiceProvider.GetRequiredService<AppDbContext>();
        var sessions = await checkDb.Set<CheckoutSession>().IgnoreQueryFilters().Where(c => c.OrganizationId == orgId).ToDictionaryAsync(c => c.Id, Ct);
        Assert.Equal(CheckoutStatus.Completed, sessions[paid].Status);
        Assert.Equal(CheckoutStatus.Expired, sessions[abandoned].Status);
        var payment = await checkDb.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.OrganizationId == orgId, Ct);
        Assert.Equal(("CREDITS_50", PaymentStatus.Succeeded, sessions[paid].PaymentId), (payment.PackageCode, payment.Status, (Guid?)payment.Id));
    }

    [Fact]
    public async Task A_declined_renewal_goes_past_due_retries_with_a_doubling_wait_then_a_paid_one_moves_the_period_on()
    {
        var (orgId, userId) = await NewOrgAsync();
        var checkout = await BuyAsync(orgId, userId, "PRO", null, "pay");
        await CompleteAsync(orgId, checkout);
        var first = await MakeDueAsync(orgId);

        Eway.DeclineNextTokenPayments(2);
        await RenewAsync();
        var afterOne = await SubscriptionAsync(orgId);
        Assert.Equal((SubscriptionStatus.PastDue, 1), (afterOne.Status, afterOne.FailedCharges));
        AssertAround(DateTimeOffset.UtcNow + EwayFixture.RetryBackoff, afterOne.NextChargeAt);
        Assert.Equal("PRO", await PlanAsync(orgId));   // kept through the grace period

        await RenewAsync();   // not due yet: nothing is charged
        Assert.Single(Eway.Transactions, t => Renewals(orgId).Contains(t.InvoiceReference));

        await MakeDueAsync(orgId, keepPeriod: true);
        await RenewAsync();
        var afterTwo = await SubscriptionAsync(orgId);
        Assert.Equal((SubscriptionStatus.PastDue, 2), (afterTwo.Status, afterTwo.FailedCharges));
        AssertAround(DateTimeOffset.UtcNow + 2 * EwayFixture.RetryBackoff, afterTwo.NextChargeAt);

        await MakeDueAsync(orgId, keepPeriod: true);
        await RenewAsync();
        var renewed = await SubscriptionAsync(orgId);
        Assert.Equal((SubscriptionStatus.Active, 0, (DateTimeOffset?)null, (DateTimeOffset?)null), (renewed.Status, renewed.FailedCharges, renewed.PastDueSince, renewed.NextChargeAt));
        Assert.Equal((first.CurrentPeriodEnd, first.CurrentPeriodEnd.AddMonths(1)), (renewed.CurrentPeriodStart, renewed.CurrentPeriodEnd));
        var payments = await PaymentsAsync(orgId);
        Assert.Equal(2, payments.Count);
        var renewal = payments.Single(p => p.PeriodStart == first.CurrentPeriodEnd);
        Assert.Equal((PaymentStatus.Succeeded, 8_690L, 790L, "PRO"), (renewal.Status, renewal.AmountMinor, renewal.TaxMinor, renewal.PlanCode));
        Assert.Equal(3, Eway.Transactions.Count(t => Renewals(orgId).Contains(t.InvoiceReference)));
        Assert.Equal(2, Eway.Transactions.Count(t => Renewals(orgId).Contains(t.InvoiceReference) && !t.TransactionStatus));
    }

    [Fact]
    public async Task Renewal_runs_at_once_charge_a_period_once()
    {
        var (orgId, userId) = await NewOrgAsync();
        await CompleteAsync(orgId, await BuyAsync(orgId, userId, "BASIC", null, "pay"));
        var before = await MakeDueAsync(orgId);
        // A slow bank keeps the first charge open while the other runs read the same due subscription.
        Eway.TokenPaymentDelay = TimeSpan.FromMilliseconds(500);
        try
        {
            await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(RenewAsync, Ct)));
        }
        finally
        {
            Eway.TokenPaymentDelay = TimeSpan.Zero;
        }

        Assert.Single(Eway.Transactions, t => Renewals(orgId).Contains(t.InvoiceReference));
        var payments = await PaymentsAsync(orgId);
        Assert.Equal(2, payments.Count);
        Assert.Equal(before.CurrentPeriodEnd.AddMonths(1), (await SubscriptionAsync(orgId)).CurrentPeriodEnd);
    }

    [Fact]
    public async Task A_renewal_whose_answer_was_lost_is_found_by_its_reference_and_not_charged_again()
    {
        var (orgId, userId) = await NewOrgAsync();
        await CompleteAsync(orgId, await BuyAsync(orgId, userId, "PRO", null, "pay"));
        var before = await MakeDueAsync(orgId);

        Eway.LoseNextAnswers();
        await RenewAsync();

        var charged = Assert.Single(Eway.Transactions, t => Renewals(orgId).Contains(t.InvoiceReference));
        Assert.True(charged.TransactionStatus);
        Assert.Single(await PaymentsAsync(orgId));   // not recorded yet: the answer never came
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            // The nightly reconciliation finds it too, by the reference recorded before the call.
            var listed = await scope.ServiceProvider.GetRequiredService<EwayGateway>().ListPaymentsAsync(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1), Ct);
            Assert.Contains(listed, p => p.ExternalId == charged.TransactionID.ToString(System.Globalization.CultureInfo.InvariantCulture) && p.PeriodStart == before.CurrentPeriodEnd);
        }

        await MakeDueAsync(orgId, keepPeriod: true);   // the claim lapses, as after a crash
        await RenewAsync();

        Assert.Single(Eway.Transactions, t => Renewals(orgId).Contains(t.InvoiceReference));
        var payments = await PaymentsAsync(orgId);
        Assert.Equal(2, payments.Count);
        Assert.Contains(payments, p => p.ExternalId == charged.TransactionID.ToString(System.Globalization.CultureInfo.InvariantCulture) && p.PaidAt is not null);
        var after = await SubscriptionAsync(orgId);
        Assert.Equal((SubscriptionStatus.Active, before.CurrentPeriodEnd.AddMonths(1)), (after.Status, after.CurrentPeriodEnd));
    }

    [Fact]
    public async Task A_subscription_cancelled_at_period_end_ends_then_without_a_charge()
    {
        var (orgId, userId) = await NewOrgAsync();
        await CompleteAsync(orgId, await BuyAsync(orgId, userId, "BASIC", null, "pay"));
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var gateway = scope.ServiceProvider.GetRequiredService<EwayGateway>();
            await scope.ServiceProvider.GetRequiredService<SubscriptionSync>().ApplyAsync(
                await gateway.SetCancelAtPeriodEndAsync(await SubscriptionAsync(orgId), true, Ct), Ct);
        }
        await MakeDueAsync(orgId);

        await RenewAsync();

        Assert.DoesNotContain(Eway.Transactions, t => Renewals(orgId).Contains(t.InvoiceReference));
        Assert.Equal(SubscriptionStatus.Canceled, (await SubscriptionAsync(orgId)).Status);
        Assert.Equal(Plan.Free, await PlanAsync(orgId));
    }

    [Fact]
    public async Task An_upgrade_charges_the_prorated_difference_now_and_a_downgrade_waits_for_the_renewal()
    {
        var (orgId, userId) = await NewOrgAsync();
        await CompleteAsync(orgId, await BuyAsync(orgId, userId, "BASIC", null, "pay"));
        // A 30-day period with 19 whole days left.
        var start = DateTimeOffset.UtcNow.AddDays(-10).AddHours(-1);
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Subscription>().IgnoreQueryFilters().Where(s => s.OrganizationId == orgId)
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.CurrentPeriodStart, start).SetProperty(s => s.CurrentPeriodEnd, start.AddDays(30)), Ct);
        }

        await ChangePlanAsync(orgId, "PRO", atPeriodEnd: false);

        // (79.00 − 29.00) × 19 / 30 = 31.66, and 10 % GST rounded half up: 3.17.
        var upgrade = (await PaymentsAsync(orgId)).Single(p => p.PlanCode == "PRO");
        Assert.Equal((3_483L, 317L, PaymentStatus.Succeeded), (upgrade.AmountMinor, upgrade.TaxMinor, upgrade.Status));
        var upgraded = await SubscriptionAsync(orgId);
        Assert.Equal(("PRO", upgraded.CurrentPeriodEnd), (upgraded.PlanCode, upgrade.PeriodEnd!.Value));
        Assert.InRange(upgraded.CurrentPeriodEnd, start.AddDays(30).AddSeconds(-1), start.AddDays(30).AddSeconds(1));
        Assert.Equal("PRO", await PlanAsync(orgId));

        var charges = Eway.Transactions.Count;
        await ChangePlanAsync(orgId, "BASIC", atPeriodEnd: true);
        var downgraded = await SubscriptionAsync(orgId);
        Assert.Equal(("PRO", "BASIC"), (downgraded.PlanCode, downgraded.PendingPlanCode));
        Assert.Equal(charges, Eway.Transactions.Count);

        await MakeDueAsync(orgId);
        await RenewAsync();
        var renewed = await SubscriptionAsync(orgId);
        Assert.Equal(("BASIC", (string?)null), (renewed.PlanCode, renewed.PendingPlanCode));
        Assert.Equal(3_190, Eway.Transactions.Last(t => Renewals(orgId).Contains(t.InvoiceReference)).TotalAmount);
    }

    [Fact]
    public async Task An_upgrade_with_a_declined_card_is_refused_and_changes_nothing()
    {
        var (orgId, userId) = await NewOrgAsync();
        await CompleteAsync(orgId, await BuyAsync(orgId, userId, "BASIC", null, "pay"));
        Eway.DeclineNextTokenPayments(1, "D4451");

        var refused = await Assert.ThrowsAsync<PaymentGatewayException>(() => ChangePlanAsync(orgId, "PRO", atPeriodEnd: false));

        Assert.Contains("insufficient funds (D4451)", refused.Message, StringComparison.Ordinal);
        Assert.Equal("BASIC", (await SubscriptionAsync(orgId)).PlanCode);
        Assert.Single(await PaymentsAsync(orgId));
    }

    [Fact]
    public async Task A_refund_takes_the_credits_back_with_a_credit_note()
    {
        var (orgId, userId) = await NewOrgAsync();
        await CompleteAsync(orgId, await BuyAsync(orgId, userId, null, "CREDITS_10", "pay"));
        await using var scope = Host.App.Services.CreateAsyncScope();
        var payment = Assert.Single(await PaymentsAsync(orgId));

        var reported = await scope.ServiceProvider.GetRequiredService<EwayGateway>().RefundAsync(payment, payment.AmountMinor, "asked by the customer", Ct);
        await scope.ServiceProvider.GetRequiredService<PaymentRecorder>().RecordAsync(reported, Ct);

        Assert.Equal(payment.AmountMinor, Eway.Transactions.Single(t => t.TransactionID.ToString(System.Globalization.CultureInfo.InvariantCulture) == payment.ExternalId).Refunded);
        var account = await scope.ServiceProvider.GetRequiredService<Ledger>().OpenAsync(CreditOwner.User, userId, null, Ct);
        Assert.Equal(0, await Host.BalanceMicrosAsync(account.Id));
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(PaymentStatus.Refunded, (await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.Id == payment.Id, Ct)).Status);
        Assert.Single(await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.PaymentId == payment.Id && i.Kind == InvoiceKind.CreditNote).ToListAsync(Ct));
        var again = await Assert.ThrowsAsync<PaymentGatewayException>(() =>
            scope.ServiceProvider.GetRequiredService<EwayGateway>().RefundAsync(payment, 1, "again", Ct));
        Assert.Contains("already refunded in full (V6152)", again.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refused_credentials_are_a_clear_error_and_nothing_is_recorded()
    {
        var (orgId, userId) = await NewOrgAsync();
        Eway.Password = "rotated-at-eway";
        try
        {
            await using var scope = Host.App.Services.CreateAsyncScope();
            var refused = await Assert.ThrowsAsync<PaymentGatewayException>(() =>
                scope.ServiceProvider.GetRequiredService<Checkouts>().StartAsync(orgId, userId, "PRO", null, false, Ct));
            Assert.Contains("refused the API key and password (HTTP 401)", refused.Message, StringComparison.Ordinal);
            Assert.Contains("Billing:Eway:Password", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(FakeEway.DefaultPassword, refused.Message, StringComparison.Ordinal);
        }
        finally
        {
            Eway.Password = FakeEway.DefaultPassword;
        }
        await using var check = Host.App.Services.CreateAsyncScope();
        var db = check.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.False(await db.Set<Payment>().IgnoreQueryFilters().AnyAsync(p => p.OrganizationId == orgId, Ct));
        Assert.False(await db.Set<Subscription>().IgnoreQueryFilters().AnyAsync(s => s.OrganizationId == orgId, Ct));
        Assert.Null((await db.Set<BillingCustomer>().IgnoreQueryFilters().SingleAsync(c => c.OrganizationId == orgId, Ct)).CustomerId);
        Assert.Equal(Plan.Free, await PlanAsync(orgId));
    }

    /// <summary>Starts a checkout and, unless <paramref name="button"/> is null, presses that button on eWAY's page as a browser would.</summary>
    async Task<Guid> BuyAsync(Guid orgId, Guid userId, string? plan, string? package, string? button)
    {
        CheckoutSession session;
        Uri page;
        await using (var scope = Host.App.Services.CreateAsyncScope())
            (session, page) = await scope.ServiceProvider.GetRequiredService<Checkouts>().StartAsync(orgId, userId, plan, package, false, Ct);
        Assert.Equal(Eway.BaseAddress.Authority, page.Authority);
        if (button is null)
            return session.Id;
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var html = await browser.GetStringAsync(page, Ct);
        Assert.Contains("name=\"action\" value=\"" + button + "\"", html, StringComparison.Ordinal);
        using var posted = await browser.PostAsync(page, new FormUrlEncodedContent([new("action", button)]), Ct);
        Assert.Equal(HttpStatusCode.SeeOther, posted.StatusCode);
        Assert.StartsWith($"https://aihub.test/orgs/{orgId}/billing/return?checkout={session.Id}&AccessCode=", posted.Headers.Location!.AbsoluteUri, StringComparison.Ordinal);
        return session.Id;
    }

    async Task<CheckoutSession> CompleteAsync(Guid orgId, Guid checkoutId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Checkouts>().CompleteAsync(orgId, checkoutId, Ct);
    }

    async Task RenewAsync()
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<EwayRenewals>().RunAsync(Ct);
    }

    async Task ChangePlanAsync(Guid orgId, string planCode, bool atPeriodEnd)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        var plan = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Plan>().AsNoTracking().SingleAsync(p => p.Code == planCode, Ct);
        var changed = await scope.ServiceProvider.GetRequiredService<EwayGateway>().ChangePlanAsync(await SubscriptionAsync(orgId), plan, atPeriodEnd, Ct);
        await scope.ServiceProvider.GetRequiredService<SubscriptionSync>().ApplyAsync(changed, Ct);
    }

    /// <summary>Makes the subscription's renewal due now: the period moved back so it ends a minute ago, or (<paramref name="keepPeriod"/>) only the next try.</summary>
    async Task<Subscription> MakeDueAsync(Guid orgId, bool keepPeriod = false)
    {
        var now = DateTimeOffset.UtcNow;
        await using (var scope = Host.App.Services.CreateAsyncScope())
        {
            var subscriptions = scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Subscription>().IgnoreQueryFilters().Where(s => s.OrganizationId == orgId);
            if (keepPeriod)
                await subscriptions.ExecuteUpdateAsync(u => u.SetProperty(s => s.NextChargeAt, now.AddMinutes(-1)), Ct);
            else
                await subscriptions.ExecuteUpdateAsync(u => u.SetProperty(s => s.CurrentPeriodStart, now.AddMonths(-1).AddMinutes(-1))
                    .SetProperty(s => s.CurrentPeriodEnd, now.AddMinutes(-1)).SetProperty(s => s.NextChargeAt, (DateTimeOffset?)null), Ct);
        }
        return await SubscriptionAsync(orgId);
    }

    async Task<Subscription> SubscriptionAsync(Guid orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Subscription>().AsNoTracking().IgnoreQueryFilters().SingleAsync(s => s.OrganizationId == orgId, Ct);
    }

    async Task<List<Payment>> PaymentsAsync(Guid orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Payment>().AsNoTracking().IgnoreQueryFilters()
            .Where(p => p.OrganizationId == orgId).OrderBy(p => p.CreatedAt).ToListAsync(Ct);
    }

    async Task<string> PlanAsync(Guid orgId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return (await PlanCatalog.PlanOfAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), orgId, Ct)).Code;
    }

    /// <summary>The references of the org's renewal and upgrade charges, as recorded before each call.</summary>
    HashSet<string> Renewals(Guid orgId)
    {
        using var scope = Host.App.Services.CreateScope();
        return [.. scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<EwayChargeAttempt>().IgnoreQueryFilters()
            .Where(a => a.OrganizationId == orgId).Select(a => a.Reference)];
    }

    static void AssertAround(DateTimeOffset expected, DateTimeOffset? actual) =>
        Assert.InRange(actual!.Value, expected.AddMinutes(-2), expected.AddMinutes(2));

    async Task<(Guid OrgId, Guid UserId)> NewOrgAsync()
    {
        var (orgId, ownerId, _) = await Host.NewOrgAsync("Outback Analytics");
        return (orgId, ownerId);
    }
}

public sealed class EwayBillingOnSqlite(SqliteEwayFixture fixture) : EwayBillingTests(fixture), IClassFixture<SqliteEwayFixture>;

public sealed class EwayBillingOnPostgres(PostgresEwayFixture fixture) : EwayBillingTests(fixture), IClassFixture<PostgresEwayFixture>;
