using System.Net;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests;

/// <summary>What an operator sees when a node cannot start: one clear line that names the cause, and no stack trace.</summary>
public sealed class StartupTests
{
    [Theory]
    [InlineData("AIHUB_Database__Provider", "Mysql", "Database:Provider: 'Mysql' is not valid; expected one of Sqlite, Postgres")]
    [InlineData("AIHUB_Node__Role", "Everything", "Node:Role: 'Everything' is not valid; expected one of All, Web, Worker")]
    [InlineData("AIHUB_Jobs__WorkerCount", "0", "Jobs:WorkerCount:")]
    [InlineData("AIHUB_Telemetry__PrometheusEnabled", "sometimes", "Telemetry:PrometheusEnabled: 'sometimes' is not valid; expected true or false")]
    [InlineData("AIHUB_Email__Smtp__Security", "Tls", "Email:Smtp:Security: 'Tls' is not valid; expected one of Auto, None, StartTls, SslOnConnect")]
    [InlineData("AIHUB_Email__From", "nobody", "Email:From: must be one mailbox")]
    public async Task A_bad_setting_stops_the_process_with_one_line_naming_it(string variable, string value, string expected)
    {
        await using var database = TestDatabase.Sqlite();

        var result = await AiHubProcess.RunAsync(new Dictionary<string, string>
        {
            ["AIHUB_Database__ConnectionString"] = database.ConnectionString,
            [variable] = value,
        });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("aihub: invalid configuration: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stdout + result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postgres_without_a_connection_string_names_the_missing_setting()
    {
        var result = await AiHubProcess.RunAsync(new Dictionary<string, string> { ["AIHUB_Database__Provider"] = "Postgres" });

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Database:ConnectionString: is required when Database:Provider is Postgres", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embedded_mode_refuses_a_web_only_node()
    {
        var result = await AiHubProcess.RunAsync(new Dictionary<string, string> { ["AIHUB_Node__Role"] = "Web" });

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Node:Role: must be All when Database:Provider is Sqlite", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cluster_node_refuses_a_database_that_is_behind_until_migrate_has_run()
    {
        await using var database = await TestDatabase.PostgresAsync();
        var cluster = new Dictionary<string, string>
        {
            ["AIHUB_Database__Provider"] = "Postgres",
            ["AIHUB_Database__ConnectionString"] = database.ConnectionString,
        };

        var refused = await AiHubProcess.RunAsync(cluster);
        var migrated = await AiHubProcess.RunAsync(cluster, "migrate");
        var again = await AiHubProcess.RunAsync(cluster, "migrate");

        Assert.Equal(3, refused.ExitCode);
        Assert.Matches(@"refusing to start: the database is \d+ migration\(s\) behind", refused.Stderr);
        Assert.Contains("dotnet AiHub.dll migrate", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, migrated.ExitCode);
        Assert.Matches(@"applied \d+ migration\(s\)", migrated.Stdout);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("the database is up to date", again.Stdout, StringComparison.Ordinal);
        await using var node = AiHubApp.On(database, new Dictionary<string, string?> { ["Database:MigrateOnStart"] = "false" });
        using var client = node.CreateClient();
        using var ready = await client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    [Fact]
    public async Task An_unreachable_cluster_database_is_one_line_not_a_stack_trace()
    {
        var result = await AiHubProcess.RunAsync(new Dictionary<string, string>
        {
            ["AIHUB_Database__Provider"] = "Postgres",
            ["AIHUB_Database__ConnectionString"] = "Host=127.0.0.1;Port=1;Database=aihub;Username=aihub;Password=s3cret-value;Timeout=2",
        });

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("aihub: refusing to start: cannot reach the database", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-value", result.Stdout + result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_command_prints_usage()
    {
        var result = await AiHubProcess.RunAsync(new Dictionary<string, string>(), "frobnicate");

        Assert.Equal(64, result.ExitCode);
        Assert.Contains("unknown command 'frobnicate'", result.Stderr, StringComparison.Ordinal);
        Assert.Contains("usage: aihub [serve|migrate|create-admin", result.Stderr, StringComparison.Ordinal);
    }
}
