using System.Net;
using AiHub.IntegrationTests.Support;

namespace AiHub.IntegrationTests;

public sealed class TelemetryTests
{
    [Fact]
    public async Task Metrics_are_served_for_Prometheus_only_when_switched_on()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var database = TestDatabase.Sqlite();
        await using var on = AiHubApp.On(database, new Dictionary<string, string?> { ["Telemetry:PrometheusEnabled"] = "true" });
        using var client = on.CreateClient();
        using (await client.GetAsync("/api/warm-up", ct)) { }

        using var metrics = await client.GetAsync("/metrics", ct);
        var text = await metrics.Content.ReadAsStringAsync(ct);

        await using var off = AiHubApp.On(database);
        using var offClient = off.CreateClient();
        using var hidden = await offClient.GetAsync("/metrics", ct);

        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("service_name=\"aihub\"", text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, hidden.StatusCode);
        Assert.Equal("application/problem+json", hidden.Content.Headers.ContentType?.MediaType);
    }
}
