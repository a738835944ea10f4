using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests.Blobs;

/// <summary>A node is not ready while its blob store does not answer: uploads and downloads would fail.</summary>
public sealed class BlobHealthTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ready_checks_the_bucket_and_fails_when_the_S3_service_does_not_answer()
    {
        await using var database = TestDatabase.Sqlite();
        await using var up = AiHubApp.On(database, await TestS3.SettingsAsync(TestS3.NewBucket()));
        var settings = await TestS3.SettingsAsync(TestS3.NewBucket());
        settings["Blobs:S3:ServiceUrl"] = $"http://127.0.0.1:{ClosedPort()}";
        await using var otherDatabase = TestDatabase.Sqlite();
        await using var down = AiHubApp.On(otherDatabase, settings);

        var (upStatus, upChecks) = await ReadyAsync(up.CreateClient());
        var (downStatus, downChecks) = await ReadyAsync(down.CreateClient());

        Assert.Equal((HttpStatusCode.OK, "Healthy"), (upStatus, upChecks["blobs"]));
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "Unhealthy"), (downStatus, downChecks["blobs"]));
        Assert.Equal("Healthy", downChecks["database"]);
    }

    [Fact]
    public async Task Ready_checks_the_blob_folder_when_embedded()
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = AiHubApp.On(database);

        var (status, checks) = await ReadyAsync(app.CreateClient());

        Assert.Equal((HttpStatusCode.OK, "Healthy"), (status, checks["blobs"]));
    }

    static async Task<(HttpStatusCode Status, Dictionary<string, string> Checks)> ReadyAsync(HttpClient client)
    {
        using (client)
        {
            using var response = await client.GetAsync("/health/ready", Ct);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
            return (response.StatusCode, json.RootElement.GetProperty("checks").EnumerateObject()
                .ToDictionary(c => c.Name, c => c.Value.GetProperty("status").GetString()!));
        }
    }

    static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
