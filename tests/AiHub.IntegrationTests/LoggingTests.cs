using System.Net;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests;

/// <summary>What a production node writes to its log for ordinary use: one line per request, and no SQL.</summary>
public sealed class LoggingTests
{
    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task A_production_node_started_from_anywhere_logs_one_line_per_request_and_no_sql(string provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        var elsewhere = Directory.CreateTempSubdirectory("aihub-cwd-");
        try
        {
            var lines = await AiHubProcess.ServeAsync(new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
                ["AIHUB_Database__Provider"] = provider,
                ["AIHUB_Database__ConnectionString"] = database.ConnectionString,
                ["AIHUB_Database__MigrateOnStart"] = "true",
            }, elsewhere.FullName, async address =>
            {
                using var client = new HttpClient { BaseAddress = address };
                using var plans = await client.GetAsync("/api/plans", TestContext.Current.CancellationToken);
                Assert.Equal(HttpStatusCode.OK, plans.StatusCode);
            }, line => line.Contains("/api/plans", StringComparison.Ordinal));

            var requestLines = lines.Where(l => l.Contains("/api/plans", StringComparison.Ordinal)).ToList();
            var summary = Assert.Single(requestLines);
            Assert.Contains("\"level\":\"Information\"", summary, StringComparison.Ordinal);
            Assert.Contains("200", summary, StringComparison.Ordinal);
            // EF Core's one Error on a fresh PostgreSQL database (it probes a migrations table not made yet) is not chatter; its command log is.
            var chatter = lines.Where(l => !l.Contains("\"level\":\"Error\"", StringComparison.Ordinal) && !l.Contains("\"level\":\"Warning\"", StringComparison.Ordinal)).ToList();
            Assert.DoesNotContain(chatter, l => l.Contains("Microsoft.EntityFrameworkCore", StringComparison.Ordinal));
            Assert.DoesNotContain(chatter, l => l.Contains("SELECT ", StringComparison.OrdinalIgnoreCase));
        }
        finally
        {
            elsewhere.Delete(recursive: true);
        }
    }
}
