using System.Globalization;
using AiHub.Data;
using AiHub.Infrastructure.Hosting;

namespace AiHub.Billing.Lifecycle;

/// <summary><c>billing reconcile [--days N]</c>: the nightly reconciliation now; exits 1 when a difference needs a person.</summary>
internal sealed class ReconcileCommand : IHostCommand
{
    public string Name => "billing";

    public string Usage => "billing reconcile [--days N]";

    public async Task<int> RunAsync(WebApplication app, IReadOnlyList<string> args)
    {
        if (!args.Contains("reconcile", StringComparer.OrdinalIgnoreCase))
            throw new HostCommandUsageException("billing needs a subcommand: billing reconcile [--days N]");
        int? days = null;
        var at = args.ToList().FindIndex(a => string.Equals(a, "--days", StringComparison.OrdinalIgnoreCase));
        if (at >= 0)
        {
            if (at + 1 >= args.Count || !int.TryParse(args[at + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var d) || d is < 1 or > 365)
                throw new HostCommandUsageException("--days takes a whole number of days from 1 to 365");
            days = d;
        }
        await app.Services.GetRequiredService<DatabaseMigrator>().EnsureReadyAsync(CancellationToken.None);
        await using var scope = app.Services.CreateAsyncScope();
        var runs = await scope.ServiceProvider.GetRequiredService<Reconciliation>().RunAsync(days, CancellationToken.None);
        foreach (var run in runs)
            await Console.Out.WriteLineAsync($"aihub: {run.Gateway}: {run.Checked} payment(s) checked, {run.Repaired} missed one(s) recorded, {run.Differences} difference(s) (run {run.Id})");
        if (runs.Count == 0)
            await Console.Out.WriteLineAsync("aihub: no payment gateway to reconcile");
        return runs.Any(r => r.Differences > 0) ? 1 : 0;
    }
}
