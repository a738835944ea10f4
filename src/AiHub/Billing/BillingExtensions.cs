using AiHub.Billing.Checkout;
using AiHub.Billing.Eway;
using AiHub.Billing.Invoices;
using AiHub.Billing.Lifecycle;
using AiHub.Billing.Payments;
using AiHub.Billing.Stripe;
using AiHub.Billing.Subscriptions;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Billing;

public static class BillingExtensions
{
    /// <summary>Payments through Stripe or eWAY: plan subscriptions, credit packages, invoices, exactly-once webhooks, reconciliation.</summary>
    public static IHostApplicationBuilder AddBilling(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<BillingSettings>(BillingSettings.Section);
        services.AddScoped<PaymentGateways>();
        services.AddScoped<PaymentRecorder>();
        services.AddScoped<SubscriptionSync>();
        services.AddScoped<InvoiceIssuer>();
        services.AddScoped<Checkouts>();
        BillingEndpoints.Add(services);
        InvoiceBilling.Add(services);
        StripeBillingExtensions.Add(services);
        EwayBilling.Add(services);
        LifecycleBilling.Add(services);
        return builder;
    }

    public static IEndpointRouteBuilder MapBillingEndpoints(this IEndpointRouteBuilder app)
    {
        BillingEndpoints.Map(app);
        InvoiceBillingEndpoints.Map(app);
        StripeBillingExtensions.Map(app);
        return app;
    }
}
