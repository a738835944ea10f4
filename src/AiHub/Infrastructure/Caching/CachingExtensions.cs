using AiHub.Infrastructure.Redis;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Caching;

internal static class CachingExtensions
{
    /// <summary>
    /// The distributed cache is Redis when it is configured (shared by every node) and process memory when embedded;
    /// HybridCache layers a short-lived local copy over it.
    /// </summary>
    public static IServiceCollection AddCaching(this IServiceCollection services)
    {
        services.AddMemoryCache();
        services.AddSingleton<IDistributedCache>(sp =>
        {
            var redis = sp.GetRequiredService<RedisConnection>();
            if (!redis.Enabled)
                return new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
            return new RedisCache(Options.Create(new RedisCacheOptions
            {
                InstanceName = "aihub:",
                ConnectionMultiplexerFactory = async () => await redis.GetAsync(CancellationToken.None),
            }));
        });
        services.AddHybridCache(options => options.DefaultEntryOptions = new()
        {
            Expiration = TimeSpan.FromMinutes(10),
            // Other nodes may keep a local copy this long after an invalidation; Redis holds the truth.
            LocalCacheExpiration = TimeSpan.FromSeconds(30),
        });
        return services;
    }
}
