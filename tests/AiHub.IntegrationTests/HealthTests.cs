using System.Net;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using Npgsql;

namespace AiHub.IntegrationTests;

public sealed class HealthTests
{
    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Live_and_ready_answer_200_when_the_database_answers(string provider)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = AiHubApp.On(database);
        using var client = app.CreateClient();

        using var live = await client.GetAsync("/health/live", TestContext.Current.CancellationToken);
        var ready = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.Status);
        Assert.Equal("Healthy", ready.Checks["database"]);
    }

    [Fact]
    public async Task Ready_fails_while_PostgreSQL_is_down_and_recovers_when_it_is_back()
    {
        await using var database = await TestDatabase.PostgresAsync();
        var target = new NpgsqlConnectionStringBuilder(database.ConnectionString);
        await using var forwarder = new TcpForwarder(target.Host!, target.Port);
        forwarder.Start();
        var throughForwarder = new NpgsqlConnectionStringBuilder(database.ConnectionString) { Port = forwarder.Port, Timeout = 3 };
        await using var app = AiHubApp.On(database, new Dictionary<string, string?> { ["Database:ConnectionString"] = throughForwarder.ConnectionString });
        using var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await ReadyAsync(client)).Status);

        forwarder.Stop();
        var down = await ReadyAsync(client);
        forwarder.Start();
        var back = await ReadyAsync(client);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.Status);
        Assert.Equal("Unhealthy", down.Checks["database"]);
        Assert.Equal(HttpStatusCode.OK, back.Status);
    }

    [Fact]
    public async Task Ready_checks_Redis_when_it_is_configured()
    {
        await using var database = TestDatabase.Sqlite();
        await using var withRedis = AiHubApp.On(database, new Dictionary<string, string?> { ["Redis:ConnectionString"] = TestEnvironment.Redis });
        using var client = withRedis.CreateClient();
        var up = await ReadyAsync(client);

        await using var closed = new TcpForwarder("127.0.0.1", 1);
        closed.Start();
        closed.Stop();
        await using var withoutRedis = AiHubApp.On(database, new Dictionary<string, string?>
        {
            ["Redis:ConnectionString"] = $"127.0.0.1:{closed.Port},connectTimeout=500",
        });
        using var client2 = withoutRedis.CreateClient();
        var down = await ReadyAsync(client2);

        Assert.Equal(HttpStatusCode.OK, up.Status);
        Assert.Equal("Healthy", up.Checks["redis"]);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.Status);
        Assert.Equal("Unhealthy", down.Checks["redis"]);
        Assert.Equal("Healthy", down.Checks["database"]);
    }

    sealed record Readiness(HttpStatusCode Status, Dictionary<string, string> Checks);

    static async Task<Readiness> ReadyAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/health/ready", TestContext.Current.CancellationToken);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var checks = json.RootElement.GetProperty("checks").EnumerateObject()
            .ToDictionary(c => c.Name, c => c.Value.GetProperty("status").GetString()!);
        return new Readiness(response.StatusCode, checks);
    }
}
