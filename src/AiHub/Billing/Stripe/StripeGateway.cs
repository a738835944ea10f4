using AiHub.Credits.Plans;
using Microsoft.Extensions.Options;
using S = global::Stripe;

namespace AiHub.Billing.Stripe;

/// <summary>
/// Stripe behind <see cref="IPaymentGateway"/>: Checkout for the first payment, Stripe's subscriptions for renewals,
/// its Customer Portal for cards. Every AiHub object at Stripe carries the <c>aihub_*</c> metadata that names its organisation.
/// </summary>
/// <remarks>Keys and card data never reach a log: errors carry Stripe's message about the request, never the request itself.</remarks>
internal sealed partial class StripeGateway(
    StripeApi api,
    StripePrices prices,
    IOptions<BillingSettings> settings,
    TimeProvider clock,
    ILogger<StripeGateway> log) : IPaymentGateway
{
    /// <summary>Stripe refuses an <c>expires_at</c> sooner than this.</summary>
    static readonly TimeSpan MinimumCheckoutLifetime = TimeSpan.FromMinutes(30);

    static readonly TimeSpan MaximumCheckoutLifetime = TimeSpan.FromHours(24);

    public string Name => StripeMapping.Gateway;

    public bool RenewsItself => true;

    internal S.IStripeClient Client => api.Client;

    public async Task<string?> SaveCustomerAsync(BillingCustomer customer, CancellationToken ct)
    {
        var service = new S.CustomerService(Client);
        var address = customer.Country is null && customer.AddressLine1 is null ? null : new S.AddressOptions
        {
            Line1 = customer.AddressLine1, Line2 = customer.AddressLine2, City = customer.City, State = customer.State,
            PostalCode = customer.PostalCode, Country = customer.Country,
        };
        var metadata = new Dictionary<string, string> { [StripeMetadata.Org] = customer.OrganizationId.ToString() };
        try
        {
            S.Customer saved;
            if (customer.Gateway == Name && customer.CustomerId is { } id && id.StartsWith("cus_", StringComparison.Ordinal))
            {
                saved = await service.UpdateAsync(id, new S.CustomerUpdateOptions
                {
                    Name = customer.Name, Email = customer.Email, Address = address, Metadata = metadata,
                }, cancellationToken: ct);
            }
            else
            {
                saved = await service.CreateAsync(new S.CustomerCreateOptions
                {
                    Name = customer.Name, Email = customer.Email, Address = address, Metadata = metadata,
                }, new S.RequestOptions { IdempotencyKey = $"customer:{customer.OrganizationId}" }, ct);
            }
            await SaveTaxIdAsync(saved.Id, customer, ct);
            return saved.Id;
        }
        catch (Exception e) when (e is S.StripeException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw StripeApi.Wrap(e, "saving the customer");
        }
    }

    /// <summary>Adds the customer's tax id unless Stripe has it already; a country whose id type is not known here is skipped, with a log line.</summary>
    async Task SaveTaxIdAsync(string customerId, BillingCustomer customer, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(customer.TaxId))
            return;
        if (TaxIdType(customer.Country) is not { } type)
        {
            LogTaxIdSkipped(customer.OrganizationId, customer.Country ?? "none");
            return;
        }
        var service = new S.CustomerTaxIdService(Client);
        var value = customer.TaxId.Trim();
        var existing = await service.ListAsync(customerId, new S.CustomerTaxIdListOptions { Limit = 100 }, cancellationToken: ct);
        if (existing.Data.Any(t => string.Equals(Normalize(t.Value), Normalize(value), StringComparison.OrdinalIgnoreCase)))
            return;
        await service.CreateAsync(customerId, new S.CustomerTaxIdCreateOptions { Type = type, Value = value }, cancellationToken: ct);

        static string Normalize(string? v) => new([.. (v ?? "").Where(char.IsLetterOrDigit)]);
    }

    static readonly HashSet<string> EuVatCountries =
    [
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT",
        "RO", "SE", "SI", "SK",
    ];

    /// <summary>Stripe's tax id type for a country's usual business number.</summary>
    internal static string? TaxIdType(string? country) => country?.Trim().ToUpperInvariant() switch
    {
        null or "" => null,
        "AU" => "au_abn",
        "NZ" => "nz_gst",
        "GB" => "gb_vat",
        "US" => "us_ein",
        "CA" => "ca_bn",
        "CH" => "ch_vat",
        "NO" => "no_vat",
        "IN" => "in_gst",
        "SG" => "sg_gst",
        "JP" => "jp_cn",
        "ZA" => "za_vat",
        { } c when EuVatCountries.Contains(c) => "eu_vat",
        _ => null,
    };

    public async Task<CheckoutStart> StartCheckoutAsync(CheckoutRequest request, CancellationToken ct)
    {
        var session = request.Session;
        var stripe = settings.Value.Stripe;
        var metadata = Metadata(session);
        var now = clock.GetUtcNow();
        var lifetime = TimeSpan.FromTicks(Math.Clamp((session.ExpiresAt - now).Ticks, MinimumCheckoutLifetime.Ticks, MaximumCheckoutLifetime.Ticks));
        var options = new S.Checkout.SessionCreateOptions
        {
            Customer = request.Customer.CustomerId,
            ClientReferenceId = session.Id.ToString(),
            SuccessUrl = request.SuccessUrl.ToString(),
            CancelUrl = request.CancelUrl.ToString(),
            Metadata = metadata,
            ExpiresAt = (now + lifetime).UtcDateTime,
        };
        if (stripe.AutomaticTax)
        {
            options.AutomaticTax = new S.Checkout.SessionAutomaticTaxOptions { Enabled = true };
            options.CustomerUpdate = new S.Checkout.SessionCustomerUpdateOptions { Address = "auto", Name = "auto" };
            options.TaxIdCollection = new S.Checkout.SessionTaxIdCollectionOptions { Enabled = true };
        }
        try
        {
            if (request.Plan is { } plan)
            {
                options.Mode = "subscription";
                options.AllowPromotionCodes = stripe.AllowPromotionCodes;
                options.LineItems = [new S.Checkout.SessionLineItemOptions { Price = await prices.PriceIdAsync(plan, ct), Quantity = 1 }];
                options.SubscriptionData = new S.Checkout.SessionSubscriptionDataOptions
                {
                    Metadata = metadata, TrialPeriodDays = request.TrialDays > 0 ? request.TrialDays : null,
                };
            }
            else
            {
                var package = request.Package ?? throw new ArgumentException("A checkout names a plan or a package.", nameof(request));
                options.Mode = "payment";
                options.AllowPromotionCodes = stripe.AllowPromotionCodes;
                options.LineItems =
                [
                    new S.Checkout.SessionLineItemOptions
                    {
                        Quantity = 1,
                        PriceData = new S.Checkout.SessionLineItemPriceDataOptions
                        {
                            Currency = package.Currency.ToLowerInvariant(), UnitAmount = package.PriceMinor,
                            ProductData = new S.Checkout.SessionLineItemPriceDataProductDataOptions { Name = package.Name, Metadata = new() { [StripeMetadata.Package] = package.Code } },
                        },
                    },
                ];
                options.PaymentIntentData = new S.Checkout.SessionPaymentIntentDataOptions { Metadata = metadata };
            }
            var created = await new S.Checkout.SessionService(Client).CreateAsync(options, new S.RequestOptions { IdempotencyKey = $"checkout:{session.Id}" }, ct);
            return new CheckoutStart(created.Id, new Uri(created.Url), created.CustomerId);
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "starting the checkout");
        }
    }

    /// <summary>The <c>aihub_*</c> keys of a checkout, set on the session, its payment intent or subscription.</summary>
    static Dictionary<string, string> Metadata(CheckoutSession session)
    {
        var metadata = new Dictionary<string, string>
        {
            [StripeMetadata.Org] = session.OrganizationId.ToString(),
            [StripeMetadata.Kind] = session.Kind == PaymentKind.Plan ? StripeMetadata.KindPlan : StripeMetadata.KindCredits,
            [StripeMetadata.Buyer] = session.UserId.ToString(),
            [StripeMetadata.Checkout] = session.Id.ToString(),
            [StripeMetadata.ToPool] = session.ToPool ? "true" : "false",
        };
        if (session.PlanCode is { } plan)
            metadata[StripeMetadata.Plan] = plan;
        if (session.PackageCode is { } package)
            metadata[StripeMetadata.Package] = package;
        return metadata;
    }

    public async Task<CheckoutOutcome> ReadCheckoutAsync(CheckoutSession session, CancellationToken ct)
    {
        try
        {
            var readAt = clock.GetUtcNow();
            var s = await new S.Checkout.SessionService(Client).GetAsync(session.ExternalId,
                new S.Checkout.SessionGetOptions { Expand = ["payment_intent", "subscription", "invoice"] }, cancellationToken: ct);
            var now = clock.GetUtcNow();
            var subscription = s.SubscriptionId is { } subId ? s.Subscription ?? await GetSubscriptionAsync(subId, ct) : null;
            var reportedSubscription = subscription is null ? null : StripeMapping.ToSubscription(subscription, now, readAt);
            GatewayPayment? payment = null;
            S.Charge? charge = null;
            if (s.Mode == "payment" && s.PaymentIntentId is { } intentId)
            {
                var intent = await GetIntentAsync(intentId, ct);
                charge = await ChargeOfAsync(intent, ct);
                payment = StripeMapping.ToPayment(intent, charge, s.TotalDetails?.AmountTax ?? 0);
            }
            else if (s.Mode == "subscription" && (s.InvoiceId ?? subscription?.LatestInvoiceId) is { } invoiceId)
            {
                (payment, charge) = await ReadInvoiceAsync(invoiceId, subscription, ct);
            }
            var status = s.Status switch
            {
                "expired" => CheckoutStatus.Expired,
                "complete" when s.PaymentStatus is "paid" or "no_payment_required" => CheckoutStatus.Completed,
                "complete" when payment?.Status == PaymentStatus.Failed || reportedSubscription?.Status == SubscriptionStatus.Canceled => CheckoutStatus.Failed,
                _ => CheckoutStatus.Open, // open, or complete with a bank transfer still on its way
            };
            return new CheckoutOutcome(
                status, status == CheckoutStatus.Completed || payment?.Status == PaymentStatus.Failed ? payment : null, reportedSubscription,
                status == CheckoutStatus.Failed ? payment?.FailureMessage ?? "The payment did not go through." : null,
                s.CustomerId, StripeMapping.PaymentMethod(charge));
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "reading the checkout");
        }
    }

    /// <summary>A subscription's invoice as a payment, with the charge that paid it (for its refunds and dispute).</summary>
    internal async Task<(GatewayPayment? Payment, S.Charge? Charge)> ReadInvoiceAsync(string invoiceId, S.Subscription? subscription, CancellationToken ct)
    {
        var invoice = await new S.InvoiceService(Client).GetAsync(invoiceId, new S.InvoiceGetOptions { Expand = ["payments"] }, cancellationToken: ct);
        var subscriptionId = invoice.Parent?.SubscriptionDetails?.SubscriptionId;
        if (subscription is null && subscriptionId is not null)
            subscription = await GetSubscriptionAsync(subscriptionId, ct);
        var intentId = invoice.Payments?.Data?.Where(p => p.Status == "paid").Select(p => p.Payment?.PaymentIntentId).FirstOrDefault(id => id is not null);
        var charge = intentId is null ? null : await ChargeOfAsync(await GetIntentAsync(intentId, ct), ct);
        return (StripeMapping.ToPayment(invoice, subscription, charge), charge);
    }

    internal Task<S.Subscription> GetSubscriptionAsync(string id, CancellationToken ct) =>
        new S.SubscriptionService(Client).GetAsync(id, cancellationToken: ct);

    internal Task<S.PaymentIntent> GetIntentAsync(string id, CancellationToken ct) =>
        new S.PaymentIntentService(Client).GetAsync(id, cancellationToken: ct);

    internal Task<S.Charge> GetChargeAsync(string id, CancellationToken ct) =>
        new S.ChargeService(Client).GetAsync(id, cancellationToken: ct);

    internal async Task<S.Charge?> ChargeOfAsync(S.PaymentIntent intent, CancellationToken ct) =>
        intent.LatestCharge ?? (intent.LatestChargeId is { } id ? await GetChargeAsync(id, ct) : null);

    /// <summary>The subscription invoice a payment intent paid, through Stripe's invoice payments; null for a payment of no invoice.</summary>
    internal async Task<string?> InvoiceOfAsync(string intentId, CancellationToken ct)
    {
        var payments = await new S.InvoicePaymentService(Client).ListAsync(new S.InvoicePaymentListOptions
        {
            Payment = new S.InvoicePaymentPaymentOptions { Type = "payment_intent", PaymentIntent = intentId }, Limit = 1,
        }, cancellationToken: ct);
        return payments.Data.FirstOrDefault()?.InvoiceId;
    }

    /// <summary>A payment intent as AiHub records it: a package's own, or the subscription invoice it paid.</summary>
    internal async Task<(GatewayPayment? Payment, S.Charge? Charge)> ReadIntentAsync(string intentId, CancellationToken ct)
    {
        var intent = await GetIntentAsync(intentId, ct);
        if (StripeMetadata.Get(intent.Metadata, StripeMetadata.Kind) == StripeMetadata.KindCredits)
        {
            var charge = await ChargeOfAsync(intent, ct);
            return (StripeMapping.ToPayment(intent, charge), charge);
        }
        return await InvoiceOfAsync(intentId, ct) is { } invoiceId ? await ReadInvoiceAsync(invoiceId, null, ct) : (null, null);
    }

    public async Task<IReadOnlyList<GatewayPayment>> ListPaymentsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var window = new S.DateRangeOptions { GreaterThanOrEqual = from.UtcDateTime, LessThan = to.UtcDateTime };
        var found = new List<GatewayPayment>();
        try
        {
            await foreach (var invoice in new S.InvoiceService(Client).ListAutoPagingAsync(new S.InvoiceListOptions { Status = "paid", Created = window, Limit = 100 }, cancellationToken: ct))
            {
                if (invoice.Parent?.SubscriptionDetails?.SubscriptionId is null)
                    continue;
                if ((await ReadInvoiceAsync(invoice.Id, null, ct)).Payment is { } payment)
                    found.Add(payment);
            }
            await foreach (var intent in new S.PaymentIntentService(Client).ListAutoPagingAsync(new S.PaymentIntentListOptions { Created = window, Limit = 100 }, cancellationToken: ct))
            {
                if (intent.Status != "succeeded" || StripeMetadata.Get(intent.Metadata, StripeMetadata.Kind) != StripeMetadata.KindCredits)
                    continue;
                if (StripeMapping.ToPayment(intent, await ChargeOfAsync(intent, ct)) is { } payment)
                    found.Add(payment);
            }
            return found;
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "listing payments");
        }
    }

    public async Task<GatewayPayment> RefundAsync(Payment payment, long amountMinor, string reason, CancellationToken ct)
    {
        if (amountMinor <= 0 || amountMinor > payment.AmountMinor - payment.RefundedMinor)
            throw new PaymentGatewayException($"A refund is from 1 to {payment.AmountMinor - payment.RefundedMinor} (what is left of the payment, in minor units).");
        try
        {
            var intentId = payment.Kind == PaymentKind.Credits ? payment.ExternalId : await InvoiceIntentAsync(payment.ExternalId, ct)
                ?? throw new PaymentGatewayException($"The invoice {payment.ExternalId} has no card payment at Stripe to refund.");
            await new S.RefundService(Client).CreateAsync(new S.RefundCreateOptions
            {
                PaymentIntent = intentId, Amount = amountMinor, Reason = "requested_by_customer",
                Metadata = new() { ["aihub_reason"] = reason.Length > 500 ? reason[..500] : reason, [StripeMetadata.Org] = payment.OrganizationId.ToString() },
            }, new S.RequestOptions { IdempotencyKey = $"refund:{payment.ExternalId}:{payment.RefundedMinor}:{amountMinor}" }, ct);
            var (after, _) = payment.Kind == PaymentKind.Credits ? await ReadIntentAsync(intentId, ct) : await ReadInvoiceAsync(payment.ExternalId, null, ct);
            return after ?? throw new PaymentGatewayException($"Stripe's {payment.ExternalId} no longer carries AiHub's metadata; the refund was made at Stripe.");
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "the refund");
        }
    }

    async Task<string?> InvoiceIntentAsync(string invoiceId, CancellationToken ct)
    {
        var invoice = await new S.InvoiceService(Client).GetAsync(invoiceId, new S.InvoiceGetOptions { Expand = ["payments"] }, cancellationToken: ct);
        return invoice.Payments?.Data?.Where(p => p.Status == "paid").Select(p => p.Payment?.PaymentIntentId).FirstOrDefault(id => id is not null);
    }

    public async Task<GatewaySubscription> ChangePlanAsync(Subscription subscription, Plan to, bool atPeriodEnd, CancellationToken ct)
    {
        try
        {
            var current = await GetSubscriptionAsync(subscription.ExternalId, ct);
            var item = current.Items.Data.FirstOrDefault() ?? throw new PaymentGatewayException($"The subscription {subscription.ExternalId} has no item at Stripe.");
            var metadata = new Dictionary<string, string> { [StripeMetadata.Plan] = to.Code };
            if (atPeriodEnd)
            {
                // Stripe's price changes now with no proration, so the renewal charges the new price; the plan paid for runs to the period's end.
                metadata[StripeMetadata.PreviousPlan] = subscription.PlanCode;
                metadata[StripeMetadata.PreviousUntil] = new DateTimeOffset(DateTime.SpecifyKind(item.CurrentPeriodEnd, DateTimeKind.Utc)).ToUnixTimeSeconds()
                    .ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                // An empty value deletes the key at Stripe: an upgrade ends a pending downgrade.
                metadata[StripeMetadata.PreviousPlan] = "";
                metadata[StripeMetadata.PreviousUntil] = "";
            }
            var readAt = clock.GetUtcNow();
            var updated = await new S.SubscriptionService(Client).UpdateAsync(subscription.ExternalId, new S.SubscriptionUpdateOptions
            {
                Items = [new S.SubscriptionItemOptions { Id = item.Id, Price = await prices.PriceIdAsync(to, ct) }],
                ProrationBehavior = atPeriodEnd ? "none" : "always_invoice",
                PaymentBehavior = atPeriodEnd ? null : "error_if_incomplete",
                Metadata = metadata,
            }, cancellationToken: ct);
            return StripeMapping.ToSubscription(updated, clock.GetUtcNow(), readAt)
                ?? throw new PaymentGatewayException($"The subscription {subscription.ExternalId} no longer carries AiHub's metadata at Stripe.");
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "the plan change");
        }
    }

    public async Task<GatewaySubscription> SetCancelAtPeriodEndAsync(Subscription subscription, bool cancel, CancellationToken ct)
    {
        try
        {
            var readAt = clock.GetUtcNow();
            var updated = await new S.SubscriptionService(Client).UpdateAsync(subscription.ExternalId,
                new S.SubscriptionUpdateOptions { CancelAtPeriodEnd = cancel }, cancellationToken: ct);
            return StripeMapping.ToSubscription(updated, clock.GetUtcNow(), readAt)
                ?? throw new PaymentGatewayException($"The subscription {subscription.ExternalId} no longer carries AiHub's metadata at Stripe.");
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, cancel ? "cancelling the subscription" : "resuming the subscription");
        }
    }

    public async Task CancelNowAsync(Subscription subscription, CancellationToken ct)
    {
        var service = new S.SubscriptionService(Client);
        try
        {
            var current = await service.GetAsync(subscription.ExternalId, cancellationToken: ct);
            if (current.Status is "canceled" or "incomplete_expired")
                return;
            await service.CancelAsync(subscription.ExternalId, new S.SubscriptionCancelOptions { Prorate = false }, cancellationToken: ct);
        }
        catch (S.StripeException e) when (e.HttpStatusCode == System.Net.HttpStatusCode.NotFound)
        {
            LogAlreadyGone(subscription.ExternalId);
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "ending the subscription");
        }
    }

    public async Task<Uri?> PortalUrlAsync(BillingCustomer customer, Uri returnUrl, CancellationToken ct)
    {
        if (customer.Gateway != Name || customer.CustomerId is null)
            return null;
        try
        {
            var portal = await new S.BillingPortal.SessionService(Client).CreateAsync(
                new S.BillingPortal.SessionCreateOptions { Customer = customer.CustomerId, ReturnUrl = returnUrl.ToString() }, cancellationToken: ct);
            return new Uri(portal.Url);
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "opening the customer portal");
        }
    }

    public async Task<InvoiceEstimate?> UpcomingAsync(Subscription subscription, CancellationToken ct)
    {
        if (subscription.Status == SubscriptionStatus.Canceled || subscription.CancelAtPeriodEnd)
            return null;
        try
        {
            var preview = await new S.InvoiceService(Client).CreatePreviewAsync(new S.InvoiceCreatePreviewOptions { Subscription = subscription.ExternalId }, cancellationToken: ct);
            var at = preview.NextPaymentAttempt ?? preview.PeriodEnd;
            return new InvoiceEstimate(preview.AmountDue, preview.Currency.ToUpperInvariant(), new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)));
        }
        catch (S.StripeException e) when (e.StripeError?.Code == "invoice_upcoming_none")
        {
            return null;
        }
        catch (Exception e) when (IsStripeFailure(e, ct))
        {
            throw StripeApi.Wrap(e, "previewing the next invoice");
        }
    }

    static bool IsStripeFailure(Exception e, CancellationToken ct) =>
        e is S.StripeException or HttpRequestException or IOException || (e is TaskCanceledException && !ct.IsCancellationRequested);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The tax id of organisation {OrgId} was not sent to Stripe: no Stripe tax id type is known for the country {Country}")]
    partial void LogTaxIdSkipped(Guid orgId, string country);

    [LoggerMessage(Level = LogLevel.Information, Message = "The Stripe subscription {SubscriptionId} is already gone")]
    partial void LogAlreadyGone(string subscriptionId);
}
