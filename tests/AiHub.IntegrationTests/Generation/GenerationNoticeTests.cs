using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.Logging;

namespace AiHub.IntegrationTests.Generation;

/// <summary>How the world hears that a job moved: the signed callback POST when it ends, and the live hub while it runs.</summary>
public sealed class GenerationNoticeTests(SqliteDiskGenerationFixture fixture) : IClassFixture<SqliteDiskGenerationFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_callback_is_the_signed_job_retried_through_a_500_and_never_delivered_again_after_success()
    {
        await using var receiver = await Receiver.StartAsync(failures: 2);
        var tenant = await JobTenant.NewAsync(fixture.Host);

        var submitted = await tenant.SubmitAsync(new { kind = "image", model = "openai/gpt-image-1", prompt = "a blue door", quality = "low", callbackUrl = receiver.Url });
        var id = submitted.GetProperty("id").GetGuid();
        var secret = submitted.GetProperty("callbackSecret").GetString()!;
        await tenant.EndedAsync(id);
        await WaitAsync(() => receiver.Answered.Any(a => a == 200), "the callback never got a 2xx");
        // Long enough for a second delivery, were there one: retries here come after 50 ms.
        await Task.Delay(TimeSpan.FromSeconds(2), Ct);
        var again = await tenant.GetAsync(id);

        Assert.Equal([500, 500, 200], receiver.Answered);
        var delivered = receiver.Posts[^1];
        var signature = delivered.Signature.Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{signature["t"]}.{delivered.Body}")));
        Assert.Equal(expected, signature["v1"]);
        Assert.InRange(long.Parse(signature["t"], System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(),
            DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
        using var body = JsonDocument.Parse(delivered.Body);
        Assert.Equal("generation.completed", body.RootElement.GetProperty("type").GetString());
        Assert.Equal(id, body.RootElement.GetProperty("data").GetProperty("id").GetGuid());
        Assert.Equal("completed", body.RootElement.GetProperty("data").GetProperty("status").GetString());
        Assert.Single(body.RootElement.GetProperty("data").GetProperty("outputs").EnumerateArray());
        Assert.False(again.TryGetProperty("callbackSecret", out var shown) && shown.ValueKind == JsonValueKind.String, "the secret was shown again");
        // A forged body does not verify with the secret.
        var forged = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{signature["t"]}.{delivered.Body.Replace("completed", "failed", StringComparison.Ordinal)}")));
        Assert.NotEqual(forged, signature["v1"]);
    }

    [Fact]
    public async Task A_hub_client_watching_the_workspace_sees_progress_rise_to_the_completion_and_another_orgs_workspace_is_refused()
    {
        var tenant = await JobTenant.NewAsync(fixture.Host);
        var stranger = await JobTenant.NewAsync(fixture.Host, "Elsewhere");
        await using var hub = await ConnectAsync(tenant.Owner);
        var seen = new ConcurrentQueue<JsonElement>();
        var completed = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        hub.On<JsonElement>("generation", job =>
        {
            seen.Enqueue(job);
            if (job.GetProperty("status").GetString() == "completed")
                completed.TrySetResult(job);
        });

        await hub.InvokeAsync("Watch", tenant.OrgId, tenant.WorkspaceId, Ct);
        var refused = await Assert.ThrowsAsync<HubException>(() => hub.InvokeAsync("Watch", stranger.OrgId, stranger.WorkspaceId, Ct));
        await using (var strangerHub = await ConnectAsync(stranger.Owner))
            await Assert.ThrowsAsync<HubException>(() => strangerHub.InvokeAsync("Watch", tenant.OrgId, tenant.WorkspaceId, Ct));
        var id = (await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = "a sunrise [[fake:steps=5]]", seconds = 4 })).GetProperty("id").GetGuid();
        var finished = await Task.WhenAny(completed.Task, Task.Delay(TimeSpan.FromSeconds(60), Ct));
        Assert.True(finished == completed.Task, $"no completion reached the hub; it saw: {string.Join(" | ", seen)}; the job: {await tenant.GetAsync(id)}");
        var done = await completed.Task;

        Assert.Contains("No such workspace", refused.Message, StringComparison.Ordinal);
        Assert.Equal(id, done.GetProperty("id").GetGuid());
        Assert.Equal(100, done.GetProperty("progress").GetInt32());
        Assert.Single(done.GetProperty("outputs").EnumerateArray());
        var mine = seen.Where(j => j.GetProperty("id").GetGuid() == id).ToList();
        var progress = mine.Select(j => j.GetProperty("progress").GetInt32()).ToList();
        Assert.Equal(progress.Order(), progress);
        Assert.True(progress.Distinct().Count() >= 3, $"progress seen: {string.Join(", ", progress)}");
        Assert.Contains(mine, j => j.GetProperty("status").GetString() == "in_progress");
    }

    async Task<HubConnection> ConnectAsync(AuthTokens who)
    {
        var server = fixture.Host.App.Server;
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseAddress, "/api/hubs/generations"), options =>
            {
                options.HttpMessageHandlerFactory = _ => server.CreateHandler();
                options.Transports = HttpTransportType.LongPolling;
                options.AccessTokenProvider = () => Task.FromResult<string?>(who.AccessToken);
            })
            .Build();
        await connection.StartAsync(Ct);
        return connection;
    }

    static async Task WaitAsync(Func<bool> done, string because)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (!done())
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, because);
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>A callback receiver on loopback that answers 500 to its first <c>failures</c> POSTs, then 200.</summary>
    sealed class Receiver : IAsyncDisposable
    {
        public sealed record Post(string Body, string Signature);

        readonly ConcurrentQueue<Post> _posts = new();
        readonly ConcurrentQueue<int> _answered = new();
        WebApplication _app = null!;
        int _failures;

        public string Url { get; private set; } = "";

        public IReadOnlyList<Post> Posts => [.. _posts];

        public IReadOnlyList<int> Answered => [.. _answered];

        public static async Task<Receiver> StartAsync(int failures)
        {
            var receiver = new Receiver { _failures = failures };
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            app.MapPost("/hooks/generation", async (HttpContext http) =>
            {
                using var reader = new StreamReader(http.Request.Body);
                receiver._posts.Enqueue(new Post(await reader.ReadToEndAsync(), http.Request.Headers["AiHub-Signature"].ToString()));
                var status = Interlocked.Decrement(ref receiver._failures) >= 0 ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK;
                receiver._answered.Enqueue(status);
                return Results.StatusCode(status);
            });
            await app.StartAsync(Ct);
            receiver._app = app;
            receiver.Url = app.Urls.First() + "/hooks/generation";
            return receiver;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
