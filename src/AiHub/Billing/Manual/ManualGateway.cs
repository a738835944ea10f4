using AiHub.Credits.Plans;
using AiHub.Infrastructure.Errors;

namespace AiHub.Billing.Manual;

/// <summary>
/// Money taken outside AiHub (a bank transfer, an invoice paid by hand) that an administrator records: there is no
/// gateway to call, so refunds and cancellations are AiHub's own bookkeeping and nothing is offered at checkout.
/// </summary>
internal sealed class ManualGateway(TimeProvider clock) : IPaymentGateway
{
    public const string GatewayName = "manual";

    public string Name => GatewayName;

    public bool RenewsItself => false;

    public Task<string?> SaveCustomerAsync(BillingCustomer customer, CancellationToken ct) => Task.FromResult(customer.CustomerId);

    public Task<CheckoutStart> StartCheckoutAsync(CheckoutRequest request, CancellationToken ct) =>
        throw new ProblemException(StatusCodes.Status409Conflict, "Manual payments have no checkout.",
            "Money paid outside AiHub (a bank transfer) is recorded by an administrator with \"Mark paid\"; there is no payment page to open.", ProblemTypes.Conflict);

    public Task<CheckoutOutcome> ReadCheckoutAsync(CheckoutSession session, CancellationToken ct) =>
        Task.FromResult(new CheckoutOutcome(CheckoutStatus.Failed, null, null, "Manual payments have no checkout."));

    // The ledger is the only record of manual money: there is nothing elsewhere to compare it with.
    public Task<IReadOnlyList<GatewayPayment>> ListPaymentsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<GatewayPayment>>([]);

    /// <summary>The money goes back by hand too; this only says how the payment stands after it.</summary>
    public Task<GatewayPayment> RefundAsync(Payment payment, long amountMinor, string reason, CancellationToken ct)
    {
        if (amountMinor < 1 || amountMinor > payment.AmountMinor - payment.RefundedMinor)
            throw ProblemException.Invalid("amountMinor",
                $"A refund is from 1 to {payment.AmountMinor - payment.RefundedMinor} (what is left of the payment, in the currency's smallest unit).");
        var refunded = payment.RefundedMinor + amountMinor;
        return Task.FromResult(new GatewayPayment(
            payment.Gateway, payment.ExternalId, payment.OrganizationId, payment.Kind,
            refunded >= payment.AmountMinor ? PaymentStatus.Refunded : PaymentStatus.PartiallyRefunded,
            payment.AmountMinor, payment.TaxMinor, payment.Currency, refunded, payment.Status == PaymentStatus.Disputed, payment.CreatedAt,
            payment.PlanCode, payment.PeriodStart, payment.PeriodEnd, payment.PackageCode, BuyerUserId: payment.BuyerUserId));
    }

    public Task<GatewaySubscription> ChangePlanAsync(Subscription subscription, Plan to, bool atPeriodEnd, CancellationToken ct) =>
        Task.FromResult(Describe(subscription) with
        {
            PlanCode = atPeriodEnd ? subscription.PlanCode : to.Code,
            PendingPlanCode = atPeriodEnd ? to.Code : null,
        });

    public Task<GatewaySubscription> SetCancelAtPeriodEndAsync(Subscription subscription, bool cancel, CancellationToken ct) =>
        Task.FromResult(Describe(subscription) with { CancelAtPeriodEnd = cancel });

    public Task CancelNowAsync(Subscription subscription, CancellationToken ct) => Task.CompletedTask;

    public Task<Uri?> PortalUrlAsync(BillingCustomer customer, Uri returnUrl, CancellationToken ct) => Task.FromResult<Uri?>(null);

    // Nothing is charged automatically: the next period is paid by hand, or the plan ends.
    public Task<InvoiceEstimate?> UpcomingAsync(Subscription subscription, CancellationToken ct) => Task.FromResult<InvoiceEstimate?>(null);

    GatewaySubscription Describe(Subscription s) => new(
        s.Gateway, s.ExternalId, s.OrganizationId, s.PlanCode, s.CurrentPeriodEnd <= clock.GetUtcNow() && s.Status != SubscriptionStatus.Canceled ? SubscriptionStatus.Canceled : s.Status,
        s.CurrentPeriodStart, s.CurrentPeriodEnd, s.TrialEnd, s.CancelAtPeriodEnd, s.PendingPlanCode);
}
