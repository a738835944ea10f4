using AiHub.Data;
using AiHub.Infrastructure.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Blobs;

internal static class BlobsExtensions
{
    /// <summary>The blob store the <c>Blobs</c> settings choose, made when first used (after the settings were validated).</summary>
    public static IServiceCollection AddBlobs(this IServiceCollection services)
    {
        services.AddSettings<BlobSettings>(BlobSettings.Section);
        services.AddSingleton<IBlobStore>(sp =>
        {
            var settings = sp.GetRequiredService<IOptions<BlobSettings>>().Value;
            if (settings.Provider == BlobProvider.S3)
                return new S3BlobStore(settings.S3, sp.GetRequiredService<TimeProvider>());
            var root = DiskBlobStore.ResolveRoot(settings, sp.GetRequiredService<IOptions<DatabaseSettings>>().Value,
                sp.GetRequiredService<IHostEnvironment>().ContentRootPath);
            return new DiskBlobStore(root);
        });
        services.AddHealthChecks().AddCheck<BlobStoreHealthCheck>("blobs", tags: [Health.HealthExtensions.Ready], timeout: TimeSpan.FromSeconds(5));
        return services;
    }
}

/// <summary>Disk: the folder can be written. S3: the bucket answers a one-key listing with these credentials.</summary>
internal sealed class BlobStoreHealthCheck(IBlobStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            switch (store)
            {
                case S3BlobStore s3:
                    await s3.BucketAnswersAsync(ct);
                    return HealthCheckResult.Healthy("S3 bucket answers");
                case DiskBlobStore disk:
                    await disk.ProbeAsync(ct);
                    return HealthCheckResult.Healthy("disk");
                default:
                    return HealthCheckResult.Healthy();
            }
        }
        catch (Exception e) when (e is Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException or HttpRequestException or IOException or UnauthorizedAccessException)
        {
            return HealthCheckResult.Unhealthy("The blob store does not answer: " + e.GetType().Name);
        }
    }
}
