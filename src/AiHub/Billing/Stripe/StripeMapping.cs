using System.Globalization;
using S = global::Stripe;

namespace AiHub.Billing.Stripe;

/// <summary>Stripe's objects as AiHub's gateway-neutral records; shared by the gateway's calls and the webhook handlers.</summary>
internal static class StripeMapping
{
    public const string Gateway = "stripe";

    /// <summary>The subscription as it stands; null when it is not AiHub's (no <c>aihub_org</c>, no plan).</summary>
    /// <remarks>
    /// A downgrade changes Stripe's price at once (so the next renewal charges the new one) but the plan paid for runs
    /// until the period ends: until that time, or until Stripe has renewed into the next period, whichever comes first.
    /// </remarks>
    /// <param name="readAt">When the request that returned <paramref name="sub"/> went out: a later one's state wins.</param>
    public static GatewaySubscription? ToSubscription(S.Subscription sub, DateTimeOffset now, DateTimeOffset readAt)
    {
        var org = StripeMetadata.GetGuid(sub.Metadata, StripeMetadata.Org);
        var item = sub.Items?.Data?.FirstOrDefault();
        var plan = StripeMetadata.Get(item?.Price?.Metadata, StripeMetadata.Plan) ?? StripeMetadata.Get(sub.Metadata, StripeMetadata.Plan);
        if (org is null || plan is null || item is null)
            return null;
        string? pending = null;
        if (StripeMetadata.Get(sub.Metadata, StripeMetadata.PreviousPlan) is { } previous
            && long.TryParse(StripeMetadata.Get(sub.Metadata, StripeMetadata.PreviousUntil), NumberStyles.None, CultureInfo.InvariantCulture, out var until)
            && now < DateTimeOffset.FromUnixTimeSeconds(until) && Utc(item.CurrentPeriodStart) < DateTimeOffset.FromUnixTimeSeconds(until)
            && !string.Equals(previous, plan, StringComparison.OrdinalIgnoreCase))
        {
            pending = plan.ToUpperInvariant();
            plan = previous;
        }
        return new GatewaySubscription(
            Gateway, sub.Id, org.Value, plan.ToUpperInvariant(), Status(sub.Status),
            Utc(item.CurrentPeriodStart), Utc(item.CurrentPeriodEnd), sub.TrialEnd is { } trial ? Utc(trial) : null,
            sub.CancelAtPeriodEnd || sub.CancelAt is not null, pending) { ReadAt = readAt };
    }

    public static SubscriptionStatus Status(string? status) => status switch
    {
        "trialing" => SubscriptionStatus.Trialing,
        "active" => SubscriptionStatus.Active,
        "past_due" => SubscriptionStatus.PastDue,
        "incomplete" => SubscriptionStatus.Incomplete,
        _ => SubscriptionStatus.Canceled, // canceled, unpaid, incomplete_expired, paused: grants nothing
    };

    /// <summary>
    /// A subscription's invoice (a first period, a renewal, a proration) as a payment; null when it is not AiHub's.
    /// The organisation and plan come from the subscription's metadata (the invoice's snapshot, else the subscription's own).
    /// </summary>
    /// <param name="charge">The charge that paid it: its refunds and dispute; null when nothing was charged (a trial, a zero proration).</param>
    public static GatewayPayment? ToPayment(S.Invoice invoice, S.Subscription? subscription, S.Charge? charge)
    {
        var details = invoice.Parent?.SubscriptionDetails;
        var metadata = details?.Metadata is { Count: > 0 } m && m.ContainsKey(StripeMetadata.Org) ? m : subscription?.Metadata;
        var org = StripeMetadata.GetGuid(metadata, StripeMetadata.Org);
        var subscriptionId = details?.SubscriptionId ?? subscription?.Id;
        if (org is null || subscriptionId is null)
            return null;
        var line = invoice.Lines?.Data?.Where(l => l.Period is not null).OrderByDescending(l => l.Period.End).FirstOrDefault();
        var plan = StripeMetadata.Get(line?.Pricing?.PriceDetails?.Price?.Metadata, StripeMetadata.Plan)
            ?? StripeMetadata.Get(subscription?.Items?.Data?.FirstOrDefault()?.Price?.Metadata, StripeMetadata.Plan)
            ?? StripeMetadata.Get(metadata, StripeMetadata.Plan);
        var status = invoice.Status switch
        {
            "paid" => PaymentStatus.Succeeded,
            "void" or "uncollectible" => PaymentStatus.Failed,
            "open" when invoice.AttemptCount > 0 => PaymentStatus.Failed,
            _ => PaymentStatus.Pending,
        };
        var amount = status == PaymentStatus.Succeeded ? invoice.AmountPaid : invoice.AmountDue;
        var tax = invoice.TotalTaxes?.Sum(t => t.Amount) ?? 0;
        return new GatewayPayment(
            Gateway, invoice.Id, org.Value, PaymentKind.Plan, status, amount, Math.Clamp(tax, 0, amount), invoice.Currency.ToUpperInvariant(),
            charge?.AmountRefunded ?? 0, charge?.Disputed ?? false, Utc(invoice.Created), plan?.ToUpperInvariant(),
            line is null ? null : Utc(line.Period.Start), line is null ? null : Utc(line.Period.End),
            BuyerUserId: StripeMetadata.GetGuid(metadata, StripeMetadata.Buyer), SubscriptionExternalId: subscriptionId,
            FailureMessage: status == PaymentStatus.Failed ? "Stripe could not collect this invoice: the card was declined or has expired." : null);
    }

    /// <summary>A credit package's payment intent as a payment; null when it is not an AiHub package.</summary>
    public static GatewayPayment? ToPayment(S.PaymentIntent intent, S.Charge? charge, long taxMinor = 0)
    {
        var org = StripeMetadata.GetGuid(intent.Metadata, StripeMetadata.Org);
        var package = StripeMetadata.Get(intent.Metadata, StripeMetadata.Package);
        if (org is null || package is null || StripeMetadata.Get(intent.Metadata, StripeMetadata.Kind) != StripeMetadata.KindCredits)
            return null;
        var status = intent.Status switch
        {
            "succeeded" => PaymentStatus.Succeeded,
            "canceled" => PaymentStatus.Failed,
            "requires_payment_method" when intent.LastPaymentError is not null => PaymentStatus.Failed,
            _ => PaymentStatus.Pending,
        };
        var amount = status == PaymentStatus.Succeeded && intent.AmountReceived > 0 ? intent.AmountReceived : intent.Amount;
        return new GatewayPayment(
            Gateway, intent.Id, org.Value, PaymentKind.Credits, status, amount, Math.Clamp(taxMinor, 0, amount), intent.Currency.ToUpperInvariant(),
            charge?.AmountRefunded ?? 0, charge?.Disputed ?? false, Utc(intent.Created),
            PackageCode: package, ToPool: StripeMetadata.Get(intent.Metadata, StripeMetadata.ToPool) == "true",
            BuyerUserId: StripeMetadata.GetGuid(intent.Metadata, StripeMetadata.Buyer),
            FailureMessage: status == PaymentStatus.Failed ? intent.LastPaymentError?.Message ?? "The payment was not completed." : null);
    }

    /// <summary>"visa •••• 4242": brand and last four only, never more of the card.</summary>
    public static string? PaymentMethod(S.Charge? charge) =>
        charge?.PaymentMethodDetails?.Card is { } card && !string.IsNullOrEmpty(card.Last4) ? $"{card.Brand} •••• {card.Last4}" : null;

    static DateTimeOffset Utc(DateTime at) => new(DateTime.SpecifyKind(at, DateTimeKind.Utc));
}
