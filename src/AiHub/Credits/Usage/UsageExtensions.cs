using Hangfire;

namespace AiHub.Credits.Usage;

internal static class UsageExtensions
{
    public static void AddUsageServices(IServiceCollection services)
    {
        services.AddScoped<PriceCatalog>();
        services.AddScoped<UsageMeter>();
        services.AddScoped<UsageAggregator>();
        services.AddScoped<UsageQueries>();
        services.AddHostedService<UsageAggregationSchedule>();
    }
}

/// <summary>Every hour, a few minutes past, the hours that ended are rolled up; late records for older hours with them.</summary>
internal sealed class UsageAggregationSchedule(IRecurringJobManager recurring) : IHostedService
{
    public const string JobId = "usage-hourly-aggregation";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        recurring.AddOrUpdate<UsageAggregator>(JobId, aggregator => aggregator.AggregateAsync(CancellationToken.None), Cron.Hourly(5));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
