using AiHub.Credits;
using AiHub.Credits.Usage;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Generation;

/// <summary>The provider makes fewer images than asked: the job completes with what was made and is charged only for it.</summary>
public sealed class GenerationPartialImagesTests(SqliteDiskGenerationFixture fixture) : IClassFixture<SqliteDiskGenerationFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Three_images_asked_one_made_costs_a_third_of_the_quote_in_the_job_the_usage_record_and_the_ledger()
    {
        var tenant = await JobTenant.NewAsync(fixture.Host);

        var submitted = await tenant.SubmitAsync(new
        {
            kind = "image", model = "openai/gpt-image-1", prompt = "three green pears [[fake:made=1]]", size = "1024x1024", quality = "low", count = 3,
        });
        var id = submitted.GetProperty("id").GetGuid();
        var held = submitted.GetProperty("cost").GetProperty("heldMicros").GetInt64();
        var job = await tenant.EndedAsync(id);

        // 3 x 1.1 credits at US$0.01 a credit; one image made is exactly a third.
        Assert.Equal(3_300_000, held);
        const long third = 1_100_000;
        Assert.Equal("completed", job.GetProperty("status").GetString());
        Assert.Single(job.GetProperty("outputs").EnumerateArray());
        Assert.Equal([0], (await tenant.OutputRowsAsync(id)).Select(r => r.Index));
        Assert.Equal(third, job.GetProperty("cost").GetProperty("chargedMicros").GetInt64());
        Assert.Equal(JobTenant.Funds - third, await tenant.BalanceAsync());
        Assert.Equal(0, await tenant.ReservedAsync());
        var usage = await tenant.UsageAsync(id);
        Assert.Equal((UsageStatus.Succeeded, third), (usage!.Status, usage.CostMicros));
        Assert.Equal(1, await tenant.UsageCountAsync(id));
        var hold = await tenant.HoldAsync(id);
        Assert.Equal((HoldState.Posted, (long?)third), (hold.State, hold.ActualCost));
        await using var scope = fixture.Host.App.Services.CreateAsyncScope();
        var entries = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditEntry>().IgnoreQueryFilters().AsNoTracking()
            .Where(e => e.HoldId == hold.Id && e.Kind == CreditKind.Usage).Select(e => e.Amount).ToListAsync(Ct);
        Assert.Equal([-third], entries);
    }
}
