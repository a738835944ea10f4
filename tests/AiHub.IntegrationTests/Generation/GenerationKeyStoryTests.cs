using System.Net;
using AiHub.Credits.Plans;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Generation;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Generation.GenerationApi;

namespace AiHub.IntegrationTests.Generation;

/// <summary>A host generating against the fake OpenAI images and videos API, its blobs on a disk folder the tests can read.</summary>
public abstract class GenerationStoryFixture(string provider) : GenerationApiFixture(provider)
{
    public FakeLlm Fake { get; private set; } = null!;

    protected override async Task<Dictionary<string, string?>> SettingsAsync()
    {
        Fake = await FakeLlm.StartAsync();
        var settings = await base.SettingsAsync();
        foreach (var key in settings.Keys.Where(k => k.StartsWith("Providers:", StringComparison.Ordinal)).ToList())
            settings.Remove(key);
        settings.Remove("Generation:MaxTransientFailures");
        return settings.WithGenerationProvider(Fake);
    }

    protected override ValueTask StopMoreAsync() => Fake.DisposeAsync();
}

public sealed class SqliteGenerationStoryFixture() : GenerationStoryFixture("Sqlite");

public sealed class PostgresGenerationStoryFixture() : GenerationStoryFixture("Postgres");

/// <summary>An app generating with an API key: the key is on the usage record, its outputs count as storage, deleting gives it back.</summary>
public abstract class GenerationKeyStoryTests(GenerationStoryFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static readonly string[] GenerationsUse = ["generations:use"];

    [Fact]
    public async Task A_keys_images_complete_its_usage_record_names_the_key_their_storage_counts_and_deleting_gives_it_back()
    {
        var tenant = await NewTenantAsync(fixture.Host);
        var key = await Organizations.OrgApi.SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, $"/api/orgs/{tenant.OrgId}/api-keys",
            new { name = "studio app", permissions = GenerationsUse }, HttpStatusCode.Created);
        var keyId = key.GetProperty("key").GetProperty("id").GetGuid();
        var secret = key.GetProperty("secret").GetString()!;
        var storage0 = await StorageUsedAsync(tenant.OrgId);

        var (accepted, job, _) = await SendAsync(tenant.Client, secret, HttpMethod.Post, tenant.Jobs,
            Json(new { model = "gpt-image-1", prompt = "two lighthouses", quality = "low", count = 2 }));
        Assert.True(accepted == HttpStatusCode.Accepted, job.ToString());
        var id = job.GetProperty("id").GetGuid();
        var done = job;
        var deadline = DateTimeOffset.UtcNow.AddSeconds(90);
        while (done.GetProperty("status").GetString() is "queued" or "in_progress")
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "the job did not end within 90 s: " + done);
            await Task.Delay(200, Ct);
            (_, done, _) = await SendAsync(tenant.Client, secret, HttpMethod.Get, $"{tenant.Jobs}/{id}");
        }
        Assert.True(done.GetProperty("status").GetString() == "completed", done.ToString());
        var charged = done.GetProperty("cost").GetProperty("chargedMicros").GetInt64();
        var storage1 = await StorageUsedAsync(tenant.OrgId);
        var blobs1 = (await fixture.FootprintAsync(tenant)).Blobs;
        UsageRecord usage;
        long stored;
        var usageDeadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            await using var scope = fixture.Host.App.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            stored = (await db.Set<GenerationJob>().IgnoreQueryFilters().AsNoTracking().SingleAsync(j => j.Id == id, Ct)).StorageBytes;
            // The usage record is written by the job's finish step, which runs just after the job is seen completed.
            if (await db.Set<UsageRecord>().IgnoreQueryFilters().AsNoTracking().FirstOrDefaultAsync(r => r.OrganizationId == tenant.OrgId, Ct) is { } record)
            {
                usage = record;
                break;
            }
            Assert.True(DateTimeOffset.UtcNow < usageDeadline, "no usage record 30 s after the job completed");
            await Task.Delay(200, Ct);
        }

        var (deleted, _, _) = await SendAsync(tenant.Client, secret, HttpMethod.Delete, $"{tenant.Jobs}/{id}");
        var storage2 = await StorageUsedAsync(tenant.OrgId);
        var after = await fixture.FootprintAsync(tenant);

        Assert.Equal(2, done.GetProperty("outputs").GetArrayLength());
        Assert.Equal(2_200_000, charged);
        Assert.Equal(keyId, usage.ApiKeyId);
        Assert.Equal(charged, usage.CostMicros);
        Assert.True(stored > 0);
        Assert.Equal(storage0 + stored, storage1);
        Assert.True(blobs1 >= 2, $"{blobs1} files stored");
        Assert.Equal(HttpStatusCode.NoContent, deleted);
        Assert.Equal(storage0, storage2);
        Assert.Equal(0, after.Blobs);
        Assert.Equal(0, after.Jobs);
    }

    async Task<long> StorageUsedAsync(Guid orgId)
    {
        await using var scope = fixture.Host.App.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<IQuotaService>().GetAsync(orgId, QuotaKind.StorageBytes, Ct)).Used;
    }
}

public sealed class GenerationKeyStoryOnSqlite(SqliteGenerationStoryFixture fixture) : GenerationKeyStoryTests(fixture), IClassFixture<SqliteGenerationStoryFixture>;

public sealed class GenerationKeyStoryOnPostgres(PostgresGenerationStoryFixture fixture) : GenerationKeyStoryTests(fixture), IClassFixture<PostgresGenerationStoryFixture>;
