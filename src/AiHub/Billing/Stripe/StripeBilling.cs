using Microsoft.Extensions.Http.Resilience;

namespace AiHub.Billing.Stripe;

/// <summary>Stripe's gateway, its webhook and the handlers of its events.</summary>
internal static class StripeBilling
{
    public static void Add(IServiceCollection services)
    {
        services.AddSingleton<StripeApi>();
        services.AddSingleton<StripePrices>();
        services.AddScoped<StripeGateway>();
        services.AddScoped<IPaymentGateway>(sp => sp.GetRequiredService<StripeGateway>());
        services.AddScoped<StripeOwners>();
        services.AddScoped<IStripeEventHandler, StripeCheckoutEvents>();
        services.AddScoped<IStripeEventHandler, StripeInvoiceEvents>();
        services.AddScoped<IStripeEventHandler, StripeSubscriptionEvents>();
        services.AddScoped<IStripeEventHandler, StripeChargeEvents>();
        services.AddScoped<AiHub.Infrastructure.Jobs.IWorkHandler, StripeEventWork>();
        services.AddHttpClient(StripeApi.HttpClientName, http => http.Timeout = Timeout.InfiniteTimeSpan)
            .AddStandardResilienceHandler(o =>
            {
                // Stripe.net retries POSTs itself with the same Idempotency-Key; a second layer would multiply the attempts.
                o.Retry.DisableForUnsafeHttpMethods();
                o.Retry.MaxRetryAttempts = 1;
                o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(30);
                o.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(80);
                o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(60);
            });
    }

    public static void Map(IEndpointRouteBuilder app) => StripeWebhookEndpoints.Map(app);
}
