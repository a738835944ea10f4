using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Jobs;

namespace AiHub.Billing.Lifecycle;

/// <summary>The subscription lifecycle: notices, the grace and checkout sweeps, and the nightly reconciliation.</summary>
internal static class LifecycleBilling
{
    public static void Add(IServiceCollection services)
    {
        services.AddScoped<BillingNotices>();
        services.AddScoped<GraceSweep>();
        services.AddScoped<CheckoutSweep>();
        services.AddScoped<Reconciliation>();
        services.AddSingleton<IHostCommand, ReconcileCommand>();
        services.AddRecurringJob<GraceSweep>(GraceSweep.JobId, sweep => sweep.RunAsync(CancellationToken.None), GraceSweep.Cron);
        services.AddRecurringJob<CheckoutSweep>(CheckoutSweep.JobId, sweep => sweep.RunAsync(CancellationToken.None), CheckoutSweep.Cron);
        services.AddRecurringJob<Reconciliation>(Reconciliation.JobId, job => job.NightlyAsync(CancellationToken.None), Reconciliation.Cron);
    }
}
