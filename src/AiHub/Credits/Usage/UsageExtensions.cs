using AiHub.Infrastructure.Jobs;
using Hangfire;

namespace AiHub.Credits.Usage;

internal static class UsageExtensions
{
    public const string AggregationJobId = "usage-hourly-aggregation";

    public static void AddUsageServices(IServiceCollection services)
    {
        // Empty unless a feature that knows the deployment's providers (Chat) fills it from their settings.
        services.AddOptions<SettingsPrices>();
        services.AddScoped<PriceCatalog>();
        services.AddScoped<UsageMeter>();
        services.AddScoped<UsageAggregator>();
        services.AddScoped<UsageQueries>();
        // Every hour, a few minutes past, the hours that ended are rolled up; late records for older hours with them.
        services.AddRecurringJob<UsageAggregator>(AggregationJobId, aggregator => aggregator.AggregateAsync(CancellationToken.None), Cron.Hourly(5));
    }
}
