using System.Net;
using System.Text.Json;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Credits.Usage;
using AiHub.Fixtures;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;

namespace AiHub.IntegrationTests.Generation;

/// <summary>
/// Generation jobs end to end against the fake provider, on each database and blob store: what is made lands in the
/// store with its thumbnail, the hold settles at exactly what was made, and every way a job can fail or be stopped
/// gives the hold back and leaves a usage record at cost 0.
/// </summary>
public abstract class GenerationJobTests(GenerationJobFixture fixture)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;
    static readonly byte[] PngStart = [0x89, (byte)'P', (byte)'N', (byte)'G'];
    static readonly byte[] JpegStart = [0xFF, 0xD8, 0xFF];

    FakeLlm Fake => fixture.Fake;

    Task<JobTenant> TenantAsync() => JobTenant.NewAsync(fixture.Host);

    [Fact]
    public async Task Two_images_complete_into_the_store_with_thumbnails_and_cost_exactly_their_quote()
    {
        var tenant = await TenantAsync();

        var submitted = await tenant.SubmitAsync(new { kind = "image", model = "openai/gpt-image-1", prompt = "two red apples", size = "1024x1024", quality = "low", count = 2 });
        var id = submitted.GetProperty("id").GetGuid();
        var held = submitted.GetProperty("cost").GetProperty("heldMicros").GetInt64();
        var job = await tenant.EndedAsync(id);

        Assert.Equal("completed", job.GetProperty("status").GetString());
        Assert.Equal(2_200_000, held);
        Assert.Equal(held, job.GetProperty("cost").GetProperty("chargedMicros").GetInt64());
        Assert.Equal(JobTenant.Funds - held, await tenant.BalanceAsync());
        Assert.Equal(0, await tenant.ReservedAsync());
        var rows = await tenant.OutputRowsAsync(id);
        Assert.Equal([0, 1], rows.Select(r => r.Index));
        foreach (var row in rows)
        {
            Assert.Equal(PngStart, (await tenant.BlobAsync(row.BlobKey))![..4]);
            Assert.Equal((1024, 1024), (row.Width, row.Height));
            var thumbnail = await tenant.BlobAsync(row.ThumbnailBlobKey!);
            Assert.Equal(JpegStart, thumbnail![..3]);
            Assert.Equal(thumbnail.Length, row.ThumbnailBytes);
        }
        Assert.All(job.GetProperty("outputs").EnumerateArray(), o => Assert.EndsWith("/thumbnail", o.GetProperty("thumbnailUrl").GetString(), StringComparison.Ordinal));
        var usage = await tenant.UsageAsync(id);
        Assert.Equal((UsageStatus.Succeeded, held), (usage!.Status, usage.CostMicros));
        var hold = await tenant.HoldAsync(id);
        Assert.Equal((HoldState.Posted, (long?)held), (hold.State, hold.ActualCost));
    }

    [Fact]
    public async Task A_video_completes_with_its_poster_frame_real_duration_and_is_charged_per_second()
    {
        var tenant = await TenantAsync();

        var submitted = await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = "a calm sea", seconds = 4, size = "1280x720" });
        var id = submitted.GetProperty("id").GetGuid();
        var job = await tenant.EndedAsync(id);

        Assert.Equal("completed", job.GetProperty("status").GetString());
        Assert.Equal(40_000_000, job.GetProperty("cost").GetProperty("chargedMicros").GetInt64());
        Assert.Equal(JobTenant.Funds - 40_000_000, await tenant.BalanceAsync());
        var row = Assert.Single(await tenant.OutputRowsAsync(id));
        Assert.Equal("video/mp4", row.ContentType);
        Assert.InRange(row.DurationSeconds ?? 0, 3.5, 4.5);
        Assert.NotNull(row.Width);
        var video = await tenant.BlobAsync(row.BlobKey);
        Assert.Equal(row.SizeBytes, video!.Length);
        Assert.Equal(JpegStart, (await tenant.BlobAsync(row.ThumbnailBlobKey!))![..3]);
        Assert.Equal(1, Fake.Requests.Count(r => r.Method == "POST" && r.Path == "/v1/videos" && (r.Body?.ToString() ?? "").Contains("a calm sea", StringComparison.Ordinal)));
        var storage = job.GetProperty("outputs")[0].GetProperty("sizeBytes").GetInt64();
        Assert.Equal(row.SizeBytes, storage);
    }

    [Fact]
    public async Task A_provider_failure_gives_the_hold_back_and_records_a_failed_call_at_no_cost()
    {
        var tenant = await TenantAsync();

        var id = (await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = "a storm [[fake:fail=The render farm is on fire.]]", seconds = 4 }))
            .GetProperty("id").GetGuid();
        var job = await tenant.EndedAsync(id);

        Assert.Equal("failed", job.GetProperty("status").GetString());
        Assert.Equal("provider_failed", job.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("The render farm is on fire.", job.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        await AssertNotChargedAsync(tenant, id, UsageStatus.Failed);
    }

    [Fact]
    public async Task A_moderation_refusal_ends_failed_refused_with_the_providers_words_and_costs_nothing()
    {
        var tenant = await TenantAsync();

        var image = (await tenant.SubmitAsync(new { kind = "image", model = "openai/gpt-image-1", prompt = "something forbidden [[fake:moderation]]", quality = "low" }))
            .GetProperty("id").GetGuid();
        var video = (await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = "a forbidden scene [[fake:moderation-late=It shows a real person.]]", seconds = 4 }))
            .GetProperty("id").GetGuid();

        foreach (var id in new[] { image, video })
        {
            var job = await tenant.EndedAsync(id);
            Assert.Equal("failed", job.GetProperty("status").GetString());
            Assert.Equal("refused", job.GetProperty("error").GetProperty("code").GetString());
            Assert.StartsWith("The provider refused this request:", job.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
            await AssertNotChargedAsync(tenant, id, UsageStatus.Failed, alone: false);
        }
        Assert.Contains("safety system", (await tenant.GetAsync(image)).GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("It shows a real person.", (await tenant.GetAsync(video)).GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(JobTenant.Funds, await tenant.BalanceAsync());
        Assert.Equal(0, await tenant.ReservedAsync());
    }

    [Fact]
    public async Task A_cancelled_video_gives_the_hold_back_and_stops_the_provider()
    {
        var tenant = await TenantAsync();
        var id = (await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = "a long take [[fake:steps=40]]", seconds = 4 })).GetProperty("id").GetGuid();
        await WaitAsync(async () => (await tenant.GetAsync(id)).GetProperty("progress").GetInt32() > 0, "the video never made progress");

        var cancelled = await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, $"{tenant.Jobs}/{id}/cancel");
        var job = await tenant.EndedAsync(id);
        await SendAsync(tenant.Client, tenant.Owner, HttpMethod.Post, $"{tenant.Jobs}/{id}/cancel", expected: HttpStatusCode.Conflict);

        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        Assert.Equal("cancelled", job.GetProperty("status").GetString());
        await AssertNotChargedAsync(tenant, id, UsageStatus.Cancelled);
        Assert.Empty(await tenant.OutputRowsAsync(id));
    }

    [Fact]
    public async Task A_job_running_past_the_maximum_duration_times_out_uncharged()
    {
        var tenant = await TenantAsync();

        var id = (await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = "forever [[fake:steps=100000]]", seconds = 4 })).GetProperty("id").GetGuid();
        var job = await tenant.EndedAsync(id);

        Assert.Equal("failed", job.GetProperty("status").GetString());
        Assert.Equal("timed_out", job.GetProperty("error").GetProperty("code").GetString());
        var ran = job.GetProperty("completedAt").GetDateTimeOffset() - job.GetProperty("createdAt").GetDateTimeOffset();
        Assert.True(ran >= GenerationJobFixture.MaxJobDuration, $"it ended after {ran}");
        await AssertNotChargedAsync(tenant, id, UsageStatus.Failed);
    }

    [Fact]
    public async Task Outputs_that_do_not_fit_the_plans_storage_fail_the_job_uncharged_and_leave_nothing_stored()
    {
        var tenant = await TenantAsync();
        await using (var scope = fixture.Host.App.Services.CreateAsyncScope())
        {
            // The plan's storage all but full: the submit passes, the finished video does not fit.
            var quotas = scope.ServiceProvider.GetRequiredService<IQuotaService>();
            var status = await quotas.GetAsync(tenant.OrgId, QuotaKind.StorageBytes, Ct);
            Assert.True((await quotas.TryConsumeAsync(tenant.OrgId, QuotaKind.StorageBytes, status.Remaining!.Value - 100, "test:fill", Ct)).Allowed);
        }

        var id = (await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = "a big file", seconds = 4 })).GetProperty("id").GetGuid();
        var job = await tenant.EndedAsync(id);

        Assert.Equal("failed", job.GetProperty("status").GetString());
        Assert.Equal("storage_full", job.GetProperty("error").GetProperty("code").GetString());
        await AssertNotChargedAsync(tenant, id, UsageStatus.Failed);
        Assert.Empty(await tenant.OutputRowsAsync(id));
        var orgId = tenant.OrgId;
        Assert.Null(await tenant.BlobAsync(AiHub.Generation.GenerationBlobs.Output(orgId, id, 0, "mp4")));
        Assert.Null(await tenant.BlobAsync(AiHub.Generation.GenerationBlobs.Thumbnail(orgId, id, 0)));
    }

    [Fact]
    public async Task A_cancel_racing_the_completion_ends_the_job_one_way_and_the_money_matches_it()
    {
        var tenant = await TenantAsync();
        long charged = 0;
        var outcomes = new List<string>();
        for (var round = 0; round < 6; round++)
        {
            var id = (await tenant.SubmitAsync(new { kind = "video", model = "openai/sora-2", prompt = $"race {round} [[fake:steps=2]]", seconds = 4 })).GetProperty("id").GetGuid();
            // The cancel lands from just before to just after the job completes.
            await Task.Delay(TimeSpan.FromMilliseconds(250 * round), Ct);
            using var request = IdentityHost.As(tenant.Owner, HttpMethod.Post, $"{tenant.Jobs}/{id}/cancel");
            using var response = await Task.Run(() => tenant.Client.SendAsync(request, Ct), Ct);
            var job = await tenant.EndedAsync(id);
            var status = job.GetProperty("status").GetString();
            var cost = job.GetProperty("cost").GetProperty("chargedMicros").GetInt64();
            var usage = await tenant.UsageAsync(id);
            var hold = await tenant.HoldAsync(id);
            var rows = await tenant.OutputRowsAsync(id);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal("cancelled", status);
                Assert.Equal((0L, UsageStatus.Cancelled, 0L, HoldState.Voided), (cost, usage!.Status, usage.CostMicros, hold.State));
                // The worker may still be storing the file when the cancel's money has moved; it removes what it stored.
                await WaitAsync(async () => (await tenant.OutputRowsAsync(id)).Count == 0
                    && await tenant.BlobAsync(AiHub.Generation.GenerationBlobs.Output(tenant.OrgId, id, 0, "mp4")) is null, "a cancelled job's output stayed in the store");
            }
            else
            {
                Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
                Assert.Equal("completed", status);
                Assert.Equal((40_000_000L, UsageStatus.Succeeded, 40_000_000L, HoldState.Posted), (cost, usage!.Status, usage.CostMicros, hold.State));
                Assert.NotNull(await tenant.BlobAsync(Assert.Single(rows).BlobKey));
            }
            Assert.Equal(1, await tenant.UsageCountAsync(id));
            charged += cost;
            outcomes.Add(status!);
        }
        Assert.Equal(JobTenant.Funds - charged, await tenant.BalanceAsync());
        Assert.Equal(0, await tenant.ReservedAsync());
        Assert.Contains("cancelled", outcomes);
        Assert.Contains("completed", outcomes);
    }

    static async Task AssertNotChargedAsync(JobTenant tenant, Guid id, UsageStatus status, bool alone = true)
    {
        var job = await tenant.GetAsync(id);
        Assert.Equal(0, job.GetProperty("cost").GetProperty("chargedMicros").GetInt64());
        var usage = await tenant.UsageAsync(id);
        Assert.Equal((status, 0L), (usage!.Status, usage.CostMicros));
        Assert.Equal(HoldState.Voided, (await tenant.HoldAsync(id)).State);
        if (!alone)
            return;
        Assert.Equal(JobTenant.Funds, await tenant.BalanceAsync());
        Assert.Equal(0, await tenant.ReservedAsync());
    }

    static async Task WaitAsync(Func<Task<bool>> done, string because)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (!await done())
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, because);
            await Task.Delay(50, Ct);
        }
    }
}

public sealed class GenerationJobTestsOnSqliteDisk(SqliteDiskGenerationFixture fixture) : GenerationJobTests(fixture), IClassFixture<SqliteDiskGenerationFixture>;

public sealed class GenerationJobTestsOnPostgresDisk(PostgresDiskGenerationFixture fixture) : GenerationJobTests(fixture), IClassFixture<PostgresDiskGenerationFixture>;

public sealed class GenerationJobTestsOnSqliteS3(SqliteS3GenerationFixture fixture) : GenerationJobTests(fixture), IClassFixture<SqliteS3GenerationFixture>;

public sealed class GenerationJobTestsOnPostgresS3(PostgresS3GenerationFixture fixture) : GenerationJobTests(fixture), IClassFixture<PostgresS3GenerationFixture>;
