using AiHub.Data;
using AiHub.Infrastructure.Hosting;

namespace AiHub.Credits;

/// <summary><c>ledger verify</c>: exits 1 and names every account whose balance is not the sum of its entries.</summary>
internal sealed class LedgerVerifyCommand : IHostCommand
{
    public string Name => "ledger";

    public string Usage => "ledger verify";

    public async Task<int> RunAsync(WebApplication app, IReadOnlyList<string> args)
    {
        if (!args.Contains("verify", StringComparer.OrdinalIgnoreCase))
            throw new HostCommandUsageException("ledger needs a subcommand: ledger verify");
        await app.Services.GetRequiredService<DatabaseMigrator>().EnsureReadyAsync(CancellationToken.None);
        await using var scope = app.Services.CreateAsyncScope();
        var broken = await scope.ServiceProvider.GetRequiredService<Ledger>().VerifyAsync(CancellationToken.None);
        foreach (var (account, balance, entries, reserved, reservedEntries) in broken)
            await Console.Error.WriteLineAsync($"aihub: account {account}: balance {balance} but entries sum to {entries}; reserved {reserved} but entries hold {reservedEntries}");
        await Console.Out.WriteLineAsync(broken.Count == 0 ? "aihub: the ledger balances" : $"aihub: {broken.Count} account(s) do not balance");
        return broken.Count == 0 ? 0 : 1;
    }
}
