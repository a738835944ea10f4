using System.Diagnostics;
using System.Net;
using AiHub.IntegrationTests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Knowledge;

/// <summary>
/// An embedded AiHub killed with SIGKILL in the middle of transcribing a recording, then started again: the work is
/// found in the database, resumes at the step that was not done, and the source completes once, with every chunk and
/// transcript segment written exactly once and its storage counted once.
/// </summary>
public sealed class IngestionRestartTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killed_mid_transcription_and_restarted_the_source_completes_exactly_once()
    {
        var blobs = Directory.CreateTempSubdirectory("aihub-restart-blobs-").FullName;
        var media = Directory.CreateTempSubdirectory("aihub-restart-media-").FullName;
        var keep = Directory.CreateTempSubdirectory("aihub-restart-db-").FullName;
        try
        {
            // The account and the knowledge base are made in a host of the test's; the process that ingests is a real one.
            var web = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?> { ["Blobs:Path"] = blobs });
            var email = IdentityHost.NewEmail("restart");
            var start = await KnowledgeStart.SignUpAsync(web, email);
            var kb = await start.CreateBaseAsync("Recordings");
            var connection = web.App.Services.GetRequiredService<IConfiguration>()["Database:ConnectionString"]!;
            var folder = Path.GetDirectoryName(new SqliteConnectionStringBuilder(connection).DataSource)!;
            var video = await SpeechFixtures.SynthesiseAsync(
            [
                (1, "The river flows past the old mill towards the sea."),
                (12, "Every morning the baker opens the shop at six."),
                (24, "The children walk to school along the river bank."),
                (36, "In winter the mill wheel stops turning."),
                (48, "The baker sells bread and warm rolls to the children."),
            ], media, asVideo: true);
            // A copy of the database: disposing the host deletes its own folder.
            await web.App.DisposeAsync();
            SqliteConnection.ClearAllPools();
            foreach (var file in Directory.GetFiles(folder))
                File.Copy(file, Path.Combine(keep, Path.GetFileName(file)));
            await web.DisposeAsync();
            folder = keep;
            connection = $"Data Source={Path.Combine(keep, "aihub.db")}";

            var environment = new Dictionary<string, string>
            {
                ["AIHUB_Database__Provider"] = "Sqlite",
                ["AIHUB_Database__ConnectionString"] = connection,
                ["AIHUB_Blobs__Path"] = blobs,
                ["AIHUB_Jobs__RetryBaseDelay"] = "00:00:00.100",
                ["AIHUB_Jobs__Lease"] = "00:00:10",
            };
            var (first, address) = await AiHubProcess.StartAsync(environment, folder);
            Guid sourceId;
            try
            {
                using var client = new HttpClient { BaseAddress = address };
                var tokens = await IdentityHost.LoginAsync(client, email);
                var upload = start with { Client = client, Owner = tokens };
                sourceId = await upload.AddAsync(kb, "mill.mp4", await File.ReadAllBytesAsync(video, Ct));
                await WaitForAsync(connection, sourceId, status => status == "Transcribing", TimeSpan.FromSeconds(90));
            }
            finally
            {
                // SIGKILL: no shutdown hook runs, the work item is left running with its lease.
                first.Kill(entireProcessTree: true);
                await first.WaitForExitAsync(Ct);
            }
            Assert.NotEqual("Completed", await StatusAsync(connection, sourceId));

            var (second, _) = await AiHubProcess.StartAsync(environment, folder);
            try
            {
                await WaitForAsync(connection, sourceId, status => status is "Completed" or "Failed", TimeSpan.FromSeconds(180));
            }
            finally
            {
                second.Kill(entireProcessTree: true);
                await second.WaitForExitAsync(Ct);
            }

            await using var db = new SqliteConnection(connection);
            await db.OpenAsync(Ct);
            Assert.Equal("Completed", await ScalarAsync<string>(db, "SELECT status FROM knowledge_sources WHERE id = $id", sourceId));
            var chunks = await ScalarAsync<long>(db, "SELECT count(*) FROM knowledge_chunks WHERE source_id = $id", sourceId);
            var ordinals = await ScalarAsync<long>(db, "SELECT count(DISTINCT ordinal) FROM knowledge_chunks WHERE source_id = $id", sourceId);
            var maxOrdinal = await ScalarAsync<long>(db, "SELECT max(ordinal) FROM knowledge_chunks WHERE source_id = $id", sourceId);
            Assert.True(chunks > 0);
            Assert.Equal((chunks, chunks - 1), (ordinals, maxOrdinal));
            Assert.Equal(chunks, await ScalarAsync<long>(db, "SELECT chunk_count FROM knowledge_sources WHERE id = $id", sourceId));
            var segments = await ScalarAsync<long>(db, "SELECT count(*) FROM transcript_segments WHERE source_id = $id", sourceId);
            Assert.True(segments > 0);
            Assert.Equal(segments - 1, await ScalarAsync<long>(db, "SELECT max(\"index\") FROM transcript_segments WHERE source_id = $id", sourceId));
            // The full-text index agrees with its content table: a chunk written twice or left behind by the kill would break this.
            await using (var check = db.CreateCommand())
            {
                check.CommandText = "INSERT INTO knowledge_chunks_fts(knowledge_chunks_fts) VALUES('integrity-check')";
                await check.ExecuteNonQueryAsync(Ct);
            }
            Assert.Equal(1, await ScalarAsync<long>(db, "SELECT count(*) FROM quota_consumptions WHERE idempotency_key = $key", $"source:{sourceId}:bytes"));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(blobs, recursive: true);
            Directory.Delete(media, recursive: true);
            Directory.Delete(keep, recursive: true);
        }
    }

    static async Task WaitForAsync(string connection, Guid sourceId, Func<string?, bool> done, TimeSpan within)
    {
        var watch = Stopwatch.StartNew();
        string? status = null;
        while (watch.Elapsed < within)
        {
            status = await StatusAsync(connection, sourceId);
            if (done(status))
                return;
            await Task.Delay(100, Ct);
        }
        Assert.Fail($"The source stayed {status} for {within.TotalSeconds:N0} s.");
    }

    static async Task<string?> StatusAsync(string connection, Guid sourceId)
    {
        await using var db = new SqliteConnection(connection);
        await db.OpenAsync(Ct);
        return await ScalarAsync<string>(db, "SELECT status FROM knowledge_sources WHERE id = $id", sourceId);
    }

    static async Task<T> ScalarAsync<T>(SqliteConnection db, string sql, object? id)
    {
        await using var command = db.CreateCommand();
        command.CommandText = sql;
        if (id is Guid guid)
            command.Parameters.AddWithValue("$id", guid.ToString().ToUpperInvariant());
        else if (id is string key)
            command.Parameters.AddWithValue("$key", key);
        var value = await command.ExecuteScalarAsync(Ct);
        return (T)Convert.ChangeType(value!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }
}
