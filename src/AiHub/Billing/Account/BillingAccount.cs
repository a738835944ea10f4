using System.Net.Mail;
using System.Text.RegularExpressions;
using AiHub.Billing.Checkout;
using AiHub.Billing.Subscriptions;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Account;

internal sealed record BillingOverview(
    bool Enabled,
    string? Gateway,
    PlanResponse Plan,
    SubscriptionView? Subscription,
    CustomerView? Customer,
    EstimateView? NextInvoice,
    IReadOnlyList<PackageView> Packages,
    IReadOnlyList<PlanResponse> Plans,
    long PoolBalanceMicros,
    bool PortalAvailable);

/// <param name="RenewsAt">The end of the current period: the renewal date, or the day it ends when it cancels at period end.</param>
/// <param name="GraceEndsAt">For a past-due subscription, when the organisation falls back to FREE unless the payment goes through.</param>
internal sealed record SubscriptionView(
    Guid Id, string Gateway, SubscriptionStatus Status, string Plan, string PlanName, DateTimeOffset RenewsAt, DateTimeOffset? TrialEnd,
    bool CancelAtPeriodEnd, string? PendingPlan, DateTimeOffset? PastDueSince, DateTimeOffset? GraceEndsAt);

internal sealed record CustomerView(
    string Name, string Email, string? AddressLine1, string? AddressLine2, string? City, string? State, string? PostalCode, string? Country,
    string? TaxId, string? PaymentMethod);

internal sealed record EstimateView(long AmountMinor, string Currency, DateTimeOffset? At);

internal sealed record PackageView(string Code, string Name, long Credits, long PriceMinor, string Currency);

internal sealed record CustomerRequest(
    string? Name, string? Email, string? AddressLine1, string? AddressLine2, string? City, string? State, string? PostalCode, string? Country, string? TaxId);

internal sealed record CheckoutBody(string? Plan, string? Package, bool? ToPool);

internal sealed record CheckoutCreated(Guid CheckoutId, Uri Url);

/// <summary>A checkout as the return page shows it: how it ended, and what it changed.</summary>
/// <param name="CreditsAddedMicros">Credits the payment added (to <paramref name="ToPool"/>: the org pool, else the buyer).</param>
internal sealed record CheckoutView(
    Guid Id, CheckoutStatus Status, PaymentKind Kind, string? Plan, string? Package, bool ToPool, string PlanNow, string PlanNowName,
    long? CreditsAddedMicros, string? InvoiceNumber, string? FailureMessage, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);

internal sealed record PlanChangeBody(string? Plan);

/// <summary>What a plan change did: <c>upgraded</c> (now, prorated), <c>downgradeScheduled</c> or <c>cancelScheduled</c> (at the period's end).</summary>
internal sealed record PlanChangeView(string Change, SubscriptionView Subscription);

internal sealed record PortalView(Uri Url);

/// <summary>
/// An organisation's side of billing: what it pays for and how, its billing details, and the changes it makes to its
/// subscription. Both the API and the Billing page go through here, so they refuse the same things the same way.
/// </summary>
/// <remarks>
/// Every read and write is by (org, id). A gateway's refusal becomes a 502 (a 503 with Retry-After when worth retrying)
/// with the gateway's safe message; nothing of it is a 500.
/// </remarks>
internal sealed partial class BillingAccount(
    AppDbContext db,
    PaymentGateways gateways,
    Checkouts checkouts,
    SubscriptionSync subscriptions,
    PlanCatalog plans,
    Ledger ledger,
    IOptions<BillingSettings> settings,
    IOptions<PublicUrlSettings> urls,
    TimeProvider clock,
    ILogger<BillingAccount> log)
{
    public const string GatewayFailedType = ProblemTypes.Prefix + "payment-gateway-failed";

    public async Task<BillingOverview> OverviewAsync(Guid orgId, CancellationToken ct)
    {
        var s = settings.Value;
        var plan = PlanCatalog.Describe(await PlanCatalog.PlanOfAsync(db, orgId, ct));
        var offered = await plans.ListAsync(includeInactive: false, ct);
        var live = await checkouts.LiveSubscriptionAsync(orgId, ct);
        var customer = await db.Set<BillingCustomer>().AsNoTracking().FirstOrDefaultAsync(c => c.OrganizationId == orgId, ct);
        var pool = await ledger.OpenAsync(CreditOwner.Organization, null, orgId, ct);
        EstimateView? next = null;
        if (live is not null && !live.CancelAtPeriodEnd)
            next = await EstimateAsync(live, ct);
        var gateway = s.Enabled ? gateways.Current : null;
        return new BillingOverview(
            s.Enabled, gateway?.Name, plan, live is null ? null : await DescribeAsync(live, ct), customer is null ? null : Describe(customer), next,
            Packages(), offered, pool.Balance,
            // The gateways that renew subscriptions themselves (Stripe) host a customer portal; eWAY has neither.
            gateway is { RenewsItself: true } && customer?.CustomerId is not null && customer.Gateway == gateway.Name);
    }

    public IReadOnlyList<PackageView> Packages() =>
        settings.Value.OnSale.Select(p => new PackageView(p.Code, p.Name, p.Credits, p.PriceMinor, p.Currency)).ToList();

    public async Task<CustomerView> SaveCustomerAsync(Guid orgId, CustomerRequest body, CancellationToken ct)
    {
        var fields = Validate(body);
        var now = clock.GetUtcNow();
        var customer = await db.Set<BillingCustomer>().FirstOrDefaultAsync(c => c.OrganizationId == orgId, ct);
        if (customer is null)
        {
            customer = new BillingCustomer { OrganizationId = orgId, Gateway = gateways.Current.Name, Name = fields.Name, Email = fields.Email, CreatedAt = now };
            db.Add(customer);
        }
        (customer.Name, customer.Email, customer.AddressLine1, customer.AddressLine2, customer.City, customer.State, customer.PostalCode, customer.Country, customer.TaxId) =
            (fields.Name, fields.Email, fields.AddressLine1, fields.AddressLine2, fields.City, fields.State, fields.PostalCode, fields.Country, fields.TaxId);
        customer.UpdatedAt = now;
        // The gateway first: if it refuses the details, nothing changes here either, and invoices keep matching what it holds.
        if (customer.CustomerId is not null)
            await GatewayAsync(() => gateways.Of(customer.Gateway).SaveCustomerAsync(customer, ct));
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            // A first checkout made the customer meanwhile: save over it.
            db.ChangeTracker.Clear();
            return await SaveCustomerAsync(orgId, body, ct);
        }
        db.ChangeTracker.Clear();
        return Describe(customer);
    }

    /// <summary>Starts a hosted-page checkout; buying credits for oneself needs only chat:use, anything else billing:manage.</summary>
    public async Task<CheckoutCreated> StartCheckoutAsync(OrgGrant caller, Guid userId, CheckoutBody body, CancellationToken ct)
    {
        var personalOrg = await db.Organizations.AsNoTracking().Where(o => o.Id == caller.OrganizationId).Select(o => o.IsPersonal).FirstOrDefaultAsync(ct);
        // A personal organisation's calls are paid from its user's own account: its "pool" would never be spent.
        var toPool = body.ToPool == true && !personalOrg;
        var forSelf = string.IsNullOrWhiteSpace(body.Plan) && !string.IsNullOrWhiteSpace(body.Package) && !toPool;
        if (!caller.Has(forSelf ? OrgPermissions.ChatUse : OrgPermissions.BillingManage))
            throw new ProblemException(StatusCodes.Status403Forbidden, "Only the organisation's Owners and Admins can do this.",
                forSelf ? "Your role cannot use this organisation." : "Plans and credits for the organisation's pool are bought by its Owners and Admins (billing:manage); you can buy credits for your own account.",
                ProblemTypes.Forbidden);
        var (session, url) = await GatewayAsync(() => checkouts.StartAsync(caller.OrganizationId, userId, body.Plan, body.Package, toPool, ct));
        return new CheckoutCreated(session.Id, url);
    }

    /// <summary>Reads the checkout's outcome from its gateway (webhooks may have recorded it already) and says what it changed.</summary>
    /// <remarks>Its buyer, or whoever manages billing, may see it; to anyone else of the org it does not exist.</remarks>
    public async Task<CheckoutView> CheckoutAsync(OrgGrant caller, Guid userId, Guid checkoutId, CancellationToken ct)
    {
        var orgId = caller.OrganizationId;
        var owner = await db.Set<CheckoutSession>().AsNoTracking().Where(c => c.OrganizationId == orgId && c.Id == checkoutId).Select(c => (Guid?)c.UserId).FirstOrDefaultAsync(ct);
        if (owner is null || (owner != userId && !caller.Has(OrgPermissions.BillingManage)))
            throw new ProblemException(StatusCodes.Status404NotFound, "No such checkout.", $"This organisation has no checkout {checkoutId} of yours.", ProblemTypes.NotFound);
        var session = await GatewayAsync(() => checkouts.CompleteAsync(orgId, checkoutId, ct));
        var plan = await PlanCatalog.PlanOfAsync(db, orgId, ct);
        long? credits = null;
        string? invoice = null;
        if (session.PaymentId is { } paymentId)
        {
            var payment = await db.Set<Payment>().AsNoTracking().FirstOrDefaultAsync(p => p.OrganizationId == orgId && p.Id == paymentId, ct);
            if (payment?.PaidAt is not null && payment.Kind == PaymentKind.Credits)
                credits = payment.CreditMicros;
            invoice = await db.Set<Invoice>().AsNoTracking().Where(i => i.OrganizationId == orgId && i.PaymentId == paymentId && i.Kind == InvoiceKind.Invoice)
                .Select(i => i.Number).FirstOrDefaultAsync(ct);
        }
        return new CheckoutView(session.Id, session.Status, session.Kind, session.PlanCode, session.PackageCode, session.ToPool, plan.Code, plan.Name,
            credits, invoice, session.FailureMessage, session.CreatedAt, session.CompletedAt);
    }

    /// <summary>A higher price moves now with proration, a lower one at the period's end; FREE cancels at the period's end.</summary>
    public async Task<PlanChangeView> ChangePlanAsync(Guid orgId, PlanChangeBody body, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(body.Plan))
            throw ProblemException.Invalid("plan", "Name the plan to move to (plan), e.g. PRO; FREE cancels at the end of the period.");
        var code = body.Plan.Trim().ToUpperInvariant();
        var target = await db.Set<Plan>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == code && (p.Active || p.Code == Plan.Free), ct)
            ?? throw ProblemException.Invalid("plan", $"'{body.Plan}' is not a plan on offer; GET /api/plans lists them.");
        var sub = await RequireLiveAsync(orgId, ct);
        if (target.PriceCents <= 0)
            return new PlanChangeView("cancelScheduled", await SetCancelAsync(sub, true, ct));
        if (target.Code == sub.PlanCode && sub.PendingPlanCode is null)
            throw new ProblemException(StatusCodes.Status409Conflict, $"The organisation is already on {target.Name}.",
                sub.CancelAtPeriodEnd ? "It is set to end with this period; resume the subscription to keep it." : null, ProblemTypes.Conflict);
        var current = await db.Set<Plan>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == sub.PlanCode, ct);
        var atPeriodEnd = current is not null && target.PriceCents < current.PriceCents;
        var reported = await GatewayAsync(() => gateways.Of(sub.Gateway).ChangePlanAsync(sub, target, atPeriodEnd, ct));
        var applied = await subscriptions.ApplyAsync(reported, ct);
        return new PlanChangeView(atPeriodEnd ? "downgradeScheduled" : "upgraded", await DescribeAsync(applied, ct));
    }

    public async Task<SubscriptionView> CancelAsync(Guid orgId, CancellationToken ct)
    {
        var sub = await RequireLiveAsync(orgId, ct);
        if (sub.CancelAtPeriodEnd)
            throw new ProblemException(StatusCodes.Status409Conflict, "The subscription already ends with this period.",
                $"It ends on {sub.CurrentPeriodEnd:yyyy-MM-dd}; resume it to keep it.", ProblemTypes.Conflict);
        return await SetCancelAsync(sub, true, ct);
    }

    public async Task<SubscriptionView> ResumeAsync(Guid orgId, CancellationToken ct)
    {
        var sub = await RequireLiveAsync(orgId, ct);
        if (!sub.CancelAtPeriodEnd)
            throw new ProblemException(StatusCodes.Status409Conflict, "The subscription is not set to end.", "Only a subscription cancelled at the end of its period can be resumed, before that end.", ProblemTypes.Conflict);
        return await SetCancelAsync(sub, false, ct);
    }

    public async Task<PortalView> PortalAsync(Guid orgId, CancellationToken ct)
    {
        var customer = await db.Set<BillingCustomer>().AsNoTracking().FirstOrDefaultAsync(c => c.OrganizationId == orgId, ct);
        var gateway = gateways.Current;
        if (customer?.CustomerId is null || customer.Gateway != gateway.Name)
            throw new ProblemException(StatusCodes.Status409Conflict, "There are no payment methods to manage yet.",
                "The first checkout saves the organisation as a customer at the gateway; its payment methods are managed after that.", ProblemTypes.Conflict);
        var back = new Uri(urls.Value.PublicUrl, Checkouts.BillingPath(orgId));
        var url = await GatewayAsync(() => gateway.PortalUrlAsync(customer, back, ct))
            ?? throw new ProblemException(StatusCodes.Status409Conflict, "This gateway has no customer portal.",
                "Payment methods are changed on the gateway's payment page at the next checkout.", ProblemTypes.Conflict);
        return new PortalView(url);
    }

    /// <summary>The org's subscription if it is past due and still within its grace period (the layout's banner).</summary>
    public async Task<SubscriptionView?> PastDueAsync(Guid orgId, CancellationToken ct)
    {
        var live = await checkouts.LiveSubscriptionAsync(orgId, ct);
        if (live is not { Status: SubscriptionStatus.PastDue, PastDueSince: { } since } || since + settings.Value.GracePeriod <= clock.GetUtcNow())
            return null;
        return await DescribeAsync(live, ct);
    }

    async Task<SubscriptionView> SetCancelAsync(Subscription sub, bool cancel, CancellationToken ct)
    {
        var reported = await GatewayAsync(() => gateways.Of(sub.Gateway).SetCancelAtPeriodEndAsync(sub, cancel, ct));
        return await DescribeAsync(await subscriptions.ApplyAsync(reported, ct), ct);
    }

    async Task<Subscription> RequireLiveAsync(Guid orgId, CancellationToken ct) =>
        await checkouts.LiveSubscriptionAsync(orgId, ct)
        ?? throw new ProblemException(StatusCodes.Status409Conflict, "This organisation has no subscription.",
            $"To start one, choose a plan and pay for it: POST /api/orgs/{orgId}/billing/checkout with the plan.", ProblemTypes.Conflict);

    async Task<EstimateView?> EstimateAsync(Subscription live, CancellationToken ct)
    {
        try
        {
            return await gateways.Of(live.Gateway).UpcomingAsync(live, ct) is { } e ? new EstimateView(e.AmountMinor, e.Currency, e.At) : null;
        }
        catch (Exception e) when (e is PaymentGatewayException or HttpRequestException)
        {
            // The page is still worth showing without its estimate.
            LogEstimateFailed(e, live.Gateway, live.ExternalId);
            return null;
        }
    }

    async Task<SubscriptionView> DescribeAsync(Subscription s, CancellationToken ct)
    {
        var name = await db.Set<Plan>().AsNoTracking().Where(p => p.Code == s.PlanCode).Select(p => p.Name).FirstOrDefaultAsync(ct) ?? s.PlanCode;
        return new SubscriptionView(s.Id, s.Gateway, s.Status, s.PlanCode, name, s.CurrentPeriodEnd, s.TrialEnd, s.CancelAtPeriodEnd, s.PendingPlanCode, s.PastDueSince,
            s.Status == SubscriptionStatus.PastDue ? s.PastDueSince + settings.Value.GracePeriod : null);
    }

    static CustomerView Describe(BillingCustomer c) =>
        new(c.Name, c.Email, c.AddressLine1, c.AddressLine2, c.City, c.State, c.PostalCode, c.Country, c.TaxId, c.PaymentMethod);

    /// <summary>Runs a gateway call, turning its refusal into a problem the caller can read.</summary>
    static async Task<T> GatewayAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (PaymentGatewayException e) when (e.Transient)
        {
            throw new ProblemException(StatusCodes.Status503ServiceUnavailable, "The payment gateway is not answering just now.", e.Message, GatewayFailedType)
            {
                RetryAfter = TimeSpan.FromSeconds(30),
            };
        }
        catch (PaymentGatewayException e)
        {
            throw new ProblemException(StatusCodes.Status502BadGateway, "The payment gateway refused this.", e.Message, GatewayFailedType);
        }
    }

    static (string Name, string Email, string? AddressLine1, string? AddressLine2, string? City, string? State, string? PostalCode, string? Country, string? TaxId) Validate(CustomerRequest body)
    {
        var errors = new Dictionary<string, string[]>();
        string? Text(string field, string? value, int max, bool required = false)
        {
            var text = string.IsNullOrWhiteSpace(value) ? null : value.Trim();
            if (text is null && required)
                errors[field] = [$"{field} is required."];
            else if (text is not null && (text.Length > max || text.Any(char.IsControl)))
                errors[field] = [$"{field} must be at most {max} characters, on one line."];
            return text;
        }
        var name = Text("name", body.Name, 200, required: true);
        var email = Text("email", body.Email, 254, required: true);
        if (email is not null && !errors.ContainsKey("email") && !(MailAddress.TryCreate(email, out var mail) && mail.Address == email && mail.DisplayName.Length == 0))
            errors["email"] = ["email must be an email address, such as billing@example.com."];
        var line1 = Text("addressLine1", body.AddressLine1, 200);
        var line2 = Text("addressLine2", body.AddressLine2, 200);
        var city = Text("city", body.City, 100);
        var state = Text("state", body.State, 100);
        var postal = Text("postalCode", body.PostalCode, 20);
        var country = Text("country", body.Country, 100)?.ToUpperInvariant();
        if (country is not null && !errors.ContainsKey("country") && !CountryCode().IsMatch(country))
            errors["country"] = ["country must be a two-letter ISO 3166-1 code, such as AU, DE or US."];
        var taxId = Text("taxId", body.TaxId, 40);
        if (taxId is not null && !errors.ContainsKey("taxId") && !TaxIdFormat().IsMatch(taxId))
            errors["taxId"] = ["taxId may hold letters, digits, spaces, '.', '-' and '/' only, such as DE123456789 or 51 824 753 556."];
        if (line2 is not null && line1 is null)
            errors["addressLine1"] = ["addressLine1 is required when addressLine2 is given."];
        if (errors.Count > 0)
            throw ProblemException.Invalid(errors);
        return (name!, email!, line1, line2, city, state, postal, country, taxId);
    }

    [GeneratedRegex("^[A-Z]{2}$")]
    private static partial Regex CountryCode();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9 .\-/]*$")]
    private static partial Regex TaxIdFormat();

    [LoggerMessage(Level = LogLevel.Warning, Message = "The next invoice of {Gateway} subscription {ExternalId} could not be read; the billing page shows none")]
    partial void LogEstimateFailed(Exception e, string gateway, string externalId);
}

/// <summary>Tells the lower layers (the plans page, the upgrade prompts) whether plans and credits can be bought online, and where.</summary>
internal sealed class OnlinePayment(IOptions<BillingSettings> settings) : IOnlinePayment
{
    public bool Enabled => settings.Value.Enabled;

    public string BillingPath(Guid orgId, string? plan = null) =>
        plan is null ? Checkouts.BillingPath(orgId) : $"{Checkouts.BillingPath(orgId)}?plan={Uri.EscapeDataString(plan)}";
}
