using System.Collections.Concurrent;
using AiHub.Billing;
using AiHub.Credits.Plans;

namespace AiHub.IntegrationTests.Billing;

/// <summary>
/// A paid provider's stand-in at the <see cref="IPaymentGateway"/> boundary, for the customer API's rules: it keeps
/// what a gateway would (customers, visits, subscriptions) and lets a test decide how a visit ends or make it refuse.
/// </summary>
/// <remarks>Stripe's wire format is covered by the Stripe gateway's own tests against the fake Stripe server.</remarks>
internal sealed class TestPaymentGateway : IPaymentGateway
{
    readonly ConcurrentDictionary<Guid, CheckoutStatus> _outcomes = new();

    public string Name => "stripe";

    public bool RenewsItself => true;

    public ConcurrentDictionary<Guid, BillingCustomer> SavedCustomers { get; } = new();

    /// <summary>Thrown by the next call that takes it, then cleared.</summary>
    public PaymentGatewayException? Fail { get; set; }

    public bool FailEstimates { get; set; }

    public void Pay(Guid checkoutId) => _outcomes[checkoutId] = CheckoutStatus.Completed;

    public void Decline(Guid checkoutId) => _outcomes[checkoutId] = CheckoutStatus.Failed;

    public Task<string?> SaveCustomerAsync(BillingCustomer customer, CancellationToken ct)
    {
        Throw();
        SavedCustomers[customer.OrganizationId] = customer;
        return Task.FromResult<string?>(customer.CustomerId ?? $"cus_{customer.OrganizationId:N}");
    }

    public Task<CheckoutStart> StartCheckoutAsync(CheckoutRequest request, CancellationToken ct)
    {
        Throw();
        return Task.FromResult(new CheckoutStart($"cs_{request.Session.Id:N}", new Uri($"https://pay.test/c/{request.Session.Id:N}"), request.Customer.CustomerId));
    }

    public Task<CheckoutOutcome> ReadCheckoutAsync(CheckoutSession session, CancellationToken ct)
    {
        Throw();
        var now = DateTimeOffset.UtcNow;
        return Task.FromResult(_outcomes.GetValueOrDefault(session.Id, CheckoutStatus.Open) switch
        {
            CheckoutStatus.Failed => new CheckoutOutcome(CheckoutStatus.Failed, null, null, "Your card was declined."),
            CheckoutStatus.Completed when session.Kind == PaymentKind.Plan => new CheckoutOutcome(CheckoutStatus.Completed,
                new GatewayPayment(Name, $"in_{session.Id:N}", session.OrganizationId, PaymentKind.Plan, PaymentStatus.Succeeded, session.AmountMinor, 0, session.Currency, 0, false, now,
                    PlanCode: session.PlanCode, PeriodStart: now, PeriodEnd: now.AddMonths(1), BuyerUserId: session.UserId, SubscriptionExternalId: $"sub_{session.Id:N}"),
                new GatewaySubscription(Name, $"sub_{session.Id:N}", session.OrganizationId, session.PlanCode!, SubscriptionStatus.Active, now, now.AddMonths(1), null, false),
                CustomerId: $"cus_{session.OrganizationId:N}", PaymentMethod: "visa •••• 4242"),
            CheckoutStatus.Completed => new CheckoutOutcome(CheckoutStatus.Completed,
                new GatewayPayment(Name, $"pi_{session.Id:N}", session.OrganizationId, PaymentKind.Credits, PaymentStatus.Succeeded, session.AmountMinor, 0, session.Currency, 0, false, now,
                    PackageCode: session.PackageCode, ToPool: session.ToPool, BuyerUserId: session.UserId),
                null, CustomerId: $"cus_{session.OrganizationId:N}", PaymentMethod: "visa •••• 4242"),
            _ => new CheckoutOutcome(CheckoutStatus.Open, null, null),
        });
    }

    public Task<IReadOnlyList<GatewayPayment>> ListPaymentsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<GatewayPayment>>([]);

    public Task<GatewayPayment> RefundAsync(Payment payment, long amountMinor, string reason, CancellationToken ct) =>
        throw new PaymentGatewayException("Refunds are not part of these tests.");

    public Task<GatewaySubscription> ChangePlanAsync(Subscription subscription, Plan to, bool atPeriodEnd, CancellationToken ct)
    {
        Throw();
        return Task.FromResult(Describe(subscription) with
        {
            PlanCode = atPeriodEnd ? subscription.PlanCode : to.Code,
            PendingPlanCode = atPeriodEnd ? to.Code : null,
        });
    }

    public Task<GatewaySubscription> SetCancelAtPeriodEndAsync(Subscription subscription, bool cancel, CancellationToken ct)
    {
        Throw();
        return Task.FromResult(Describe(subscription) with { CancelAtPeriodEnd = cancel, PendingPlanCode = cancel ? null : subscription.PendingPlanCode });
    }

    public Task CancelNowAsync(Subscription subscription, CancellationToken ct) => Task.CompletedTask;

    public Task<Uri?> PortalUrlAsync(BillingCustomer customer, Uri returnUrl, CancellationToken ct)
    {
        Throw();
        return Task.FromResult<Uri?>(new Uri($"https://pay.test/portal/{customer.CustomerId}?return={Uri.EscapeDataString(returnUrl.ToString())}"));
    }

    public Task<InvoiceEstimate?> UpcomingAsync(Subscription subscription, CancellationToken ct) =>
        FailEstimates ? throw new PaymentGatewayException("The upcoming invoice could not be read.", transient: true)
        : Task.FromResult<InvoiceEstimate?>(new InvoiceEstimate(7_900, "USD", subscription.CurrentPeriodEnd));

    void Throw()
    {
        if (Fail is { } fail)
        {
            Fail = null;
            throw fail;
        }
    }

    static GatewaySubscription Describe(Subscription s) =>
        new(s.Gateway, s.ExternalId, s.OrganizationId, s.PlanCode, s.Status, s.CurrentPeriodStart, s.CurrentPeriodEnd, s.TrialEnd, s.CancelAtPeriodEnd, s.PendingPlanCode);
}
