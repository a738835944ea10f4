using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.RateLimiting;
using AiHub.Infrastructure.Redis;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations.ApiKeys;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace AiHub.IntegrationTests.Gateway;

/// <summary>
/// A key's tokens a minute: refused once the minute's tokens reached the limit, counted in process when embedded
/// and in Redis when configured, where every node counts into the same window.
/// </summary>
public sealed class KeyTokenLimitTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>No Redis configured: the embedded default.</summary>
    static RedisConnection Embedded() => new(Options.Create(new RedisSettings()));

    static ApiKeyIdentity Key(int? tokensPerMinute) => new(Guid.NewGuid(), Guid.NewGuid(), null, ["chat:use"], Guid.NewGuid(), tokensPerMinute);

    [Fact]
    public async Task In_process_a_key_is_refused_once_its_minute_holds_its_limit_and_let_in_again_the_next_minute()
    {
        await using var embedded = Embedded();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var limits = new KeyTokenLimits(new RateCounter(embedded, clock));
        var key = Key(100);

        await limits.CheckAsync(key, Ct);
        await limits.AddAsync(key, 99, Ct);
        await limits.CheckAsync(key, Ct);
        await limits.AddAsync(key, 1, Ct);
        var refused = await Assert.ThrowsAsync<ProblemException>(() => limits.CheckAsync(key, Ct));
        clock.Advance(TimeSpan.FromSeconds(61));
        await limits.CheckAsync(key, Ct);

        Assert.Equal((429, ProblemTypes.RateLimited), (refused.Status, refused.Type));
        Assert.InRange(refused.RetryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        Assert.Contains("100 tokens a minute", refused.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_without_a_token_limit_is_never_counted_or_refused()
    {
        await using var embedded = Embedded();
        var counter = new RateCounter(embedded, TimeProvider.System);
        var limits = new KeyTokenLimits(counter);
        var key = Key(null);

        await limits.AddAsync(key, 1_000_000_000, Ct);
        await limits.CheckAsync(key, Ct);

        Assert.Null(await counter.PeekAsync($"api-key-tokens:{key.Id:N}", 0, Ct));
    }

    [Fact]
    public async Task With_Redis_every_node_counts_into_one_window_that_expires_with_the_minute()
    {
        var redis = new Dictionary<string, string?> { ["Redis:ConnectionString"] = TestEnvironment.Redis };
        await using var host = await IdentityHost.StartAsync("Sqlite", redis);
        var connection = host.App.Services.GetRequiredService<RedisConnection>();
        // Two counters over one Redis are two nodes: neither remembers anything in process.
        var one = new KeyTokenLimits(new RateCounter(connection, TimeProvider.System));
        var two = host.App.Services.GetRequiredService<KeyTokenLimits>();
        var key = Key(100);

        await one.AddAsync(key, 60, Ct);
        await two.CheckAsync(key, Ct);
        await two.AddAsync(key, 40, Ct);
        var refused = await Assert.ThrowsAsync<ProblemException>(() => one.CheckAsync(key, Ct));
        var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(TestEnvironment.Redis);
        var stored = await multiplexer.GetDatabase().StringGetAsync($"aihub:rate:api-key-tokens:{key.Id:N}");
        var ttl = await multiplexer.GetDatabase().KeyTimeToLiveAsync($"aihub:rate:api-key-tokens:{key.Id:N}");
        await multiplexer.DisposeAsync();

        Assert.True(connection.Enabled);
        Assert.Equal(429, refused.Status);
        Assert.Equal(100, (long)stored);
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
        Assert.InRange(refused.RetryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1));
    }
}
