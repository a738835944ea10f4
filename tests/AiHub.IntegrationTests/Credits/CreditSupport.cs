using AiHub.Credits;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Credits;

/// <summary>What an account already holds before a test moves credits: a new user starts with the free plan's sign-up grant.</summary>
internal static class CreditSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The stored balance in micro-credits, 0 while the account is not opened.</summary>
    public static async Task<long> BalanceMicrosAsync(this IdentityHost host, Guid accountId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditAccount>().AsNoTracking()
            .Where(a => a.Id == accountId).Select(a => a.Balance).FirstOrDefaultAsync(Ct);
    }

    /// <summary>How many ledger entries the account has, the sign-up grant's included.</summary>
    public static async Task<int> EntryCountAsync(this IdentityHost host, Guid accountId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditEntry>().CountAsync(e => e.AccountId == accountId, Ct);
    }
}
