using System.Net;
using System.Text.Json;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Gateway;
using AiHub.IntegrationTests.Support;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Generation;

/// <summary>A new user generates an image and a video through the HTTP API, on SQLite, with the real providers against the fake.</summary>
public sealed class GenerationStoryTests : IAsyncLifetime
{
    readonly LogCapture _logs = new();
    FakeLlm _fake = null!;
    IdentityHost _host = null!;

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _fake = await FakeLlm.StartAsync();
        _host = await IdentityHost.StartAsync("Sqlite", new Dictionary<string, string?>().WithGenerationProvider(_fake),
            services => services.AddSingleton<ILoggerProvider>(_logs));
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _fake.DisposeAsync();
    }

    sealed record Tenant(HttpClient Client, AuthTokens Owner, Guid OrgId, Guid Account, string Jobs);

    async Task<Tenant> NewTenantAsync()
    {
        var client = _host.App.CreateClient();
        var owner = await _host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, "Studio");
        var account = await _host.FundForGenerationAsync(client, orgId);
        var workspaces = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
        var wsId = workspaces.EnumerateArray().First().GetProperty("id").GetGuid();
        return new Tenant(client, owner, orgId, account, $"/api/orgs/{orgId}/workspaces/{wsId}/generations");
    }

    static async Task<JsonElement> CompletedAsync(Tenant tenant, Guid id)
    {
        var job = await EndedAsync(tenant, id);
        Assert.True(job.GetProperty("status").GetString() == "completed", job.ToString());
        return job;
    }

    static async Task<JsonElement> EndedAsync(Tenant tenant, Guid id)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Get, $"{tenant.Jobs}/{id}");
            var status = job.GetProperty("status").GetString();
            if (status is "completed" or "failed" or "cancelled")
                return job;
            Assert.True(DateTimeOffset.UtcNow < deadline, $"the generation is still {status} after 60 s: {job}");
            await Task.Delay(100, Ct);
        }
    }

    static async Task<byte[]> DownloadAsync(Tenant tenant, JsonElement output)
    {
        using var request = As(tenant.Owner, HttpMethod.Get, output.GetProperty("url").GetString()!);
        using var response = await tenant.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsByteArrayAsync(Ct);
    }

    /// <summary>Waits for the job's hold to be settled, then says what the pool lost; nothing may stay reserved and the ledger must verify.</summary>
    async Task<long> ChargedAsync(Tenant tenant)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while ((await _host.HoldsAsync(tenant.OrgId)).Pending > 0)
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "the generation's hold stayed pending for 30 s after it completed");
            await Task.Delay(100, Ct);
        }
        var (balance, reserved) = await _host.BalanceAsync(tenant.Account);
        Assert.Equal(0, reserved);
        Assert.Empty(await _host.VerifyLedgerAsync());
        return SdkFixture.Funds - balance;
    }

    [Fact]
    public async Task Two_images_are_generated_downloaded_as_real_pngs_of_the_size_and_charged_exactly_the_quote()
    {
        var tenant = await NewTenantAsync();
        var ask = new { model = "openai/gpt-image-1", prompt = "Two pears on a table", size = "1536x1024", quality = "medium", count = 2 };
        var quote = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, tenant.Jobs + "/quote", ask);
        Assert.True(quote.GetProperty("micros").GetInt64() > 0, quote.ToString());

        var started = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, tenant.Jobs, ask, HttpStatusCode.Accepted);
        var job = await CompletedAsync(tenant, started.GetProperty("id").GetGuid());

        var outputs = job.GetProperty("outputs").EnumerateArray().ToList();
        Assert.Equal(2, outputs.Count);
        foreach (var output in outputs)
        {
            var png = await DownloadAsync(tenant, output);
            Assert.Equal((1536, 1024), FakeLlm.ImageSize(png));
            Assert.Equal("image/png", output.GetProperty("contentType").GetString());
            Assert.Equal(png.Length, output.GetProperty("sizeBytes").GetInt64());
        }
        var call = Assert.Single(_fake.Requests, r => r.Path == "/v1/images/generations");
        Assert.Equal(("gpt-image-1", 2, "medium"), (call.Model, call.Body!.Value.GetProperty("n").GetInt32(), call.Body.Value.GetProperty("quality").GetString()));
        Assert.Equal(quote.GetProperty("micros").GetInt64(), await ChargedAsync(tenant));
        Assert.Equal(quote.GetProperty("micros").GetInt64(), (await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Get, $"{tenant.Jobs}/{job.GetProperty("id").GetGuid()}"))
            .GetProperty("cost").GetProperty("chargedMicros").GetInt64());
    }

    [Fact]
    public async Task A_video_is_generated_through_its_progress_downloaded_as_an_mp4_and_charged_exactly_the_quote()
    {
        var tenant = await NewTenantAsync();
        var ask = new { model = "openai/sora-2", prompt = "A red kite over the sea", size = "1280x720", seconds = 4 };
        var quote = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, tenant.Jobs + "/quote", ask);
        Assert.True(quote.GetProperty("micros").GetInt64() > 0, quote.ToString());

        var started = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, tenant.Jobs, ask, HttpStatusCode.Accepted);
        var job = await CompletedAsync(tenant, started.GetProperty("id").GetGuid());

        var output = Assert.Single(job.GetProperty("outputs").EnumerateArray().ToList());
        var mp4 = await DownloadAsync(tenant, output);
        Assert.Equal("ftyp"u8.ToArray(), mp4[4..8]);
        Assert.Equal("video/mp4", output.GetProperty("contentType").GetString());
        Assert.Equal(4, output.GetProperty("durationSeconds").GetDouble());
        Assert.Equal(100, job.GetProperty("progress").GetInt32());
        var video = Assert.Single(_fake.Videos);
        Assert.Equal(("sora-2", "4", "1280x720", "completed"), (video.Model, video.Seconds, video.Size, video.Status));
        Assert.True(video.Polls >= _fake.VideoSteps);
        Assert.Equal(quote.GetProperty("micros").GetInt64(), await ChargedAsync(tenant));
    }

    async Task<string> WorkAsync()
    {
        await using var scope = _host.App.Services.CreateAsyncScope();
        var items = await scope.ServiceProvider.GetRequiredService<AiHub.Data.AppDbContext>().WorkItems.AsNoTracking().Where(i => i.Kind.StartsWith("generation")).ToListAsync(Ct);
        return string.Join("\n", items.Select(i => $"{i.Kind} {i.State} {i.Attempts} {i.LastError} {i.Payload}"));
    }

    [Fact]
    public async Task A_video_and_an_image_the_providers_moderation_refuses_fail_as_refused_with_its_words_and_cost_nothing()
    {
        var tenant = await NewTenantAsync();
        var video = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, tenant.Jobs,
            new { model = "openai/sora-2", prompt = "[[fake:moderation-late=depicts a real person]] A president dancing", size = "1280x720", seconds = 4 },
            HttpStatusCode.Accepted);
        var image = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, tenant.Jobs,
            new { model = "openai/gpt-image-1", prompt = "[[fake:moderation=violence]] A battle", size = "1024x1024", quality = "low", count = 1 },
            HttpStatusCode.Accepted);

        foreach (var (id, words) in new[] { (video.GetProperty("id").GetGuid(), "depicts a real person"), (image.GetProperty("id").GetGuid(), "safety_violations=[violence]") })
        {
            var job = await EndedAsync(tenant, id);
            Assert.True(job.GetProperty("status").GetString() == "failed", job.ToString());
            Assert.True(job.GetProperty("error").GetProperty("code").GetString() == "refused",
                job + "\n" + await WorkAsync() + "\n" + string.Join("\n", _logs.Entries.Where(e => e.Level >= LogLevel.Warning || e.Category.Contains("Generation", StringComparison.Ordinal) || e.Category.Contains("Jobs", StringComparison.Ordinal)).Select(e => $"{e.Category}: {e.Message} {e.Exception}")));
            Assert.Contains(words, job.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Empty(job.GetProperty("outputs").EnumerateArray());
        }
        Assert.Equal(0, await ChargedAsync(tenant));
        // Neither the deployment's key nor a prompt is written to the logs.
        Assert.DoesNotContain(_logs.Lines, l => l.Contains("test-key", StringComparison.Ordinal) || l.Contains("A president dancing", StringComparison.Ordinal));
    }
}
