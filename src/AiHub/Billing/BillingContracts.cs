using AiHub.Credits.Plans;

namespace AiHub.Billing;

/// <summary>What a customer chose on the way to a hosted payment page.</summary>
/// <param name="Plan">For a plan: the plan and its trial; null for a package.</param>
internal sealed record CheckoutRequest(
    CheckoutSession Session, BillingCustomer Customer, Plan? Plan, int TrialDays, CreditPackage? Package, Uri SuccessUrl, Uri CancelUrl);

/// <summary>Where to send the customer, and the gateway's id of the visit (Stripe's session id, eWAY's access code).</summary>
internal sealed record CheckoutStart(string ExternalId, Uri RedirectUrl, string? CustomerId);

/// <summary>
/// A payment as the gateway says it stands now. Everything AiHub records about money comes through this shape,
/// whoever reports it (a webhook, a return from the hosted page, a sweep, the nightly reconciliation).
/// </summary>
/// <param name="ExternalId">Unique per gateway: Stripe's invoice id for a plan period, the payment intent for a package; eWAY's transaction id.</param>
/// <param name="AmountMinor">Total taken, tax included, in the currency's smallest unit.</param>
/// <param name="RefundedMinor">Given back so far, in total.</param>
/// <param name="Disputed">A dispute is open or was lost.</param>
/// <param name="OrganizationId">Read from the metadata AiHub put on the gateway's objects, or from the customer.</param>
internal sealed record GatewayPayment(
    string Gateway,
    string ExternalId,
    Guid OrganizationId,
    PaymentKind Kind,
    PaymentStatus Status,
    long AmountMinor,
    long TaxMinor,
    string Currency,
    long RefundedMinor,
    bool Disputed,
    DateTimeOffset CreatedAt,
    string? PlanCode = null,
    DateTimeOffset? PeriodStart = null,
    DateTimeOffset? PeriodEnd = null,
    string? PackageCode = null,
    bool ToPool = false,
    Guid? BuyerUserId = null,
    string? SubscriptionExternalId = null,
    string? FailureMessage = null);

/// <summary>A subscription as the gateway says it stands now.</summary>
/// <param name="PendingPlanCode">A downgrade scheduled for the end of the period.</param>
internal sealed record GatewaySubscription(
    string Gateway,
    string ExternalId,
    Guid OrganizationId,
    string PlanCode,
    SubscriptionStatus Status,
    DateTimeOffset PeriodStart,
    DateTimeOffset PeriodEnd,
    DateTimeOffset? TrialEnd,
    bool CancelAtPeriodEnd,
    string? PendingPlanCode = null)
{
    /// <summary>When the gateway was asked for this state (before the request went out); null for a state AiHub decides itself.</summary>
    public DateTimeOffset? ReadAt { get; init; }
}

/// <summary>How a hosted-page visit ended, read from the gateway (never from the browser's return URL).</summary>
internal sealed record CheckoutOutcome(
    CheckoutStatus Status,
    GatewayPayment? Payment,
    GatewaySubscription? Subscription,
    string? FailureMessage = null,
    string? CustomerId = null,
    string? PaymentMethod = null);

/// <summary>What the next invoice of a subscription will ask, as the gateway previews it.</summary>
internal sealed record InvoiceEstimate(long AmountMinor, string Currency, DateTimeOffset? At);

/// <summary>
/// One payment gateway. A third gateway is a new class behind this interface: the ledger, invoices, plans, mails and
/// reconciliation above it do not change.
/// </summary>
/// <remarks>Card data never reaches AiHub: every payment is taken on the gateway's hosted page or with its stored token.</remarks>
internal interface IPaymentGateway
{
    /// <summary><c>stripe</c> or <c>eway</c>: stored on every row the gateway's objects make.</summary>
    string Name { get; }

    /// <summary>Whether the gateway renews subscriptions itself (Stripe), or AiHub charges a stored token each period (eWAY).</summary>
    bool RenewsItself { get; }

    /// <summary>Creates the customer at the gateway, or updates its name, email, address and tax id; returns the gateway's customer id.</summary>
    /// <remarks>eWAY keeps customers only as card tokens, made on the hosted page: it returns <see cref="BillingCustomer.CustomerId"/> as it is (null at first).</remarks>
    Task<string?> SaveCustomerAsync(BillingCustomer customer, CancellationToken ct);

    Task<CheckoutStart> StartCheckoutAsync(CheckoutRequest request, CancellationToken ct);

    /// <summary>Reads the visit's outcome from the gateway: on the customer's return, and again by the sweep for those who never came back.</summary>
    Task<CheckoutOutcome> ReadCheckoutAsync(CheckoutSession session, CancellationToken ct);

    /// <summary>The gateway's payments made in [from, to), for the nightly reconciliation.</summary>
    Task<IReadOnlyList<GatewayPayment>> ListPaymentsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct);

    /// <summary>Gives back <paramref name="amountMinor"/> of a payment; returns the payment as it stands after.</summary>
    Task<GatewayPayment> RefundAsync(Payment payment, long amountMinor, string reason, CancellationToken ct);

    /// <summary>Upgrades at once with proration, or (<paramref name="atPeriodEnd"/>) schedules a downgrade for the end of the period.</summary>
    Task<GatewaySubscription> ChangePlanAsync(Subscription subscription, Plan to, bool atPeriodEnd, CancellationToken ct);

    /// <summary>Cancels at the end of the period (true) or takes that back (false, "resume").</summary>
    Task<GatewaySubscription> SetCancelAtPeriodEndAsync(Subscription subscription, bool cancel, CancellationToken ct);

    /// <summary>Ends the subscription now, with no further charge (a refunded period, a grace period run out).</summary>
    Task CancelNowAsync(Subscription subscription, CancellationToken ct);

    /// <summary>The gateway's own page for the customer's payment methods and invoices; null when the gateway has none.</summary>
    Task<Uri?> PortalUrlAsync(BillingCustomer customer, Uri returnUrl, CancellationToken ct);

    /// <summary>The next invoice's amount; null when nothing will be charged.</summary>
    Task<InvoiceEstimate?> UpcomingAsync(Subscription subscription, CancellationToken ct);
}

/// <summary>The gateway's answer was an error AiHub cannot fix by retrying at once (a declined card, a refused refund); its message is safe to show.</summary>
internal sealed class PaymentGatewayException(string message, bool transient = false, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>A timeout, a 5xx or a 429: worth trying again later.</summary>
    public bool Transient => transient;
}
