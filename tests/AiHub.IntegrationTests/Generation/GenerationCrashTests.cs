using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Generation;

/// <summary>
/// AiHub as a real process making a slow video, killed with SIGKILL once the provider's video id is saved and started
/// again on the same database and data folder: the job is taken over and completes exactly once, the video is made
/// once at the provider, stored once, and charged once at its cost, and the ledger verifies.
/// </summary>
public abstract class GenerationCrashTests(string provider)
{
    const long Funds = 1_000_000_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killed_while_a_video_is_made_and_restarted_the_job_completes_once_and_is_charged_once()
    {
        await using var fake = await FakeLlm.StartAsync();
        var web = await IdentityHost.StartAsync(provider);
        var workingDirectory = Directory.CreateTempSubdirectory("aihub-generation-crash-").FullName;
        try
        {
            // The tenant is made in a host of the test's; the process that runs the job is a real one, on the same database.
            var client = web.App.CreateClient();
            var owner = await web.NewUserAsync(client);
            var orgId = await CreateOrgAsync(client, owner, "Crash studio");
            var account = await web.FundForGenerationAsync(client, orgId, Funds);
            var workspaces = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
            var jobs = $"/api/orgs/{orgId}/workspaces/{workspaces.EnumerateArray().First().GetProperty("id").GetGuid()}/generations";
            var connection = web.App.Services.GetRequiredService<IConfiguration>()["Database:ConnectionString"]!;
            await web.App.DisposeAsync();
            SqliteConnection.ClearAllPools();

            var blobs = Path.Combine(workingDirectory, "blobs");
            var environment = new Dictionary<string, string>
            {
                ["AIHUB_Database__Provider"] = provider,
                ["AIHUB_Database__ConnectionString"] = connection,
                ["AIHUB_Database__MigrateOnStart"] = "true",
                ["AIHUB_Node__Name"] = "generation-crash-node",
                ["AIHUB_Blobs__Path"] = blobs,
                // A killed worker's lease runs out within seconds, so the restarted process takes the job over quickly.
                ["AIHUB_Jobs__Lease"] = "00:00:05",
                ["AIHUB_Jobs__StaleAfter"] = "00:00:05",
                ["AIHUB_Jobs__SchedulePollingInterval"] = "00:00:00.200",
                ["AIHUB_Jobs__QueuePollInterval"] = "00:00:00.200",
            };
            foreach (var (key, value) in new Dictionary<string, string?>().WithGenerationProvider(fake))
                environment["AIHUB_" + key.Replace(":", "__", StringComparison.Ordinal)] = value!;
            var database = new Database(provider, connection);

            Guid id;
            var (first, address) = await AiHubProcess.StartAsync(environment, workingDirectory);
            try
            {
                using var http = new HttpClient { BaseAddress = address };
                // Six seconds of making at the provider, counted from its create, however often it is polled.
                var submitted = await SendAsync(http, owner, HttpMethod.Post, jobs,
                    new { kind = "video", model = "openai/sora-2", prompt = "a slow pan over a harbour [[fake:steps=20;step-delay=300]]", seconds = 4 },
                    HttpStatusCode.Accepted);
                id = submitted.GetProperty("id").GetGuid();
                var started = Stopwatch.StartNew();
                while (await database.ScalarAsync("SELECT count(*) FROM generation_jobs WHERE id = @id AND status = 'InProgress' AND provider_job_id IS NOT NULL", id) == 0)
                {
                    Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), "the job never got in progress with the provider's video id saved");
                    await Task.Delay(50, Ct);
                }
            }
            finally
            {
                // SIGKILL: no shutdown hook runs, so the work item's lease and the open hold are left as a crash leaves them.
                first.Kill(entireProcessTree: true);
                await first.WaitForExitAsync(Ct);
            }
            var video = Assert.Single(fake.Videos);
            Assert.NotEqual("completed", video.Status);
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM generation_jobs WHERE id = @id AND status = 'InProgress'", id));
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM credit_holds h JOIN generation_jobs j ON j.hold_id = h.id WHERE j.id = @id AND h.state = 'Pending'", id));

            var (second, _) = await AiHubProcess.StartAsync(environment, workingDirectory);
            try
            {
                var restarted = Stopwatch.StartNew();
                while (await database.ScalarAsync(
                           "SELECT count(*) FROM generation_jobs j JOIN credit_holds h ON h.id = j.hold_id WHERE j.id = @id AND j.status = 'Completed' AND h.state <> 'Pending'", id) == 0
                       || await database.ScalarAsync("SELECT count(*) FROM usage_records WHERE idempotency_key = 'generation:' || @key", id, key: true) == 0)
                {
                    Assert.True(restarted.Elapsed < TimeSpan.FromSeconds(90), "the job did not complete and settle within 90 s of the restart");
                    await Task.Delay(200, Ct);
                }
                // A second run, had one been started, gets a moment to store or charge again before the counts below.
                await Task.Delay(TimeSpan.FromSeconds(1), Ct);
            }
            finally
            {
                second.Kill(entireProcessTree: true);
                await second.WaitForExitAsync(Ct);
            }

            var cost = await database.ScalarAsync("SELECT cost_micros FROM generation_jobs WHERE id = @id", id);
            var held = await database.ScalarAsync("SELECT held_micros FROM generation_jobs WHERE id = @id", id);
            Assert.True(cost > 0 && cost <= held, $"cost {cost} of a hold of {held}");
            Assert.Single(fake.Requests, r => r.Method == "POST" && r.Path == "/v1/videos");
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM generation_outputs WHERE job_id = @id", id));
            // One output and its thumbnail in the store, nothing left over from the killed run.
            var objects = Path.Combine(blobs, "objects");
            var folder = Path.Combine(objects, "orgs", orgId.ToString("N"), "generations", id.ToString("N"));
            var stored = Directory.Exists(folder)
                ? Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(objects, f).Replace(Path.DirectorySeparatorChar, '/')).Order().ToList()
                : [];
            var keys = new[]
            {
                await database.TextAsync("SELECT blob_key FROM generation_outputs WHERE job_id = @id", id),
                await database.TextAsync("SELECT thumbnail_blob_key FROM generation_outputs WHERE job_id = @id", id),
            }.Where(k => k.Length > 0).Order().ToList();
            Assert.NotEmpty(keys);
            Assert.Equal(keys, stored);
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM credit_holds h JOIN generation_jobs j ON j.hold_id = h.id WHERE j.id = @id AND h.state = 'Posted'", id));
            Assert.Equal(cost, await database.ScalarAsync("SELECT h.actual_cost FROM credit_holds h JOIN generation_jobs j ON j.hold_id = h.id WHERE j.id = @id", id));
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM credit_entries e JOIN generation_jobs j ON j.hold_id = e.hold_id WHERE j.id = @id AND e.kind = 'Usage'", id));
            Assert.Equal(-cost, await database.ScalarAsync("SELECT e.amount FROM credit_entries e JOIN generation_jobs j ON j.hold_id = e.hold_id WHERE j.id = @id AND e.kind = 'Usage'", id));
            Assert.Equal(1, await database.ScalarAsync("SELECT count(*) FROM usage_records WHERE idempotency_key = 'generation:' || @key", id, key: true));
            Assert.Equal(cost, await database.ScalarAsync("SELECT cost_micros FROM usage_records WHERE idempotency_key = 'generation:' || @key", id, key: true));
            Assert.Equal(Funds - cost, await database.ScalarAsync("SELECT balance FROM credit_accounts WHERE id = @id", account));
            Assert.Equal(0, await database.ScalarAsync("SELECT reserved FROM credit_accounts WHERE id = @id", account));
            var verify = await AiHubProcess.RunAsync(environment, "ledger", "verify");
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

    /// <summary>Reads the database with plain SQL, as an operator would after a crash.</summary>
    sealed class Database(string provider, string connectionString)
    {
        /// <param name="key">Pass the id as the text an idempotency key holds (lower-case) rather than as a column's id.</param>
        public async Task<long> ScalarAsync(string sql, Guid id, bool key = false) =>
            await QueryAsync(sql, id, key) is { } result and not DBNull ? Convert.ToInt64(result, CultureInfo.InvariantCulture) : 0;

        public async Task<string> TextAsync(string sql, Guid id) => Convert.ToString(await QueryAsync(sql, id, false), CultureInfo.InvariantCulture) ?? "";

        async Task<object?> QueryAsync(string sql, Guid id, bool key)
        {
            await using DbConnection connection = provider == "Sqlite" ? new SqliteConnection(connectionString) : new NpgsqlConnection(connectionString);
            await connection.OpenAsync(Ct);
            await using var command = connection.CreateCommand();
            command.CommandText = sql;
            var parameter = command.CreateParameter();
            parameter.ParameterName = key ? "@key" : "@id";
            // EF Core keeps a Guid in SQLite as upper-case text; an idempotency key holds it as "D" text.
            parameter.Value = key ? id.ToString() : provider == "Sqlite" ? id.ToString().ToUpperInvariant() : id;
            command.Parameters.Add(parameter);
            return await command.ExecuteScalarAsync(Ct);
        }
    }
}

public sealed class GenerationCrashTestsOnSqlite() : GenerationCrashTests("Sqlite");

public sealed class GenerationCrashTestsOnPostgres() : GenerationCrashTests("Postgres");
