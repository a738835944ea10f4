using System.Collections.Concurrent;
using AiHub.Chat.Engine;

namespace AiHub.Gateway.Calls;

/// <summary>
/// The router's answer for (org, model), kept on this node for a few seconds: routing reads the org's providers and
/// plan from the database, which a gateway cannot afford on every call.
/// </summary>
/// <remarks>
/// A refusal (unknown model, model not allowed) is kept as long as an answer, so a client repeating a bad request does
/// not reach the database either. A change to an org's providers or plan is seen within <see cref="Lifetime"/>.
/// </remarks>
internal sealed class RouteCache(IServiceScopeFactory scopes, TimeProvider clock)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(5);

    const int MaxEntries = 50_000;

    readonly ConcurrentDictionary<(Guid Org, string Model), Entry> _entries = new();

    sealed record Entry(Task<IReadOnlyList<ModelTarget>> Targets, long Expires);

    public Task<IReadOnlyList<ModelTarget>> RouteAsync(Guid orgId, string model, CancellationToken ct)
    {
        var now = clock.GetTimestamp();
        var key = (orgId, model);
        if (_entries.TryGetValue(key, out var entry) && entry.Expires > now && Keeps(entry.Targets))
            return entry.Targets.WaitAsync(ct);
        var fresh = new Entry(LoadAsync(orgId, model), now + (long)(Lifetime.TotalSeconds * clock.TimestampFrequency));
        // Concurrent misses may each load once; the last one wins, which is as fresh as any.
        _entries[key] = fresh;
        if (_entries.Count > MaxEntries)
            foreach (var stale in _entries.Where(p => p.Value.Expires <= now).Select(p => p.Key).ToList())
                _entries.TryRemove(stale, out _);
        return fresh.Targets.WaitAsync(ct);
    }

    /// <summary>An answer or a refusal is kept; a failure of the database is not, so the next call tries again.</summary>
    static bool Keeps(Task<IReadOnlyList<ModelTarget>> targets) =>
        !targets.IsCanceled && !(targets.IsFaulted && targets.Exception?.InnerException is not Infrastructure.Errors.ProblemException);

    /// <summary>Loads without the caller's token: the answer is shared, so one caller leaving must not cancel it for the others.</summary>
    async Task<IReadOnlyList<ModelTarget>> LoadAsync(Guid orgId, string model)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IModelRouter>().RouteAsync(orgId, model, CancellationToken.None);
    }
}
