using System.Data.Common;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace AiHub.IntegrationTests.Gateway;

/// <summary>
/// AiHub as a real process serving /v1 under load, killed with SIGKILL mid-call and started again on the same database
/// with the same node name: once it has reconciled, no hold is left open, the ledger verifies, and every call is billed
/// exactly once: the payer lost what the usage records cost, and each posted hold charged what its records cost.
/// </summary>
public abstract class GatewayCrashTests(string provider)
{
    const string Model = "gpt-4o-mini";
    const long Funds = 1_000_000_000;
    const int Workers = 32;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killed_under_load_and_restarted_every_call_is_billed_exactly_once_and_no_hold_stays_open()
    {
        await using var fake = await FakeLlm.StartAsync();
        fake.RecordRequests = false;
        // Streams take a while, so the kill finds calls in flight.
        fake.ChunkDelay = TimeSpan.FromMilliseconds(15);
        var web = await IdentityHost.StartAsync(provider);
        var workingDirectory = Directory.CreateTempSubdirectory("aihub-gateway-crash-").FullName;
        try
        {
            // The tenant is made in a host of the test's; the process that serves /v1 is a real one, on the same database.
            var client = web.App.CreateClient();
            var owner = await web.NewUserAsync(client);
            var orgId = await Organizations.OrgApi.CreateOrgAsync(client, owner, "Under load");
            await web.FundPoolAsync(orgId, Funds);
            await GatewayTenants.OnUnlimitedPlanAsync(web, client, orgId);
            var (keyId, secret) = await GatewayTenants.NewKeyAsync(client, owner, orgId);
            var connection = web.App.Services.GetRequiredService<IConfiguration>()["Database:ConnectionString"]!;
            await web.App.DisposeAsync();
            SqliteConnection.ClearAllPools();

            var environment = new Dictionary<string, string>
            {
                ["AIHUB_Database__Provider"] = provider,
                ["AIHUB_Database__ConnectionString"] = connection,
                ["AIHUB_Database__MigrateOnStart"] = "true",
                ["AIHUB_Node__Name"] = "crash-node",
                ["AIHUB_Providers__0__Name"] = "mock",
                ["AIHUB_Providers__0__Kind"] = "OpenAICompatible",
                ["AIHUB_Providers__0__BaseUrl"] = fake.OpenAiEndpoint.AbsoluteUri,
                ["AIHUB_Providers__0__ApiKey"] = "test-key",
                ["AIHUB_Providers__0__Models__0"] = Model,
                ["AIHUB_Chat__CircuitBreaker__MinimumThroughput"] = "10000",
            };
            var database = new Database(provider, connection);

            var (first, address) = await AiHubProcess.StartAsync(environment, workingDirectory);
            Load load;
            try
            {
                load = await LoadUntilKilledAsync(address, secret, first);
            }
            finally
            {
                if (!first.HasExited)
                    first.Kill(entireProcessTree: true);
                await first.WaitForExitAsync(Ct);
            }
            Assert.True(load.Completed >= 50, $"only {load.Completed} calls completed before the kill");
            Assert.True(load.InFlightAtKill > 0, "no call was in flight when the process was killed");
            // The kill left open what a restart must close; otherwise this test would prove nothing.
            Assert.True(await database.ScalarAsync("SELECT count(*) FROM credit_holds WHERE state = 'Pending'") > 0, "nothing was left pending by the kill");

            var (second, _) = await AiHubProcess.StartAsync(environment, workingDirectory);
            try
            {
                var deadline = Stopwatch.StartNew();
                while (await database.ScalarAsync("SELECT count(*) FROM credit_holds WHERE state = 'Pending'") > 0)
                {
                    Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(60), "holds stayed pending for 60 s after the restart");
                    await Task.Delay(250, Ct);
                }
            }
            finally
            {
                second.Kill(entireProcessTree: true);
                await second.WaitForExitAsync(Ct);
            }

            var balance = await database.ScalarAsync("SELECT balance FROM credit_accounts WHERE owner = 'Organization' AND organization_id = @id", orgId);
            var reserved = await database.ScalarAsync("SELECT reserved FROM credit_accounts WHERE owner = 'Organization' AND organization_id = @id", orgId);
            var records = await database.ScalarAsync("SELECT count(*) FROM usage_records WHERE api_key_id = @id", keyId);
            var recordedCost = await database.ScalarAsync("SELECT coalesce(sum(cost_micros), 0) FROM usage_records WHERE api_key_id = @id", keyId);
            var distinctKeys = await database.ScalarAsync("SELECT count(DISTINCT idempotency_key) FROM usage_records WHERE api_key_id = @id", keyId);
            var unposted = await database.ScalarAsync(
                "SELECT count(*) FROM usage_records u LEFT JOIN credit_holds h ON h.id = u.reservation_id WHERE u.api_key_id = @id AND u.cost_micros > 0 AND (h.state IS NULL OR h.state <> 'Posted')", keyId);
            var mischarged = await database.ScalarAsync(
                "SELECT count(*) FROM credit_holds h WHERE h.api_key_id = @id AND h.state = 'Posted' AND coalesce(h.actual_cost, 0) <> (SELECT coalesce(sum(u.cost_micros), 0) FROM usage_records u WHERE u.reservation_id = h.id)", keyId);
            var verify = await AiHubProcess.RunAsync(environment, "ledger", "verify");

            Assert.True(records >= load.Completed, $"{load.Completed} calls completed for the clients but only {records} usage records exist");
            Assert.True(recordedCost > 0);
            Assert.Equal(records, distinctKeys);
            Assert.Equal(0, reserved);
            Assert.Equal(recordedCost, Funds - balance);
            Assert.Equal(0, unposted);
            Assert.Equal(0, mischarged);
            Assert.True(verify.ExitCode == 0, $"ledger verify: {verify.Stdout}{verify.Stderr}");
        }
        finally
        {
            await web.DisposeAsync();
            try
            {
                Directory.Delete(workingDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    sealed record Load(int Completed, int InFlightAtKill);

    /// <summary>32 clients call in a loop, a stream then a JSON answer; once enough have completed, the process is killed mid-call.</summary>
    static async Task<Load> LoadUntilKilledAsync(Uri address, string key, Process process)
    {
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var completed = 0;
        var inFlight = 0;
        var killed = false;

        async Task WorkerAsync(int worker)
        {
            for (var i = 0; !Volatile.Read(ref killed); i++)
            {
                var stream = i % 2 == 0;
                var body = $$"""{"model":"{{Model}}","stream":{{(stream ? "true" : "false")}},{{(stream ? "\"stream_options\":{\"include_usage\":true}," : "")}}"messages":[{"role":"user","content":"worker {{worker}} call {{i}} says hello to the gateway"}]}""";
                Interlocked.Increment(ref inFlight);
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                    var text = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode == HttpStatusCode.OK && (!stream || text.Contains("data: [DONE]", StringComparison.Ordinal)))
                        Interlocked.Increment(ref completed);
                    else if (!Volatile.Read(ref killed))
                        throw new InvalidOperationException($"call {i} of worker {worker} answered {(int)response.StatusCode}: {text}");
                }
                catch (Exception) when (Volatile.Read(ref killed))
                {
                    return;
                }
                catch (HttpRequestException) when (process.HasExited)
                {
                    return;
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }
        }

        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(() => WorkerAsync(w), Ct)).ToList();
        var started = Stopwatch.StartNew();
        while (Volatile.Read(ref completed) < 200 && started.Elapsed < TimeSpan.FromSeconds(40) && workers.All(w => !w.IsCompleted))
            await Task.Delay(50, Ct);
        var inFlightAtKill = Volatile.Read(ref inFlight);
        var completedAtKill = Volatile.Read(ref completed);
        // SIGKILL: no shutdown hook runs, so open leases and calls in flight are left as a crash leaves them.
        Volatile.Write(ref killed, true);
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync(Ct);
        await Task.WhenAll(workers);
        return new Load(completedAtKill, inFlightAtKill);
    }

    /// <summary>Reads the database with plain SQL, as an operator would after a crash.</summary>
    sealed class Database(string provider, string connectionString)
    {
        public async Task<long> ScalarAsync(string sql, Guid? id = null)
        {
            await using DbConnection connection = provider == "Sqlite" ? new SqliteConnection(connectionString) : new NpgsqlConnection(connectionString);
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            if (id is { } value)
            {
                var parameter = command.CreateParameter();
                parameter.ParameterName = "@id";
                // EF Core keeps a Guid in SQLite as upper-case text.
                parameter.Value = provider == "Sqlite" ? value.ToString().ToUpperInvariant() : value;
                command.Parameters.Add(parameter);
            }
            var result = await command.ExecuteScalarAsync(Ct);
            return result is null or DBNull ? 0 : Convert.ToInt64(result, System.Globalization.CultureInfo.InvariantCulture);
        }
    }
}

public sealed class GatewayCrashTestsOnSqlite() : GatewayCrashTests("Sqlite");

public sealed class GatewayCrashTestsOnPostgres() : GatewayCrashTests("Postgres");
