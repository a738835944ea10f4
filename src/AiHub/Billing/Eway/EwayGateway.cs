using System.Globalization;
using System.Text.Json.Nodes;
using AiHub.Billing.Payments;
using AiHub.Credits.Plans;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Eway;

/// <summary>
/// eWAY Rapid API v3: the customer pays on eWAY's Responsive Shared Page, which saves the card as a token customer;
/// eWAY has no subscriptions, so AiHub keeps them and charges the token each period (<see cref="EwayRenewals"/>).
/// </summary>
/// <remarks>
/// Every charge carries an <c>InvoiceReference</c> AiHub chose and recorded first (the checkout's id, or a charge
/// attempt's), because eWAY cannot list payments by date: the reconciliation and a lost answer are found by reference.
/// Tax: eWAY computes none, so <c>Seller.TaxRateBasisPoints</c> is added to the price, in integers, rounded half up.
/// </remarks>
internal sealed class EwayGateway(
    EwayClient eway,
    AppDbContext db,
    IServiceProvider services,
    IOptions<BillingSettings> settings,
    TimeProvider clock,
    ILogger<EwayGateway> log) : IPaymentGateway
{
    public const string GatewayName = "eway";

    public string Name => GatewayName;

    public bool RenewsItself => false;

    /// <summary>The tax on <paramref name="netMinor"/> at <paramref name="basisPoints"/>, rounded half up in integers.</summary>
    public static long TaxOf(long netMinor, int basisPoints) =>
        basisPoints <= 0 || netMinor <= 0 ? 0 : (long)(((Int128)netMinor * basisPoints + 5_000) / 10_000);

    public static string SubscriptionIdOf(Guid checkoutId) => $"eway_sub_{checkoutId:N}";

    /// <summary>The checkout's id as eWAY's <c>InvoiceReference</c>: how its payment is found again without the access code.</summary>
    public static string ReferenceOf(Guid checkoutId) => checkoutId.ToString("N");

    long Tax(long net) => TaxOf(net, settings.Value.Seller.TaxRateBasisPoints);

    // A token customer is made on eWAY's page with the card; an id from another gateway means nothing here.
    public Task<string?> SaveCustomerAsync(BillingCustomer customer, CancellationToken ct) =>
        Task.FromResult(customer.Gateway == Name ? customer.CustomerId : null);

    public async Task<CheckoutStart> StartCheckoutAsync(CheckoutRequest request, CancellationToken ct)
    {
        var session = request.Session;
        var trial = request.Plan is not null && request.TrialDays > 0;
        var net = trial ? 0 : session.AmountMinor;
        var description = request.Plan is { } plan
            ? trial ? $"{plan.Name} plan: {request.TrialDays}-day trial, card saved" : $"{plan.Name} plan, first month"
            : request.Package!.Name;
        var c = request.Customer;
        var (first, last) = SplitName(c.Name);
        var customer = new JsonObject
        {
            ["Reference"] = session.OrganizationId.ToString("N")[..20],
            ["FirstName"] = first,
            ["LastName"] = last,
            ["CompanyName"] = Clip(c.Name, 50),
            ["Email"] = c.Email,
            ["Street1"] = c.AddressLine1,
            ["Street2"] = c.AddressLine2,
            ["City"] = c.City,
            ["State"] = c.State,
            ["PostalCode"] = c.PostalCode,
            ["Country"] = (c.Country ?? "AU").ToLowerInvariant(),
        };
        if (c.Gateway == Name && c.CustomerId is { Length: > 0 } token)
            customer["TokenCustomerID"] = token;
        var answer = await eway.CreateAccessCodeAsync(new JsonObject
        {
            ["Customer"] = customer,
            ["Payment"] = EwayClient.Payment(net + Tax(net), session.Currency, ReferenceOf(session.Id), description),
            ["RedirectUrl"] = request.SuccessUrl.AbsoluteUri,
            ["CancelUrl"] = request.CancelUrl.AbsoluteUri,
            // TokenPayment saves the card as a token customer and takes the payment; a trial only saves the card.
            ["Method"] = trial ? "CreateTokenCustomer" : "TokenPayment",
            ["TransactionType"] = "Purchase",
            ["CustomerReadOnly"] = false,
        }, ct);
        var code = EwayClient.Text(answer["AccessCode"]);
        var url = EwayClient.Text(answer["SharedPaymentUrl"]);
        if (code is null || !Uri.TryCreate(url, UriKind.Absolute, out var page))
            throw new PaymentGatewayException("eWAY answered without an access code or a shared page URL.", transient: true);
        return new CheckoutStart(code, page, null);
    }

    public async Task<CheckoutOutcome> ReadCheckoutAsync(CheckoutSession session, CancellationToken ct)
    {
        var result = await eway.ReadAccessCodeAsync(session.ExternalId, ct);
        var token = EwayClient.Text(result["TokenCustomerID"]);
        var card = token is null ? null : await eway.CardOfAsync(token, ct);
        var transaction = EwayClient.ToTransaction(result);
        if (transaction is null)
        {
            // A trial saves the card without a payment: done once the token exists.
            if (session.Kind == PaymentKind.Plan && token is not null && settings.Value.TrialDaysOf(session.PlanCode!) is > 0 and var days)
            {
                var start = session.CreatedAt;
                var trialEnd = start.AddDays(days);
                return new CheckoutOutcome(CheckoutStatus.Completed, null,
                    new GatewaySubscription(Name, SubscriptionIdOf(session.Id), session.OrganizationId, session.PlanCode!, SubscriptionStatus.Trialing, start, trialEnd, trialEnd, false),
                    CustomerId: token, PaymentMethod: card);
            }
            return new CheckoutOutcome(CheckoutStatus.Open, null, null);
        }
        if (!transaction.Approved)
            return new CheckoutOutcome(CheckoutStatus.Failed, null, null, EwayCodes.Declined(transaction.ResponseMessage), token, card);

        // The query gives the payment's time (a stable period start however often this is read) and what is refunded.
        var found = await eway.FindAsync(transaction.TransactionId.ToString(CultureInfo.InvariantCulture), ct) ?? transaction;
        var at = found.At ?? session.CreatedAt;
        var (amount, tax) = Split(found.TotalAmount, session.AmountMinor);
        var refunded = found.MaxRefund is { } max ? Math.Max(0, found.TotalAmount - max) : 0;
        GatewaySubscription? subscription = null;
        DateTimeOffset? periodEnd = null;
        if (session.Kind == PaymentKind.Plan)
        {
            periodEnd = at.AddMonths(1);
            subscription = new GatewaySubscription(Name, SubscriptionIdOf(session.Id), session.OrganizationId, session.PlanCode!, SubscriptionStatus.Active, at, periodEnd.Value, null, false);
        }
        var payment = new GatewayPayment(Name, found.TransactionId.ToString(CultureInfo.InvariantCulture), session.OrganizationId, session.Kind,
            refunded >= amount && amount > 0 ? PaymentStatus.Refunded : refunded > 0 ? PaymentStatus.PartiallyRefunded : PaymentStatus.Succeeded,
            amount, tax, found.CurrencyCode ?? session.Currency, refunded, false, at,
            PlanCode: session.PlanCode, PeriodStart: subscription?.PeriodStart, PeriodEnd: periodEnd, PackageCode: session.PackageCode, ToPool: session.ToPool,
            BuyerUserId: session.UserId, SubscriptionExternalId: subscription?.ExternalId);
        return new CheckoutOutcome(CheckoutStatus.Completed, payment, subscription, null, token, card);
    }

    /// <summary>eWAY cannot list by date: every checkout and charge attempt of the window is looked up by its reference.</summary>
    public async Task<IReadOnlyList<GatewayPayment>> ListPaymentsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var lifetime = settings.Value.CheckoutLifetime;
        var checkouts = await db.Set<CheckoutSession>().AsNoTracking().IgnoreQueryFilters()
            .Where(c => c.Gateway == GatewayName && c.CreatedAt >= from - lifetime && c.CreatedAt < to).ToListAsync(ct);
        var attempts = await db.Set<EwayChargeAttempt>().AsNoTracking().IgnoreQueryFilters()
            .Where(a => a.CreatedAt >= from && a.CreatedAt < to && a.State != EwayChargeState.Abandoned).ToListAsync(ct);
        var subscriptionIds = attempts.Select(a => a.SubscriptionId).Distinct().ToList();
        var subscriptions = await db.Set<Subscription>().AsNoTracking().IgnoreQueryFilters()
            .Where(s => subscriptionIds.Contains(s.Id)).ToDictionaryAsync(s => s.Id, s => s.ExternalId, ct);
        var found = new List<GatewayPayment>();
        foreach (var checkout in checkouts)
        {
            foreach (var t in await eway.FindByReferenceAsync(ReferenceOf(checkout.Id), ct))
            {
                if (!t.Approved || (t.At is { } at && (at < from || at >= to)))
                    continue;
                var start = t.At ?? checkout.CreatedAt;
                var (amount, tax) = Split(t.TotalAmount, checkout.AmountMinor);
                found.Add(Reported(t, checkout.OrganizationId, checkout.Kind, amount, tax, checkout.Currency, start) with
                {
                    PlanCode = checkout.PlanCode, PackageCode = checkout.PackageCode, ToPool = checkout.ToPool, BuyerUserId = checkout.UserId,
                    PeriodStart = checkout.Kind == PaymentKind.Plan ? start : null, PeriodEnd = checkout.Kind == PaymentKind.Plan ? start.AddMonths(1) : null,
                    SubscriptionExternalId = checkout.Kind == PaymentKind.Plan ? SubscriptionIdOf(checkout.Id) : null,
                });
            }
        }
        foreach (var attempt in attempts)
        {
            foreach (var t in await eway.FindByReferenceAsync(attempt.Reference, ct))
            {
                if (t.Approved)
                    found.Add(PaymentOf(attempt, t, subscriptions.GetValueOrDefault(attempt.SubscriptionId)));
            }
        }
        return found;
    }

    public async Task<GatewayPayment> RefundAsync(Payment payment, long amountMinor, string reason, CancellationToken ct)
    {
        if (amountMinor <= 0 || amountMinor > payment.AmountMinor - payment.RefundedMinor)
            throw new PaymentGatewayException($"A refund is from 1 to {payment.AmountMinor - payment.RefundedMinor} (what is left of the payment, in minor units).");
        var answer = await eway.RefundAsync(payment.ExternalId, amountMinor, string.IsNullOrWhiteSpace(reason) ? "Refund" : reason, ct);
        if (answer["TransactionStatus"] is not JsonValue status || !status.GetValue<bool>())
            throw new PaymentGatewayException("eWAY did not refund the payment: " + EwayCodes.Declined(EwayClient.Text(answer["ResponseMessage"])));
        var after = await eway.FindAsync(payment.ExternalId, ct);
        var refunded = after?.MaxRefund is { } max ? Math.Max(0, after.TotalAmount - max) : payment.RefundedMinor + amountMinor;
        return new GatewayPayment(Name, payment.ExternalId, payment.OrganizationId, payment.Kind,
            refunded >= payment.AmountMinor ? PaymentStatus.Refunded : PaymentStatus.PartiallyRefunded,
            payment.AmountMinor, payment.TaxMinor, payment.Currency, refunded, false, payment.CreatedAt,
            PlanCode: payment.PlanCode, PeriodStart: payment.PeriodStart, PeriodEnd: payment.PeriodEnd, PackageCode: payment.PackageCode,
            BuyerUserId: payment.BuyerUserId);
    }

    /// <summary>
    /// A downgrade waits for the renewal; an upgrade charges the stored card now for the rest of the period
    /// (price difference × whole days left / days in the period, rounded down), and is refused if the card is declined.
    /// </summary>
    public async Task<GatewaySubscription> ChangePlanAsync(Subscription subscription, Plan to, bool atPeriodEnd, CancellationToken ct)
    {
        var current = Describe(subscription);
        if (to.Code == subscription.PlanCode)
            return current with { PendingPlanCode = null };
        if (atPeriodEnd)
            return current with { PendingPlanCode = to.Code };
        var from = await db.Set<Plan>().AsNoTracking().FirstAsync(p => p.Code == subscription.PlanCode, ct);
        if (to.PriceCents < from.PriceCents)
            throw new PaymentGatewayException($"{to.Name} costs less than {from.Name}: a downgrade takes effect at the end of the period.");
        var now = clock.GetUtcNow();
        var net = ProrationOf(to.PriceCents - from.PriceCents, subscription.CurrentPeriodStart, subscription.CurrentPeriodEnd, now);
        if (net > 0 && subscription.Status != SubscriptionStatus.Trialing)
        {
            var token = await db.Set<BillingCustomer>().AsNoTracking().IgnoreQueryFilters()
                .Where(c => c.OrganizationId == subscription.OrganizationId && c.Gateway == GatewayName).Select(c => c.CustomerId).FirstOrDefaultAsync(ct)
                ?? throw new PaymentGatewayException("This organisation has no card saved at eWAY; buy the plan through checkout instead.");
            var attempt = await NewAttemptAsync(subscription, EwayChargeKind.Proration, to.Code, now, subscription.CurrentPeriodEnd, net, to.Currency, ct);
            var t = await ChargeAsync(attempt, token, $"Upgrade to {to.Name}, rest of the period", ct);
            if (t is null || !t.Approved)
                throw new PaymentGatewayException(EwayCodes.Declined(t?.ResponseMessage) + $" The plan stays {from.Name}.");
            // Resolved here, not injected: the recorder depends on the gateways through SubscriptionSync.
            await services.GetRequiredService<PaymentRecorder>().RecordAsync(PaymentOf(attempt, t, subscription.ExternalId), ct);
        }
        return current with { PlanCode = to.Code, PendingPlanCode = null };
    }

    /// <summary>(price difference) × whole days left ÷ days in the period, rounded down; nothing once the period is over.</summary>
    public static long ProrationOf(long differenceMinor, DateTimeOffset periodStart, DateTimeOffset periodEnd, DateTimeOffset now)
    {
        var days = (long)(periodEnd - periodStart).TotalDays;
        var left = Math.Min(days, (long)Math.Max(0, (periodEnd - now).TotalDays));
        return days <= 0 || differenceMinor <= 0 ? 0 : (long)((Int128)differenceMinor * left / days);
    }

    // eWAY has no subscription object: ending or resuming one is AiHub's own record, which the caller applies.
    public Task<GatewaySubscription> SetCancelAtPeriodEndAsync(Subscription subscription, bool cancel, CancellationToken ct) =>
        Task.FromResult(Describe(subscription) with { CancelAtPeriodEnd = cancel });

    // Nothing to stop at eWAY: a canceled subscription is never charged again, and the saved card stays for the next checkout.
    public Task CancelNowAsync(Subscription subscription, CancellationToken ct) => Task.CompletedTask;

    public Task<Uri?> PortalUrlAsync(BillingCustomer customer, Uri returnUrl, CancellationToken ct) => Task.FromResult<Uri?>(null);

    public async Task<InvoiceEstimate?> UpcomingAsync(Subscription subscription, CancellationToken ct)
    {
        if (subscription.Status is SubscriptionStatus.Canceled or SubscriptionStatus.Incomplete || subscription.CancelAtPeriodEnd)
            return null;
        var code = subscription.PendingPlanCode ?? subscription.PlanCode;
        var plan = await db.Set<Plan>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == code, ct);
        if (plan is null || plan.PriceCents <= 0)
            return null;
        return new InvoiceEstimate(plan.PriceCents + Tax(plan.PriceCents), plan.Currency, subscription.NextChargeAt ?? subscription.CurrentPeriodEnd);
    }

    public GatewaySubscription Describe(Subscription s) =>
        new(Name, s.ExternalId, s.OrganizationId, s.PlanCode, s.Status, s.CurrentPeriodStart, s.CurrentPeriodEnd, s.TrialEnd, s.CancelAtPeriodEnd, s.PendingPlanCode);

    /// <summary>Records the attempt (and its reference) before anything is sent to eWAY.</summary>
    public async Task<EwayChargeAttempt> NewAttemptAsync(Subscription subscription, EwayChargeKind kind, string planCode, DateTimeOffset periodStart,
        DateTimeOffset periodEnd, long netMinor, string currency, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var id = Guid.CreateVersion7(now);
        var tax = Tax(netMinor);
        var attempt = new EwayChargeAttempt
        {
            Id = id, OrganizationId = subscription.OrganizationId, SubscriptionId = subscription.Id, Reference = EwayChargeAttempt.ReferenceOf(id), Kind = kind,
            PlanCode = planCode, PeriodStart = periodStart, PeriodEnd = periodEnd, AmountMinor = netMinor + tax, TaxMinor = tax, Currency = currency.ToUpperInvariant(),
            State = EwayChargeState.Pending, CreatedAt = now,
        };
        db.Add(attempt);
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();
        return attempt;
    }

    /// <summary>Charges the stored card for <paramref name="attempt"/>; null when the answer was lost (the attempt stays pending, to be looked up).</summary>
    public async Task<EwayTransaction?> ChargeAsync(EwayChargeAttempt attempt, string token, string description, CancellationToken ct)
    {
        EwayTransaction t;
        try
        {
            t = await eway.TokenPaymentAsync(token, attempt.AmountMinor, attempt.Currency, attempt.Reference, description, "Recurring", ct);
        }
        catch (PaymentGatewayException e) when (e.Transient)
        {
            log.LogWarning(e, "The eWAY charge {Reference} has no answer; it stays pending until Transaction Query says how it ended", attempt.Reference);
            return null;
        }
        catch (PaymentGatewayException e)
        {
            // eWAY refused the request itself (an unknown token, a bad amount): nothing was charged.
            await SettleAsync(attempt, null, EwayChargeState.Declined, e.Message, ct);
            return new EwayTransaction(0, false, e.Message, 0, attempt.Reference, token, attempt.Currency, null, null);
        }
        await SettleAsync(attempt, t.TransactionId.ToString(CultureInfo.InvariantCulture), t.Approved ? EwayChargeState.Succeeded : EwayChargeState.Declined,
            t.Approved ? null : EwayCodes.Declined(t.ResponseMessage), ct);
        return t;
    }

    public async Task SettleAsync(EwayChargeAttempt attempt, string? transactionId, EwayChargeState state, string? message, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        await db.Set<EwayChargeAttempt>().IgnoreQueryFilters().Where(a => a.Id == attempt.Id && a.State == EwayChargeState.Pending)
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.State, state).SetProperty(a => a.TransactionId, transactionId)
                .SetProperty(a => a.ResponseMessage, message == null ? null : Clip(message, 200)).SetProperty(a => a.CompletedAt, now), ct);
        attempt.State = state;
        attempt.TransactionId = transactionId;
    }

    public GatewayPayment PaymentOf(EwayChargeAttempt attempt, EwayTransaction t, string? subscriptionExternalId) =>
        Reported(t, attempt.OrganizationId, PaymentKind.Plan, attempt.AmountMinor, attempt.TaxMinor, attempt.Currency, t.At ?? attempt.CreatedAt) with
        {
            PlanCode = attempt.PlanCode, PeriodStart = attempt.PeriodStart, PeriodEnd = attempt.PeriodEnd, SubscriptionExternalId = subscriptionExternalId,
        };

    GatewayPayment Reported(EwayTransaction t, Guid orgId, PaymentKind kind, long amount, long tax, string currency, DateTimeOffset at)
    {
        var refunded = t.MaxRefund is { } max ? Math.Max(0, t.TotalAmount - max) : 0;
        var status = refunded >= amount && amount > 0 ? PaymentStatus.Refunded : refunded > 0 ? PaymentStatus.PartiallyRefunded : PaymentStatus.Succeeded;
        return new GatewayPayment(Name, t.TransactionId.ToString(CultureInfo.InvariantCulture), orgId, kind, status, amount, tax,
            t.CurrencyCode ?? currency, refunded, false, at);
    }

    /// <summary>The amount eWAY took, and the tax in it: the tax on the checkout's net price when the total agrees, else what is above the net price.</summary>
    (long Amount, long Tax) Split(long total, long net)
    {
        var tax = Tax(net);
        return total == net + tax ? (total, tax) : (total, Math.Clamp(total - net, 0, total));
    }

    static (string First, string Last) SplitName(string name)
    {
        var trimmed = name.Trim();
        var space = trimmed.LastIndexOf(' ');
        return space <= 0 ? (Clip(trimmed, 50), Clip(trimmed, 50)) : (Clip(trimmed[..space], 50), Clip(trimmed[(space + 1)..], 50));
    }

    static string Clip(string text, int max) => text.Length <= max ? text : text[..max];
}
