using System.Collections.Concurrent;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Redis;
using StackExchange.Redis;

namespace AiHub.Infrastructure.RateLimiting;

/// <summary>Fixed-window counters: in process when embedded, in Redis when configured so that every node counts together.</summary>
internal sealed class RateCounter(RedisConnection redis, TimeProvider clock)
{
    readonly ConcurrentDictionary<string, Window> _local = new();

    sealed record Window(DateTimeOffset Ends, long Count);

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

    /// <summary>
    /// Adds <paramref name="amount"/> (tokens, bytes) to <paramref name="key"/>'s current window, which starts with the
    /// first amount and lasts <paramref name="window"/>; returns the window's total so far.
    /// </summary>
    public async Task<long> AddAsync(string key, long amount, TimeSpan window, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amount);
        if (amount == 0)
            return 0;
        return redis.Enabled ? (await AddRedisAsync(key, amount, window, ct)).Item1 : AddLocal(key, amount, window).Item1;
    }

    /// <summary>How long <paramref name="key"/> stays over <paramref name="limit"/>, without counting an attempt.</summary>
    public async Task<TimeSpan?> PeekAsync(string key, long limit, CancellationToken ct)
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

    (long, TimeSpan) PeekLocal(string key)
    {
        var now = clock.GetUtcNow();
        return _local.TryGetValue(key, out var current) && current.Ends > now ? (current.Count, current.Ends - now) : (0, TimeSpan.Zero);
    }

    async Task<(long, TimeSpan)> PeekRedisAsync(string key, CancellationToken ct)
    {
        var connection = await redis.GetAsync(ct);
        var database = connection.GetDatabase();
        var redisKey = RedisKeyOf(key);
        var count = await database.StringGetAsync(redisKey);
        var ttl = await database.KeyTimeToLiveAsync(redisKey);
        return (count.TryParse(out long value) ? value : 0, ttl ?? TimeSpan.Zero);
    }

    (long, TimeSpan) HitLocal(string key, TimeSpan window) => AddLocal(key, 1, window);

    (long, TimeSpan) AddLocal(string key, long amount, TimeSpan window)
    {
        var now = clock.GetUtcNow();
        var updated = _local.AddOrUpdate(key,
            _ => new Window(now + window, amount),
            (_, current) => current.Ends <= now ? new Window(now + window, amount) : current with { Count = current.Count + amount });
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

    // The window starts with the first amount: a key without an expiry is one this script just made.
    const string AddScript = """
        local count = redis.call('INCRBY', KEYS[1], ARGV[2])
        if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return { count, redis.call('PTTL', KEYS[1]) }
        """;

    static RedisKey RedisKeyOf(string key) => "aihub:rate:" + key;

    async Task<(long, TimeSpan)> HitRedisAsync(string key, TimeSpan window, CancellationToken ct)
    {
        var connection = await redis.GetAsync(ct);
        var result = (RedisResult[])(await connection.GetDatabase().ScriptEvaluateAsync(HitScript, [RedisKeyOf(key)], [(long)window.TotalMilliseconds]))!;
        return ((long)result[0], TimeSpan.FromMilliseconds(Math.Max(0, (long)result[1])));
    }

    async Task<(long, TimeSpan)> AddRedisAsync(string key, long amount, TimeSpan window, CancellationToken ct)
    {
        var connection = await redis.GetAsync(ct);
        var result = (RedisResult[])(await connection.GetDatabase().ScriptEvaluateAsync(AddScript, [RedisKeyOf(key)], [(long)window.TotalMilliseconds, amount]))!;
        return ((long)result[0], TimeSpan.FromMilliseconds(Math.Max(0, (long)result[1])));
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
