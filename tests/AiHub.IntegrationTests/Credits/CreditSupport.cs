using AiHub.Credits;
using AiHub.Data;
using AiHub.Identity;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Credits;

/// <summary>Accounts, funds and ledger checks the credit tests set up and read directly in the database.</summary>
internal static class CreditSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A bare user made through the user manager, without sign-up's mail round trip or its free plan's grant.</summary>
    public static async Task<AppUser> NewAppUserAsync(this IServiceProvider services, string who = "user")
    {
        await using var scope = services.CreateAsyncScope();
        var email = IdentityHost.NewEmail(who);
        var user = new AppUser { UserName = email, Email = email, CreatedAt = DateTimeOffset.UtcNow };
        var created = await scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>().CreateAsync(user);
        Assert.True(created.Succeeded, string.Join(" ", created.Errors.Select(e => e.Description)));
        return user;
    }

    /// <summary>Opens the user's account if need be and grants it <paramref name="micros"/>; returns the account's id.</summary>
    public static Task<Guid> FundUserAsync(this IdentityHost host, Guid userId, long micros) =>
        host.FundAsync(CreditOwner.User, userId, null, micros);

    /// <summary>Opens the org's pool if need be and grants it <paramref name="micros"/>; returns the account's id.</summary>
    public static Task<Guid> FundPoolAsync(this IdentityHost host, Guid orgId, long micros) =>
        host.FundAsync(CreditOwner.Organization, null, orgId, micros);

    static async Task<Guid> FundAsync(this IdentityHost host, CreditOwner owner, Guid? userId, Guid? orgId, long micros)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var ledger = scope.ServiceProvider.GetRequiredService<Ledger>();
        var account = await ledger.OpenAsync(owner, userId, orgId, Ct);
        await ledger.PostAsync(account.Id, CreditKind.Grant, micros, "test funds", null, $"{account.Id:N}-funds", Ct);
        return account.Id;
    }

    /// <summary>The account as stored; it must exist.</summary>
    public static async Task<CreditAccount> AccountAsync(this IdentityHost host, Guid accountId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditAccount>().AsNoTracking().FirstAsync(a => a.Id == accountId, Ct);
    }

    /// <summary>The stored balance and reserved amount in micro-credits, both 0 while the account is not opened.</summary>
    public static async Task<(long Balance, long Reserved)> BalanceAsync(this IdentityHost host, Guid accountId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var account = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditAccount>().AsNoTracking()
            .Where(a => a.Id == accountId).Select(a => new { a.Balance, a.Reserved }).FirstOrDefaultAsync(Ct);
        return (account?.Balance ?? 0, account?.Reserved ?? 0);
    }

    /// <summary>The stored balance in micro-credits, 0 while the account is not opened.</summary>
    public static async Task<long> BalanceMicrosAsync(this IdentityHost host, Guid accountId) => (await host.BalanceAsync(accountId)).Balance;

    /// <summary>How many ledger entries the account has (the sign-up grant's included), or only those of the given kinds.</summary>
    public static async Task<int> EntryCountAsync(this IdentityHost host, Guid accountId, params CreditKind[] kinds)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var entries = scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditEntry>().Where(e => e.AccountId == accountId);
        return await (kinds.Length == 0 ? entries : entries.Where(e => kinds.Contains(e.Kind))).CountAsync(Ct);
    }

    /// <summary>The accounts whose balance or reserved amount does not match their entries; empty on a sound ledger.</summary>
    public static async Task<List<(Guid AccountId, long Balance, long Entries, long Reserved, long Held)>> VerifyLedgerAsync(this IdentityHost host)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Ledger>().VerifyAsync(Ct);
    }

    /// <summary>A hold on one account alone (no allocation, budget or quota leg), as the simplest AI call makes.</summary>
    public static Task<LedgerHold> HoldOnAsync(this Ledger ledger, Guid accountId, long amount, string idempotencyKey) =>
        ledger.HoldAsync(new HoldRequest(idempotencyKey, amount, "chat", null, null, null, null,
            new AccountLeg(accountId, available => Ledger.Short(amount, available)), null, null, null), Ct);

    /// <summary>A promo code no other test uses: the stem and 12 random characters, upper case.</summary>
    public static string UniqueCode(string stem) => $"{stem}-{Guid.NewGuid():N}"[..(stem.Length + 13)].ToUpperInvariant();
}
