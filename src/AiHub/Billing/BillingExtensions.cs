using AiHub.Billing.Checkout;
using AiHub.Billing.Invoices;
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
        StripeBilling.Add(services);
        return builder;
    }

    public static IEndpointRouteBuilder MapBillingEndpoints(this IEndpointRouteBuilder app)
    {
        BillingEndpoints.Map(app);
        InvoiceBilling.Map(app);
        StripeBilling.Map(app);
        return app;
    }
}
