using AiHub.Infrastructure.Jobs;
using Microsoft.Extensions.Http.Resilience;

namespace AiHub.Billing.Eway;

/// <summary>The eWAY gateway, its renewal job and its sweep of checkouts whose customer never came back.</summary>
internal static class EwayBilling
{
    public static void Add(IServiceCollection services)
    {
        services.AddHttpClient<EwayClient>(EwayClient.HttpClientName)
            .AddStandardResilienceHandler(options =>
            {
                // A repeated POST could charge a card twice: only reads are retried; a lost charge is looked up by its reference.
                options.Retry.DisableForUnsafeHttpMethods();
            });
        services.AddScoped<EwayGateway>();
        services.AddScoped<IPaymentGateway>(sp => sp.GetRequiredService<EwayGateway>());
        services.AddScoped<EwayRenewals>();
        services.AddRecurringJob<EwayRenewals>(EwayRenewals.JobId, renewals => renewals.RunAsync(CancellationToken.None), "*/10 * * * *");
    }
}
