using System.Net;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Generation;
using AiHub.IntegrationTests.Credits;
using AiHub.IntegrationTests.Gateway;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Generation;

/// <summary>
/// An AiHub whose generation provider is the fake OpenAI server, on one database and one blob store (disk, or the S3
/// test server's bucket of its own); jobs longer than <see cref="MaxJobDuration"/> time out.
/// </summary>
public abstract class GenerationJobFixture(string provider, bool s3) : IAsyncLifetime
{
    public static readonly TimeSpan MaxJobDuration = TimeSpan.FromSeconds(10);

    public FakeLlm Fake { get; private set; } = null!;

    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        var settings = s3 ? await TestS3.SettingsAsync(TestS3.NewBucket()) : [];
        settings.WithGenerationProvider(Fake);
        settings["Generation:MaxJobDuration"] = MaxJobDuration.ToString();
        Host = await IdentityHost.StartAsync(provider, settings);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Fake.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteDiskGenerationFixture() : GenerationJobFixture("Sqlite", s3: false);

public sealed class PostgresDiskGenerationFixture() : GenerationJobFixture("Postgres", s3: false);

public sealed class SqliteS3GenerationFixture() : GenerationJobFixture("Sqlite", s3: true);

public sealed class PostgresS3GenerationFixture() : GenerationJobFixture("Postgres", s3: true);

/// <summary>A new user's org with a funded pool on a plan without quotas, and its first workspace.</summary>
public sealed record JobTenant(IdentityHost Host, HttpClient Client, AuthTokens Owner, Guid OrgId, Guid WorkspaceId, Guid PoolId)
{
    public const long Funds = 1_000_000_000;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public string Jobs => $"/api/orgs/{OrgId}/workspaces/{WorkspaceId}/generations";

    public static async Task<JobTenant> NewAsync(IdentityHost host, string name = "Studio")
    {
        var client = host.App.CreateClient();
        var owner = await host.NewUserAsync(client);
        var orgId = await CreateOrgAsync(client, owner, name);
        var pool = await host.FundPoolAsync(orgId, Funds);
        await GatewayTenants.OnUnlimitedPlanAsync(host, client, orgId);
        var workspaces = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/workspaces");
        return new(host, client, owner, orgId, workspaces.EnumerateArray().First().GetProperty("id").GetGuid(), pool);
    }

    public Task<JsonElement> SubmitAsync(object body) => SendAsync(Client, Owner, HttpMethod.Post, Jobs, body, HttpStatusCode.Accepted);

    public Task<JsonElement> GetAsync(Guid id) => SendAsync(Client, Owner, HttpMethod.Get, $"{Jobs}/{id}");

    /// <summary>Polls the job until it has ended and its money has moved (the hold closed and the usage record written); at most 60 s.</summary>
    public async Task<JsonElement> EndedAsync(Guid id)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var job = await GetAsync(id);
            if (job.GetProperty("status").GetString() is "completed" or "failed" or "cancelled" && await UsageAsync(id) is not null && !await HoldPendingAsync(id))
                return job;
            Assert.True(DateTimeOffset.UtcNow < deadline, $"generation {id} did not end and settle within 60 s: {job}");
            await Task.Delay(100, Ct);
        }
    }

    public async Task<long> BalanceAsync() => (await Host.BalanceAsync(PoolId)).Balance;

    public async Task<long> ReservedAsync() => (await Host.BalanceAsync(PoolId)).Reserved;

    internal async Task<UsageRecord?> UsageAsync(Guid jobId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AsNoTracking()
            .FirstOrDefaultAsync(r => r.IdempotencyKey == $"generation:{jobId}", Ct);
    }

    internal async Task<int> UsageCountAsync(Guid jobId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters()
            .CountAsync(r => r.IdempotencyKey == $"generation:{jobId}", Ct);
    }

    internal async Task<LedgerHold> HoldAsync(Guid jobId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var holdId = await db.Set<GenerationJob>().IgnoreQueryFilters().Where(j => j.Id == jobId).Select(j => j.HoldId).FirstAsync(Ct);
        return await db.Set<LedgerHold>().IgnoreQueryFilters().AsNoTracking().FirstAsync(h => h.Id == holdId, Ct);
    }

    async Task<bool> HoldPendingAsync(Guid jobId) => (await HoldAsync(jobId)).State == HoldState.Pending;

    internal async Task<List<GenerationOutput>> OutputRowsAsync(Guid jobId)
    {
        await using var scope = Host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<GenerationOutput>().IgnoreQueryFilters().AsNoTracking()
            .Where(o => o.JobId == jobId).OrderBy(o => o.Index).ToListAsync(Ct);
    }

    /// <summary>The keys the blob store holds under the job's folder.</summary>
    internal async Task<byte[]?> BlobAsync(string key)
    {
        var store = Host.App.Services.GetRequiredService<AiHub.Infrastructure.Blobs.IBlobStore>();
        await using var stream = await store.OpenReadAsync(key, Ct);
        if (stream is null)
            return null;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }
}
