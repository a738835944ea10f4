using System.Collections.Concurrent;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Redis;
using StackExchange.Redis;

namespace AiHub.Infrastructure.RateLimiting;

/// <summary>Fixed-window counters: in process when embedded, in Redis when configured so that every node counts together.</summary>
internal sealed class RateCounter(RedisConnection redis, TimeProvider clock)
{
    readonly ConcurrentDictionary<string, Window> _local = new();

    sealed record Window(DateTimeOffset Ends, int Count);

    /// <summary>Counts one attempt under <paramref name="key"/>; returns how long to wait when it is over <paramref name="limit"/>.</summary>
    public async Task<TimeSpan?> HitAsync(string key, int limit, TimeSpan window, CancellationToken ct)
    {
        var (count, remaining) = redis.Enabled ? await HitRedisAsync(key, window, ct) : HitLocal(key, window);
        return count > limit ? (remaining > TimeSpan.Zero ? remaining : TimeSpan.FromSeconds(1)) : null;
    }

    /// <summary>Throws a 429 ProblemDetails with Retry-After when the attempt is over the limit.</summary>
    public async Task EnforceAsync(string key, int limit, TimeSpan window, CancellationToken ct)
    {
        if (await HitAsync(key, limit, window, ct) is { } wait)
            throw TooManyAttempts.After(wait);
    }

    /// <summary>How long <paramref name="key"/> stays over <paramref name="limit"/>, without counting an attempt.</summary>
    public async Task<TimeSpan?> PeekAsync(string key, int limit, CancellationToken ct)
    {
        var (count, remaining) = redis.Enabled ? await PeekRedisAsync(key, ct) : PeekLocal(key);
        return count > limit ? (remaining > TimeSpan.Zero ? remaining : TimeSpan.FromSeconds(1)) : null;
    }

    /// <summary>Starts <paramref name="key"/> over, as if nothing had been counted.</summary>
    public async Task ForgetAsync(string key, CancellationToken ct)
    {
        if (!redis.Enabled)
        {
            _local.TryRemove(key, out _);
            return;
        }
        var connection = await redis.GetAsync(ct);
        await connection.GetDatabase().KeyDeleteAsync(RedisKeyOf(key));
    }

    (int, TimeSpan) PeekLocal(string key)
    {
        var now = clock.GetUtcNow();
        return _local.TryGetValue(key, out var current) && current.Ends > now ? (current.Count, current.Ends - now) : (0, TimeSpan.Zero);
    }

    async Task<(int, TimeSpan)> PeekRedisAsync(string key, CancellationToken ct)
    {
        var connection = await redis.GetAsync(ct);
        var database = connection.GetDatabase();
        var redisKey = RedisKeyOf(key);
        var count = await database.StringGetAsync(redisKey);
        var ttl = await database.KeyTimeToLiveAsync(redisKey);
        return (count.TryParse(out int value) ? value : 0, ttl ?? TimeSpan.Zero);
    }

    (int, TimeSpan) HitLocal(string key, TimeSpan window)
    {
        var now = clock.GetUtcNow();
        var updated = _local.AddOrUpdate(key,
            _ => new Window(now + window, 1),
            (_, current) => current.Ends <= now ? new Window(now + window, 1) : current with { Count = current.Count + 1 });
        if (_local.Count > 100_000)
            foreach (var stale in _local.Where(p => p.Value.Ends <= now).Select(p => p.Key).ToList())
                _local.TryRemove(stale, out _);
        return (updated.Count, updated.Ends - now);
    }

    const string HitScript = """
        local count = redis.call('INCR', KEYS[1])
        if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return { count, redis.call('PTTL', KEYS[1]) }
        """;

    static RedisKey RedisKeyOf(string key) => "aihub:rate:" + key;

    async Task<(int, TimeSpan)> HitRedisAsync(string key, TimeSpan window, CancellationToken ct)
    {
        var connection = await redis.GetAsync(ct);
        var result = (RedisResult[])(await connection.GetDatabase().ScriptEvaluateAsync(HitScript, [RedisKeyOf(key)], [(long)window.TotalMilliseconds]))!;
        return ((int)result[0], TimeSpan.FromMilliseconds(Math.Max(0, (long)result[1])));
    }
}

internal static class TooManyAttempts
{
    public static ProblemException After(TimeSpan wait) => new(
        StatusCodes.Status429TooManyRequests,
        "Too many attempts.",
        $"Try again in {Math.Ceiling(wait.TotalSeconds)} seconds.",
        ProblemTypes.RateLimited) { RetryAfter = wait };
}
