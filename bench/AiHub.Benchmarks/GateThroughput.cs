using System.Diagnostics;
using AiHub.Admin;
using AiHub.Credits;
using AiHub.Credits.Leases;
using AiHub.Credits.Plans;
using AiHub.Credits.Usage;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Infrastructure.Money;
using AiHub.Identity;
using AiHub.Infrastructure;
using AiHub.Infrastructure.Jobs;
using AiHub.Notifications;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace AiHub.Benchmarks;

/// <summary>
/// Hold+settle pairs per second on the path a chat call pays by (<see cref="ChatMoneyPath"/>): members of orgs (not
/// personal ones) drawing on a funded org pool, on PostgreSQL. Two variants: <c>plain</c> (the pool only) and
/// <c>capped</c> (the member has a capped allocation and calls with an API key that has a monthly budget).
/// </summary>
/// <remarks>
/// "Accounts" is the number of orgs. Org 0 has every spender as a member; every other org has one member, whom all
/// spenders drawing on it share. The app's own container is built (not started, so no background job runs).
/// </remarks>
public static class GateThroughput
{
    const long MaxCost = 4_000;
    const long Cost = 1_000;
    const long PoolFunding = 1_000_000_000_000;
    const decimal AllocationCredits = 100_000;
    const long KeyBudgetCredits = 1_000_000;

    sealed record Member(Guid UserId, Guid? ApiKeyId);

    sealed record Org(Guid Id, Member[] Members);

    /// <param name="connection">PostgreSQL's; null for a SQLite file of its own, removed afterwards.</param>
    /// <param name="lease">Pay as the gateway does (<see cref="LeaseMoneyPath"/>) instead of as chat does.</param>
    public static async Task<int> RunAsync(string? connection, string[] args, bool lease = false)
    {
        var spenders = LedgerThroughput.Ints(LedgerThroughput.Option(args, "--spenders") ?? "1,16,200");
        var accounts = LedgerThroughput.Ints(LedgerThroughput.Option(args, "--accounts") ?? "1,1000");
        var seconds = int.Parse(LedgerThroughput.Option(args, "--seconds") ?? "10", System.Globalization.CultureInfo.InvariantCulture);
        var variants = (LedgerThroughput.Option(args, "--variants") ?? "plain,capped").Split(',');
        if (variants.Except(["plain", "capped"]).Any())
        {
            Console.Error.WriteLine("--variants is plain, capped or both");
            return 64;
        }

        var database = "aihub_bench_" + Guid.NewGuid().ToString("N")[..8];
        var sqliteFile = Path.Combine(Path.GetTempPath(), database + ".db");
        if (connection is not null)
            await LedgerThroughput.ExecuteAsync(connection, $"CREATE DATABASE \"{database}\"");
        try
        {
            await using var app = connection is null
                ? App("Sqlite", $"Data Source={sqliteFile}")
                : App("Postgres", new NpgsqlConnectionStringBuilder(connection) { Database = database, MaxPoolSize = 100 }.ConnectionString);
            var services = app.Services;
            // Through the app's own migrator: on SQLite it also turns on the write-ahead log, as a node does.
            await services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
            // Of the app's hosted services only the money path's writers run: no job would disturb the figures.
            await services.GetRequiredService<LedgerWriter>().StartAsync(CancellationToken.None);
            var leases = services.GetRequiredService<CreditLeases>();
            var usage = services.GetRequiredService<UsageWriter>();
            if (lease)
            {
                await leases.StartAsync(CancellationToken.None);
                await usage.StartAsync(CancellationToken.None);
            }

            var setup = Stopwatch.StartNew();
            var users = await UsersAsync(services, spenders.Max());
            var orgs = new Dictionary<string, Org[]>();
            foreach (var variant in variants)
                orgs[variant] = await OrgsAsync(services, users, accounts.Max(), capped: variant == "capped");
            Console.WriteLine($"set up {users.Length} users and {orgs.Values.Sum(o => o.Length):N0} funded orgs in {setup.Elapsed.TotalSeconds:N0} s");

            IMoneyPath path = lease ? new LeaseMoneyPath(leases, usage) : new ChatMoneyPath(services);
            long paid = 0, failed = 0;
            Console.WriteLine($"{(connection is null ? "SQLite" : "PostgreSQL")}, path {(lease ? "lease" : "gate")}");
            Console.WriteLine("| spenders | orgs | variant | pairs/s | median pair | p99 pair | CPU per pair (this process) | failed pairs |");
            Console.WriteLine("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
            foreach (var orgCount in accounts)
            foreach (var spenderCount in spenders)
            foreach (var variant in variants)
            {
                var warm = await SpendAsync(path, orgs[variant][..orgCount], spenderCount, TimeSpan.FromSeconds(2));
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var run = await SpendAsync(path, orgs[variant][..orgCount], spenderCount, TimeSpan.FromSeconds(seconds));
                cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
                paid += warm.Latencies.Count + run.Latencies.Count;
                failed += warm.Failures.Count + run.Failures.Count;
                run.Latencies.Sort();
                Console.WriteLine($"| {spenderCount} | {orgCount:N0} | {variant} | {run.Latencies.Count / run.Elapsed.TotalSeconds:N0} | " +
                    $"{LedgerThroughput.Ms(run.Latencies, 0.5)} | {LedgerThroughput.Ms(run.Latencies, 0.99)} | " +
                    $"{(run.Latencies.Count == 0 ? "-" : $"{cpu.TotalMicroseconds / run.Latencies.Count:N0} µs")} | {run.Failures.Count} |");
                foreach (var (reason, count) in run.Failures.GroupBy(f => f).Select(g => (g.Key, g.Count())))
                    Console.WriteLine($"  failed: {count} × {reason}");
            }
            if (lease)
            {
                // Stopping closes every lease and drains the usage records, as a node's graceful stop does.
                await leases.StopAsync(CancellationToken.None);
                await usage.StopAsync(CancellationToken.None);
            }
            return await CheckAsync(services, orgs.Values.SelectMany(o => o).ToList(), paid, failed, lease) ? 0 : 1;
        }
        finally
        {
            if (connection is not null)
            {
                NpgsqlConnection.ClearAllPools();
                await LedgerThroughput.ExecuteAsync(connection, $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)");
            }
            else
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                foreach (var file in Directory.GetFiles(Path.GetTempPath(), database + ".db*"))
                    File.Delete(file);
            }
        }
    }

    static async Task<(List<double> Latencies, List<string> Failures, TimeSpan Elapsed)> SpendAsync(
        IMoneyPath path, Org[] orgs, int spenders, TimeSpan duration)
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        var clock = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, spenders).Select(worker => Task.Run(async () =>
        {
            var latencies = new List<double>();
            var failures = new List<string>();
            var random = new Random(worker);
            for (var i = 0; clock.Elapsed < duration; i++)
            {
                var org = orgs[random.Next(orgs.Length)];
                var member = org.Members[worker % org.Members.Length];
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await path.PayAsync(new Spender(org.Id, member.UserId, member.ApiKeyId, null), MaxCost, Cost, $"bench-{run}-{worker}-{i}", CancellationToken.None);
                    latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (Exception e)
                {
                    // A pair the database refused (a deadlock, say) is counted and reported, not retried: the app does not retry either.
                    failures.Add(Reason(e));
                }
            }
            return (latencies, failures);
        })).ToList();
        var all = await Task.WhenAll(workers);
        return (all.SelectMany(w => w.latencies).ToList(), all.SelectMany(w => w.failures).ToList(), clock.Elapsed);
    }

    /// <summary>The database's own words when it refused (a deadlock is 40P01), whatever wraps them.</summary>
    static string Reason(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
            if (inner is PostgresException pg)
                return $"{pg.SqlState} {pg.MessageText}";
            else if (inner is AiHub.Infrastructure.Errors.ProblemException problem)
                return $"{problem.Status} {problem.Type}";
        return $"{e.GetType().Name}: {e.Message}";
    }

    /// <summary>
    /// The ledger's own check, then the money: no hold open, every completed pair settled once at its cost, and each
    /// pool (and allocation and key budget) down by exactly what its settled holds cost.
    /// </summary>
    /// <remarks>On credit leases a hold serves many calls: the calls are counted by their usage records instead.</remarks>
    static async Task<bool> CheckAsync(IServiceProvider services, List<Org> orgs, long paid, long failed, bool lease)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var broken = await scope.ServiceProvider.GetRequiredService<Ledger>().VerifyAsync(CancellationToken.None);
        Console.WriteLine(broken.Count == 0 ? "ledger verify: every balance equals the sum of its entries" : $"ledger verify: {broken.Count} accounts differ");

        var holds = await db.Set<LedgerHold>().AsNoTracking().GroupBy(h => h.State)
            .Select(g => new { State = g.Key, Count = g.LongCount(), Charged = g.Sum(h => h.ActualCost ?? 0) }).ToListAsync();
        var open = holds.Where(h => h.State == HoldState.Pending).Sum(h => h.Count);
        var settled = holds.Where(h => h.State == HoldState.Posted).Sum(h => h.Count);
        var charged = holds.Sum(h => h.Charged);
        Console.WriteLine($"holds: {settled:N0} posted for {paid:N0} completed pairs ({failed:N0} failed), {open:N0} pending");
        var records = await db.Set<UsageRecord>().AsNoTracking().GroupBy(r => 1).Select(g => new { Count = g.LongCount(), Cost = g.Sum(r => r.CostMicros) }).FirstOrDefaultAsync();
        if (lease)
            Console.WriteLine($"usage records: {records?.Count ?? 0:N0}, {records?.Cost ?? 0:N0} µcr");

        var ids = orgs.Select(o => o.Id).ToList();
        var pools = await db.Set<CreditAccount>().AsNoTracking().Where(a => a.Owner == CreditOwner.Organization && ids.Contains(a.OrganizationId!.Value))
            .Select(a => new { a.Id, a.Balance, a.Reserved }).ToListAsync();
        var chargedTo = await db.Set<LedgerHold>().AsNoTracking().Where(h => h.State == HoldState.Posted)
            .GroupBy(h => h.PayerAccountId).Select(g => new { Payer = g.Key, Charged = g.Sum(h => h.ActualCost ?? 0) }).ToDictionaryAsync(g => g.Payer, g => g.Charged);
        var poolsWrong = pools.Count(p => p.Balance != PoolFunding - chargedTo.GetValueOrDefault(p.Id) || (open == 0 && p.Reserved != 0));

        var allocations = await db.Set<MemberAllocation>().AsNoTracking().Select(a => a.AccountId).ToListAsync();
        var allocationAccounts = await db.Set<CreditAccount>().AsNoTracking().Where(a => allocations.Contains(a.Id)).Select(a => new { a.Id, a.Balance, a.Reserved }).ToListAsync();
        var chargedToAllocation = await db.Set<LedgerHold>().AsNoTracking().Where(h => h.State == HoldState.Posted && h.AllocationAccountId != null)
            .GroupBy(h => h.AllocationAccountId!.Value).Select(g => new { Account = g.Key, Charged = g.Sum(h => h.ActualCost ?? 0) })
            .ToDictionaryAsync(g => g.Account, g => g.Charged);
        var allocationMicros = (long)(AllocationCredits * Micros.PerCredit);
        var allocationsWrong = allocationAccounts.Count(a => a.Balance != allocationMicros - chargedToAllocation.GetValueOrDefault(a.Id) || (open == 0 && a.Reserved != 0));

        var spend = await db.Set<ApiKeySpend>().AsNoTracking().ToListAsync();
        var chargedToKey = await db.Set<LedgerHold>().AsNoTracking().Where(h => h.State == HoldState.Posted && h.BudgetMonth != null)
            .GroupBy(h => h.ApiKeyId!.Value).Select(g => new { Key = g.Key, Charged = g.Sum(h => h.ActualCost ?? 0) })
            .ToDictionaryAsync(g => g.Key, g => g.Charged);
        var keysWrong = spend.Count(s => s.Spent != chargedToKey.GetValueOrDefault(s.ApiKeyId) || (open == 0 && s.Held != 0));
        var questions = await db.Set<QuotaUsage>().AsNoTracking().Where(u => u.Kind == QuotaKind.ChatQuestions).SumAsync(u => u.Used);

        var calls = lease ? records?.Count == paid && records.Cost == paid * Cost : settled == paid;
        var sound = broken.Count == 0 && open == 0 && calls && charged == paid * Cost && questions == paid
            && poolsWrong == 0 && allocationsWrong == 0 && keysWrong == 0;
        Console.WriteLine($"money: {charged:N0} µcr charged for {paid:N0} pairs of {Cost:N0} µcr; " +
            $"{pools.Count:N0} pools, {allocationAccounts.Count:N0} allocations, {spend.Count:N0} key budgets checked; " +
            $"{poolsWrong} pools, {allocationsWrong} allocations and {keysWrong} key budgets differ from funding minus settled costs; " +
            $"{questions:N0} questions counted");
        Console.WriteLine(sound ? "check: sound (no hold left open, no double spend)" : "check: FAILED");
        return sound;
    }

    static async Task<Member[]> UsersAsync(IServiceProvider services, int count)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var clock = scope.ServiceProvider.GetRequiredService<TimeProvider>();
        var users = Enumerable.Range(0, count).Select(i =>
        {
            var email = $"spender{i}@bench.invalid";
            return new AppUser
            {
                Id = Guid.CreateVersion7(), UserName = email, NormalizedUserName = email.ToUpperInvariant(), Email = email,
                NormalizedEmail = email.ToUpperInvariant(), EmailConfirmed = true, SecurityStamp = Guid.NewGuid().ToString("N"),
                DisplayName = $"Spender {i}", CreatedAt = clock.GetUtcNow(),
            };
        }).ToList();
        db.Users.AddRange(users);
        await db.SaveChangesAsync();
        return users.Select(u => new Member(u.Id, null)).ToArray();
    }

    /// <summary>Orgs made, funded and (capped) given allocations and budgeted keys through the app's own services.</summary>
    static async Task<Org[]> OrgsAsync(IServiceProvider services, Member[] users, int count, bool capped)
    {
        var orgs = new Org[count];
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (k, ct) =>
        {
            await using var scope = services.CreateAsyncScope();
            var sp = scope.ServiceProvider;
            var db = sp.GetRequiredService<AppDbContext>();
            var owner = users[k % users.Length];
            var org = await sp.GetRequiredService<Orgs>().CreateAsync(owner.UserId, $"Bench {(capped ? "capped" : "plain")} {k}", ct);
            var members = k == 0 ? users : [owner];
            db.Memberships.AddRange(members.Where(m => m != owner).Select(m => new Membership { OrganizationId = org.Id, UserId = m.UserId, Role = OrgRole.Member, JoinedAt = org.CreatedAt }));
            await db.SaveChangesAsync(ct);
            db.ChangeTracker.Clear();

            // No question limit, as a paying org has: the quota leg is counted on every call but never refuses one.
            await db.Set<OrgPlan>().Where(p => p.OrganizationId == org.Id).ExecuteDeleteAsync(ct);
            db.Add(new OrgPlan { OrganizationId = org.Id, PlanCode = "ENTERPRISE", Since = org.CreatedAt });
            await db.SaveChangesAsync(ct);
            db.ChangeTracker.Clear();

            var ledger = sp.GetRequiredService<Ledger>();
            var pool = await ledger.OpenAsync(CreditOwner.Organization, null, org.Id, ct);
            await ledger.PostAsync(pool.Id, CreditKind.Grant, PoolFunding, "bench funding", null, $"bench-fund-{org.Id:N}", ct);
            if (capped)
            {
                var grant = new OrgGrant(org.Id, OrgRole.Owner, OrgPermissions.All);
                var keys = sp.GetRequiredService<OrgApiKeys>();
                var allowances = sp.GetRequiredService<Allowances>();
                for (var i = 0; i < members.Length; i++)
                {
                    await allowances.ChangeAsync(grant, owner.UserId, members[i].UserId, new AllocationChange(AllocationCredits, "bench allowance"), null, ct);
                    var role = members[i] == owner ? OrgRole.Owner : OrgRole.Member;
                    var key = await keys.CreateAsync(new OrgGrant(org.Id, role, OrgPermissions.ByRole[role]), members[i].UserId,
                        new ApiKeyRequest("bench", [OrgPermissions.Name(OrgPermissions.ChatUse)], null, null, null, KeyBudgetCredits), ct);
                    members = [.. members[..i], members[i] with { ApiKeyId = key.Key.Id }, .. members[(i + 1)..]];
                }
            }
            orgs[k] = new Org(org.Id, members);
        });
        return orgs;
    }

    /// <summary>The app's container as <c>Program</c> builds it, down to credits; built, never started.</summary>
    static WebApplication App(string provider, string connectionString)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", Args = [] });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Database:Provider"] = provider,
            ["Database:ConnectionString"] = connectionString,
            ["DataProtection:KeyEncryptionKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Logging:LogLevel:Default"] = "Warning",
            // Migrating a new database reads a history table that is not there yet, which EF Core logs as an error; refused pairs are counted instead.
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command"] = "None",
        });
        builder.AddInfrastructure();
        builder.AddData();
        builder.AddJobs();
        builder.AddNotifications();
        builder.AddAdmin();
        builder.AddIdentityFeature();
        builder.AddOrganizations();
        builder.AddCredits();
        return builder.Build();
    }
}
