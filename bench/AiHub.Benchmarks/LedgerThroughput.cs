using System.Diagnostics;
using AiHub.Credits;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace AiHub.Benchmarks;

/// <summary>
/// Reserve+settle pairs per second through the real <see cref="Ledger"/> on PostgreSQL (an AI call's hold and settlement on one account):
/// concurrent spenders on one hot account and spread over many accounts.
/// </summary>
/// <remarks>A throughput run, not a BenchmarkDotNet micro-benchmark: the figure is completed pairs over wall time.</remarks>
public static class LedgerThroughput
{
    const long Cost = 1_000;

    public static async Task<int> RunAsync(string[] args)
    {
        var connection = Option(args, "--connection") ?? Environment.GetEnvironmentVariable("AIHUB_BENCH_POSTGRES");
        if (Option(args, "--database") == "sqlite" && Option(args, "--path") is "gate" or "lease")
            return await GateThroughput.RunAsync(null, args, lease: Option(args, "--path") == "lease");
        if (connection is null)
        {
            Console.Error.WriteLine("usage: ledger --connection <PostgreSQL connection string> [--path writer|gate|lease] [--database postgres|sqlite] [--spenders 1,16,200] [--accounts 1,1000] [--seconds 10] [--variants plain,capped]");
            return 64;
        }
        switch (Option(args, "--path") ?? "writer")
        {
            case "gate" or "lease":
                return await GateThroughput.RunAsync(connection, args, lease: Option(args, "--path") == "lease");
            case not "writer":
                Console.Error.WriteLine("--path is writer (the ledger's reserve and settle), gate (a chat call's hold and settle) " +
                    "or lease (a gateway call's hold and settle on a credit lease, with its usage record)");
                return 64;
        }
        var spenders = Ints(Option(args, "--spenders") ?? "1,16,200");
        var accounts = Ints(Option(args, "--accounts") ?? "1,1000");
        var seconds = int.Parse(Option(args, "--seconds") ?? "10", System.Globalization.CultureInfo.InvariantCulture);

        var database = "aihub_bench_" + Guid.NewGuid().ToString("N")[..8];
        await ExecuteAsync(connection, $"CREATE DATABASE \"{database}\"");
        try
        {
            await using var services = Services(new NpgsqlConnectionStringBuilder(connection) { Database = database, MaxPoolSize = 100 }.ConnectionString);
            // The node's batch writer runs as a hosted service in the app; here nothing else is started.
            await services.GetRequiredService<LedgerWriter>().StartAsync(CancellationToken.None);
            await using (var scope = services.CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.MigrateAsync();
            var ids = await OpenAccountsAsync(services, accounts.Max());

            Console.WriteLine($"| spenders | accounts | writes | pairs/s | median pair | p99 pair |");
            Console.WriteLine($"| ---: | ---: | --- | ---: | ---: | ---: |");
            foreach (var accountCount in accounts)
            foreach (var spenderCount in spenders)
            foreach (var grouped in new[] { false, true })
            {
                await SpendAsync(services, grouped, ids[..accountCount], spenderCount, TimeSpan.FromSeconds(2));
                var (pairs, latencies, elapsed) = await SpendAsync(services, grouped, ids[..accountCount], spenderCount, TimeSpan.FromSeconds(seconds));
                latencies.Sort();
                Console.WriteLine($"| {spenderCount} | {accountCount:N0} | {(grouped ? "group commit" : "one transaction each")} | {pairs / elapsed.TotalSeconds:N0} | {Ms(latencies, 0.5)} | {Ms(latencies, 0.99)} |");
            }

            await using var verifier = services.CreateAsyncScope();
            var broken = await verifier.ServiceProvider.GetRequiredService<Ledger>().VerifyAsync(CancellationToken.None);
            Console.WriteLine(broken.Count == 0 ? "ledger verify: every balance equals the sum of its entries" : $"ledger verify: {broken.Count} accounts differ");
            return broken.Count == 0 ? 0 : 1;
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await ExecuteAsync(connection, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
        }
    }

    static async Task<(long Pairs, List<double> Latencies, TimeSpan Elapsed)> SpendAsync(
        ServiceProvider services, bool grouped, Guid[] accounts, int spenders, TimeSpan duration)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, spenders).Select(worker => Task.Run(async () =>
        {
            var latencies = new List<double>();
            var random = new Random(worker);
            for (var i = 0; clock.Elapsed < duration; i++)
            {
                var started = Stopwatch.GetTimestamp();
                // One scope per call, as one per request in the app.
                await using (var scope = services.CreateAsyncScope())
                {
                    var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
                    var ledger = new Ledger(db, TimeProvider.System, grouped ? services.GetRequiredService<LedgerWriter>() : null);
                    var account = accounts[random.Next(accounts.Length)];
                    var hold = await ledger.HoldAsync(new HoldRequest($"{run}-{worker}-{i}", 4 * Cost, "bench", null, null, null, null,
                        new AccountLeg(account, available => Ledger.Short(4 * Cost, available)), null, null, null), CancellationToken.None);
                    await ledger.PostHoldAsync(null, hold.Id, Cost, CancellationToken.None);
                }
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            return latencies;
        })).ToList();
        var all = (await Task.WhenAll(workers)).SelectMany(l => l).ToList();
        return (all.Count, all, clock.Elapsed);
    }

    static async Task<Guid[]> OpenAccountsAsync(ServiceProvider services, int count)
    {
        var ids = Enumerable.Range(0, count).Select(_ => Guid.CreateVersion7()).ToArray();
        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            // Ownerless accounts: the bench measures the ledger, not users or orgs.
            db.AddRange(ids.Select(id => new CreditAccount { Id = id, Owner = CreditOwner.User, CreatedAt = DateTimeOffset.UtcNow }));
            await db.SaveChangesAsync();
        }
        foreach (var id in ids)
        {
            await using var scope = services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<Ledger>().PostAsync(id, CreditKind.Grant, 1_000_000_000_000, "bench", null, $"grant-{id:N}", CancellationToken.None);
        }
        return ids;
    }

    /// <summary>The ledger's own part of the app's container: the database, the clock, the writer.</summary>
    static ServiceProvider Services(string connectionString)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddDbContext<PostgresAppDbContext>(options => DataExtensions.ConfigurePostgres(options, connectionString));
        services.AddScoped<AppDbContext>(sp => sp.GetRequiredService<PostgresAppDbContext>());
        services.AddSingleton<LedgerWriter>();
        services.AddScoped<Ledger>();
        return services.BuildServiceProvider();
    }

    internal static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var admin = new NpgsqlConnection(connectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand(sql, admin);
        await command.ExecuteNonQueryAsync();
    }

    internal static string Ms(List<double> sorted, double quantile) =>
        sorted.Count == 0 ? "–" : $"{sorted[(int)Math.Min(sorted.Count - 1, quantile * sorted.Count)]:0.0} ms";

    internal static string? Option(string[] args, string name) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    internal static int[] Ints(string list) => list.Split(',').Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
}
