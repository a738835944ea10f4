using AiHub.Infrastructure.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AiHub.Infrastructure.Redis;

internal static class RedisExtensions
{
    public static IServiceCollection AddRedis(this IServiceCollection services)
    {
        services.AddSettings<RedisSettings>(RedisSettings.Section);
        services.AddSingleton<RedisConnection>();
        return services;
    }
}

/// <summary>One multiplexer per process, opened on first use so that a node starts even while Redis is still coming up.</summary>
internal sealed class RedisConnection(IOptions<RedisSettings> settings) : IAsyncDisposable
{
    readonly SemaphoreSlim _gate = new(1, 1);
    ConnectionMultiplexer? _connection;

    public bool Enabled => settings.Value.Enabled;

    public async Task<IConnectionMultiplexer> GetAsync(CancellationToken ct)
    {
        if (_connection is not null)
            return _connection;
        await _gate.WaitAsync(ct);
        try
        {
            if (_connection is null)
            {
                var options = ConfigurationOptions.Parse(settings.Value.ConnectionString!);
                options.AbortOnConnectFail = false;
                _connection = await ConnectionMultiplexer.ConnectAsync(options);
            }
            return _connection;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
            await _connection.DisposeAsync();
        _gate.Dispose();
    }
}

internal sealed class RedisHealthCheck(RedisConnection redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (!redis.Enabled)
            return HealthCheckResult.Healthy("not configured (embedded)");
        try
        {
            var connection = await redis.GetAsync(ct);
            var latency = await connection.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"ping {latency.TotalMilliseconds:0.#} ms");
        }
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            return HealthCheckResult.Unhealthy("Redis does not answer: " + e.GetType().Name);
        }
    }
}
