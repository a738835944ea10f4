using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.RateLimiting;

namespace AiHub.Organizations.ApiKeys;

/// <summary>
/// A key's tokens a minute, counted in fixed one-minute windows (in Redis when configured, so every node counts
/// together): a call is refused once the window's tokens reached the limit, and each call adds what it used.
/// </summary>
/// <remarks>
/// A call's tokens are only known after it, so one call may take the window past its limit; the calls after it wait
/// for the next window. Counting before the call would need a worst-case guess that refuses calls the limit allows.
/// </remarks>
internal sealed class KeyTokenLimits(RateCounter rates)
{
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    /// <summary>A 429 with Retry-After when the key already used its tokens of this minute; nothing when it has no limit.</summary>
    public async Task CheckAsync(ApiKeyIdentity key, CancellationToken ct)
    {
        if (key.TokensPerMinute is not { } limit)
            return;
        // Over limit - 1 is "at least limit": a window that reached the limit exactly is spent.
        if (await rates.PeekAsync(CounterOf(key.Id), limit - 1L, ct) is { } wait)
            throw new ProblemException(StatusCodes.Status429TooManyRequests, "Too many tokens.",
                $"This API key may use {limit:N0} tokens a minute and has used them; try again in {Math.Ceiling(wait.TotalSeconds)} seconds.",
                ProblemTypes.RateLimited) { RetryAfter = wait };
    }

    /// <summary>Counts a call's tokens (input and output) against the key's current minute; nothing when it has no limit.</summary>
    public async Task AddAsync(ApiKeyIdentity key, long tokens, CancellationToken ct)
    {
        if (key.TokensPerMinute is null || tokens <= 0)
            return;
        await rates.AddAsync(CounterOf(key.Id), tokens, Window, ct);
    }

    static string CounterOf(Guid keyId) => $"api-key-tokens:{keyId:N}";
}
