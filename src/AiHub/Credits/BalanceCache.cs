using System.Text.Json;
using Microsoft.Extensions.Caching.Distributed;

namespace AiHub.Credits;

/// <summary>
/// Balances as last read, shared by every node through the distributed cache (Redis in a cluster, memory when
/// embedded). The ledger forgets an account after each committed change, so the next read goes to the database.
/// </summary>
/// <remarks>
/// IDistributedCache and not HybridCache: HybridCache's node-local copy would survive an invalidation made on another
/// node and show a balance that was already spent.
/// </remarks>
internal sealed class BalanceCache(IDistributedCache cache)
{
    // Bounds how long a read that raced a change (read before the commit, stored after the removal) can stay stale.
    static readonly DistributedCacheEntryOptions Lifetime = new() { AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(30) };

    public async Task<CreditAccount> GetAsync(Guid accountId, Func<CancellationToken, Task<CreditAccount>> load, CancellationToken ct)
    {
        var key = Key(accountId);
        if (await cache.GetAsync(key, ct) is { } cached && JsonSerializer.Deserialize<CreditAccount>(cached, JsonSerializerOptions.Web) is { } account)
            return account;
        account = await load(ct);
        await cache.SetAsync(key, JsonSerializer.SerializeToUtf8Bytes(account, JsonSerializerOptions.Web), Lifetime, ct);
        return account;
    }

    public async Task ForgetAsync(Guid accountId) => await cache.RemoveAsync(Key(accountId));

    static string Key(Guid accountId) => $"credits:balance:{accountId:N}";
}
