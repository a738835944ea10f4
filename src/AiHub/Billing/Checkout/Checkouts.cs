using AiHub.Billing.Payments;
using AiHub.Billing.Subscriptions;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Checkout;

/// <summary>
/// A customer's way to a gateway's hosted page and back: the choice is checked and recorded before the customer
/// leaves, and the outcome is read from the gateway (never from the return URL), on return and again by the sweep.
/// </summary>
internal sealed class Checkouts(
    AppDbContext db,
    PaymentGateways gateways,
    PaymentRecorder payments,
    SubscriptionSync subscriptions,
    IOptions<BillingSettings> settings,
    IOptions<PublicUrlSettings> urls,
    TimeProvider clock)
{
    /// <summary>The org's billing page; checkouts come back to it.</summary>
    public static string BillingPath(Guid orgId) => $"/orgs/{orgId}/billing";

    /// <summary>Records the choice and asks the gateway for its hosted page; exactly one of <paramref name="planCode"/> and <paramref name="packageCode"/>.</summary>
    public async Task<(CheckoutSession Session, Uri RedirectUrl)> StartAsync(
        Guid orgId, Guid userId, string? planCode, string? packageCode, bool toPool, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(planCode) == string.IsNullOrWhiteSpace(packageCode))
            throw ProblemException.Invalid("plan", "Name either a plan (plan) or a credit package (package), not both.");
        var gateway = gateways.Current;
        Plan? plan = null;
        CreditPackage? package = null;
        if (!string.IsNullOrWhiteSpace(planCode))
        {
            var code = planCode.Trim().ToUpperInvariant();
            plan = await db.Set<Plan>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == code && p.Active, ct)
                ?? throw ProblemException.Invalid("plan", $"'{planCode}' is not a plan on offer; GET /api/plans lists them.");
            if (plan.PriceCents <= 0)
                throw ProblemException.Invalid("plan", $"{plan.Name} is free: there is nothing to pay. To leave a paid plan, cancel its subscription.");
            if (await LiveSubscriptionAsync(orgId, ct) is { } live)
                throw new ProblemException(StatusCodes.Status409Conflict, "This organisation already has a subscription.",
                    $"It is on {live.PlanCode} ({live.Status}); change its plan instead (POST /api/orgs/{orgId}/billing/subscription/plan).", ProblemTypes.Conflict);
        }
        else
        {
            package = settings.Value.Package(packageCode)
                ?? throw ProblemException.Invalid("package", $"'{packageCode}' is not a credit package on sale; GET /api/orgs/{orgId}/billing lists them.");
        }

        var customer = await CustomerAsync(orgId, userId, gateway, ct);
        var now = clock.GetUtcNow();
        var id = Guid.CreateVersion7(now);
        var session = new CheckoutSession
        {
            Id = id, OrganizationId = orgId, UserId = userId, Gateway = gateway.Name, ExternalId = $"pending:{id:N}",
            Kind = plan is null ? PaymentKind.Credits : PaymentKind.Plan, PlanCode = plan?.Code, PackageCode = package?.Code, ToPool = package is not null && toPool,
            AmountMinor = plan?.PriceCents ?? package!.PriceMinor, Currency = plan?.Currency ?? package!.Currency, Status = CheckoutStatus.Open,
            CreatedAt = now, ExpiresAt = now + settings.Value.CheckoutLifetime,
        };
        db.Add(session);
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();

        var billing = new Uri(urls.Value.PublicUrl, BillingPath(orgId));
        var start = await gateway.StartCheckoutAsync(new CheckoutRequest(
            session, customer, plan, plan is null ? 0 : settings.Value.TrialDaysOf(plan.Code), package,
            new Uri($"{billing}/return?checkout={id}"), new Uri($"{billing}?canceled={id}")), ct);
        await db.Set<CheckoutSession>().Where(c => c.Id == id).ExecuteUpdateAsync(u => u.SetProperty(c => c.ExternalId, start.ExternalId), ct);
        if (start.CustomerId is { } customerId && customerId != customer.CustomerId)
            await db.Set<BillingCustomer>().Where(c => c.OrganizationId == orgId).ExecuteUpdateAsync(u => u.SetProperty(c => c.CustomerId, customerId), ct);
        session.ExternalId = start.ExternalId;
        return (session, start.RedirectUrl);
    }

    /// <summary>
    /// Reads an open checkout's outcome from its gateway and records what it paid for; a finished one is returned as it is.
    /// Called on the customer's return and by the sweep, so a customer who never comes back is still served.
    /// </summary>
    public async Task<CheckoutSession> CompleteAsync(Guid orgId, Guid checkoutId, CancellationToken ct)
    {
        var session = await db.Set<CheckoutSession>().AsNoTracking().FirstOrDefaultAsync(c => c.OrganizationId == orgId && c.Id == checkoutId, ct)
            ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such checkout.", $"This organisation has no checkout {checkoutId}.", ProblemTypes.NotFound);
        if (session.Status != CheckoutStatus.Open || session.ExternalId.StartsWith("pending:", StringComparison.Ordinal))
            return session;
        var outcome = await gateways.Of(session.Gateway).ReadCheckoutAsync(session, ct);
        if (outcome.CustomerId is not null || outcome.PaymentMethod is not null)
        {
            await db.Set<BillingCustomer>().Where(c => c.OrganizationId == orgId).ExecuteUpdateAsync(u => u
                .SetProperty(c => c.CustomerId, c => outcome.CustomerId ?? c.CustomerId)
                .SetProperty(c => c.PaymentMethod, c => outcome.PaymentMethod ?? c.PaymentMethod)
                .SetProperty(c => c.UpdatedAt, clock.GetUtcNow()), ct);
        }
        if (outcome.Subscription is { } subscription)
            await subscriptions.ApplyAsync(subscription, ct);
        Payment? payment = null;
        if (outcome.Payment is { } reported)
            payment = await payments.RecordAsync(reported, ct);
        var status = outcome.Status == CheckoutStatus.Open && session.ExpiresAt <= clock.GetUtcNow() ? CheckoutStatus.Expired : outcome.Status;
        if (status != CheckoutStatus.Open || payment is not null)
        {
            var now = clock.GetUtcNow();
            await db.Set<CheckoutSession>().Where(c => c.Id == session.Id && c.Status == CheckoutStatus.Open).ExecuteUpdateAsync(u => u
                .SetProperty(c => c.Status, status)
                .SetProperty(c => c.PaymentId, payment == null ? session.PaymentId : payment.Id)
                .SetProperty(c => c.FailureMessage, outcome.FailureMessage)
                .SetProperty(c => c.CompletedAt, status == CheckoutStatus.Open ? null : now), ct);
        }
        return await db.Set<CheckoutSession>().AsNoTracking().FirstAsync(c => c.Id == session.Id, ct);
    }

    /// <summary>The subscription that still runs (or is being paid for); a second checkout for a plan would charge twice.</summary>
    public Task<Subscription?> LiveSubscriptionAsync(Guid orgId, CancellationToken ct) =>
        db.Set<Subscription>().AsNoTracking()
            .Where(s => s.OrganizationId == orgId && s.Status != SubscriptionStatus.Canceled && s.Status != SubscriptionStatus.Incomplete)
            .OrderByDescending(s => s.UpdatedAt).FirstOrDefaultAsync(ct);

    /// <summary>The org's billing customer, made on first checkout from the org's name and the buyer's email, and saved at the gateway.</summary>
    async Task<BillingCustomer> CustomerAsync(Guid orgId, Guid userId, IPaymentGateway gateway, CancellationToken ct)
    {
        var customer = await db.Set<BillingCustomer>().FirstOrDefaultAsync(c => c.OrganizationId == orgId, ct);
        if (customer is null)
        {
            var org = await db.Organizations.AsNoTracking().Where(o => o.Id == orgId).Select(o => o.Name).FirstAsync(ct);
            var email = await db.Users.AsNoTracking().Where(u => u.Id == userId).Select(u => u.Email).FirstAsync(ct);
            var now = clock.GetUtcNow();
            customer = new BillingCustomer { OrganizationId = orgId, Gateway = gateway.Name, Email = email!, Name = org, CreatedAt = now, UpdatedAt = now };
            db.Add(customer);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException e) when (UniqueViolation.Is(e))
            {
                db.ChangeTracker.Clear();
                return await CustomerAsync(orgId, userId, gateway, ct);
            }
        }
        if (customer.CustomerId is null || customer.Gateway != gateway.Name)
        {
            var id = await gateway.SaveCustomerAsync(customer, ct);
            await db.Set<BillingCustomer>().Where(c => c.OrganizationId == orgId)
                .ExecuteUpdateAsync(u => u.SetProperty(c => c.CustomerId, id).SetProperty(c => c.Gateway, gateway.Name), ct);
            customer.CustomerId = id;
            customer.Gateway = gateway.Name;
        }
        db.ChangeTracker.Clear();
        return customer;
    }
}
