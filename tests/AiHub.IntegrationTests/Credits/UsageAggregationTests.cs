using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Hangfire;
using Hangfire.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using static AiHub.IntegrationTests.Credits.UsageSupport;

namespace AiHub.IntegrationTests.Credits;

/// <summary>
/// The meter and the hourly roll-up on a real database. Times are years ahead of the real clock, so the hourly job of
/// the running host never reaches these hours; only the fake clock of each test does.
/// </summary>
public abstract class UsageAggregationTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static DateTimeOffset At(int day, int hour, int minute) => new(2031, 3, day, hour, minute, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_retried_record_is_written_once_even_when_the_retries_race()
    {
        var (user, org) = await OwnerAsync(host);
        var entry = Call(org, user, "openai", "gpt-4o-mini", 1_000, 500, DateTimeOffset.UtcNow.AddMinutes(-1)) with { Id = $"chat:{Guid.NewGuid():N}" };

        var records = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(() => RecordAsync(host, entry), Ct)));
        var stored = await RecordsAsync(org);

        Assert.Single(records.Select(r => r.Id).Distinct());
        var record = Assert.Single(stored);
        Assert.Equal(45_000, record.CostMicros);
        Assert.Equal(entry.Id, record.IdempotencyKey);
    }

    [Fact]
    public async Task Recording_leaves_the_callers_unsaved_changes_alone()
    {
        var (user, org) = await OwnerAsync(host);
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var pending = new AiHub.Organizations.Workspace { Id = Guid.NewGuid(), OrganizationId = org, Name = "not saved yet", CreatedAt = DateTimeOffset.UtcNow };
        db.Add(pending);

        await scope.ServiceProvider.GetRequiredService<UsageMeter>().RecordAsync(Call(org, user, "openai", "gpt-4o-mini", 1, 1, DateTimeOffset.UtcNow.AddMinutes(-1)), Ct);
        var saved = await RecordsAsync(org);
        await using var other = host.App.Services.CreateAsyncScope();
        var written = await other.ServiceProvider.GetRequiredService<AppDbContext>().Workspaces.AnyAsync(w => w.Id == pending.Id, Ct);

        Assert.Single(saved);
        Assert.Equal(EntityState.Added, db.Entry(pending).State);
        Assert.False(written);
    }

    [Fact]
    public async Task The_meter_prices_from_the_catalog_unless_told_the_cost_and_refuses_an_unpriced_model()
    {
        var (user, org) = await OwnerAsync(host);
        var now = DateTimeOffset.UtcNow.AddMinutes(-1);

        var priced = await RecordAsync(host, Call(org, user, "Anthropic", "Claude-Sonnet-4-0", 2_000, 100, now));
        var told = await RecordAsync(host, Call(org, user, "somewhere", "unpriced", 5, 5, now, cost: 123));
        var empty = await RecordAsync(host, Call(org, user, "somewhere", "unpriced", 0, 0, now, UsageStatus.Failed));
        var refused = await Record.ExceptionAsync(() => RecordAsync(host, Call(org, user, "somewhere", "unpriced", 5, 5, now)));

        Assert.Equal(750_000, priced.CostMicros);
        Assert.Equal(("anthropic", "claude-sonnet-4-0"), (priced.Provider, priced.Model));
        Assert.Equal(123, told.CostMicros);
        Assert.Equal(0, empty.CostMicros);
        Assert.Equal(ProblemTypes.ModelNotPriced, Assert.IsType<ProblemException>(refused).Type);
        Assert.Equal(3, (await RecordsAsync(org)).Count);
    }

    [Fact]
    public async Task The_job_rolls_up_complete_hours_only_and_running_it_again_changes_nothing()
    {
        var (user, org) = await OwnerAsync(host);
        var clock = new FakeTimeProvider(At(10, 10, 30));
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 1_000, 500, At(10, 8, 15), latencyMs: 200), clock);
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 3_000, 0, At(10, 8, 59), UsageStatus.Failed, latencyMs: 400), clock);
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o", 10, 10, At(10, 9, 0)), clock);
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o", 10, 10, At(10, 10, 5)), clock);

        await AggregateAsync(host, clock);
        var once = await HourlyAsync(org);
        var pending = (await RecordsAsync(org)).Where(r => !r.Aggregated).ToList();
        await AggregateAsync(host, clock);
        var twice = await HourlyAsync(org);
        clock.SetUtcNow(At(10, 11, 5));
        await AggregateAsync(host, clock);
        var later = await HourlyAsync(org);
        var watermark = await WatermarkAsync();

        Assert.Equal([(At(10, 8, 0), "gpt-4o-mini"), (At(10, 9, 0), "gpt-4o")], once.Select(h => (h.HourStart, h.Model)));
        var eight = once[0];
        Assert.Equal((2L, 1L, 4_000L, 500L, 15_000L + 30_000 + 45_000, 600L),
            (eight.Requests, eight.Failures, eight.InputTokens, eight.OutputTokens, eight.CostMicros, eight.LatencyMsSum));
        Assert.Equal(At(10, 10, 5), Assert.Single(pending).CreatedAt);
        Assert.Equal(Describe(once), Describe(twice));
        Assert.Equal(3, later.Count);
        Assert.Equal(At(10, 10, 0), later[^1].HourStart);
        Assert.True(watermark >= At(10, 11, 0));
    }

    [Fact]
    public async Task A_late_record_for_an_aggregated_hour_is_read_at_once_and_rolled_up_on_the_next_run_without_doubling()
    {
        var (user, org) = await OwnerAsync(host);
        var clock = new FakeTimeProvider(At(12, 14, 10));
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 1_000, 0, At(12, 13, 20)), clock);
        await AggregateAsync(host, clock);
        var range = new UsageRange(new DateOnly(2031, 3, 12), new DateOnly(2031, 3, 12));

        clock.Advance(TimeSpan.FromMinutes(30));
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 2_000, 0, At(12, 13, 40)), clock);
        var beforeRun = await TotalAsync(org, range);
        var reaggregated = await AggregateAsync(host, clock);
        var afterRun = await TotalAsync(org, range);
        await AggregateAsync(host, clock);
        var again = await TotalAsync(org, range);
        var hour = Assert.Single(await HourlyAsync(org));

        Assert.True(reaggregated >= 1);
        Assert.Equal((2L, 3_000L, 45_000L), beforeRun);
        Assert.Equal(beforeRun, afterRun);
        Assert.Equal(beforeRun, again);
        Assert.Equal((2L, 3_000L), (hour.Requests, hour.InputTokens));
        Assert.All(await RecordsAsync(org), r => Assert.True(r.Aggregated));
    }

    [Fact]
    public async Task Usage_by_channel_keeps_mcp_calls_apart_before_and_after_the_roll_up()
    {
        var (user, org) = await OwnerAsync(host);
        var clock = new FakeTimeProvider(At(14, 9, 10));
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 1_000, 0, At(14, 8, 5)), clock);
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 2_000, 0, At(14, 8, 20)) with { Channel = "mcp", ClientId = "desktop-client" }, clock);
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 3_000, 0, At(14, 8, 40)) with { Channel = "mcp" }, clock);
        var range = new UsageRange(new DateOnly(2031, 3, 14), new DateOnly(2031, 3, 14));

        var before = await ByChannelAsync(org, range);
        await AggregateAsync(host, clock);
        var after = await ByChannelAsync(org, range);

        Assert.Equal([(null, 1L, 1_000L), ("mcp", 2L, 5_000L)], before);
        Assert.Equal(before, after);
        Assert.Equal(["", "mcp"], (await HourlyAsync(org)).Select(h => h.Channel ?? "").Order());
    }

    async Task<List<(string? Channel, long Requests, long InputTokens)>> ByChannelAsync(Guid org, UsageRange range)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<UsageQueries>().UsageAsync(new UsageScope(org), range, UsageGrouping.Channel, Ct);
        return [.. result.Rows.Select(r => (r.Channel, r.Requests, r.InputTokens))];
    }

    [Fact]
    public async Task The_hourly_job_is_scheduled_and_hangfire_runs_it()
    {
        var (user, org) = await OwnerAsync(host);
        await RecordAsync(host, Call(org, user, "openai", "gpt-4o-mini", 10, 10, DateTimeOffset.UtcNow.AddHours(-2)));
        string cron;
        using (var connection = host.App.Services.GetRequiredService<JobStorage>().GetConnection())
            cron = connection.GetRecurringJobs().Single(j => j.Id == UsageExtensions.AggregationJobId).Cron;

        host.App.Services.GetRequiredService<IRecurringJobManager>().Trigger(UsageExtensions.AggregationJobId);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (!(await RecordsAsync(org)).All(r => r.Aggregated) && DateTimeOffset.UtcNow < deadline)
            await Task.Delay(200, Ct);

        Assert.Equal("5 * * * *", cron);
        Assert.True((await RecordsAsync(org)).All(r => r.Aggregated), "the job did not aggregate the record within 30 seconds");
        Assert.Single(await HourlyAsync(org));
    }

    async Task<(long Requests, long Input, long Cost)> TotalAsync(Guid org, UsageRange range)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var result = await scope.ServiceProvider.GetRequiredService<UsageQueries>().UsageAsync(new UsageScope(org), range, UsageGrouping.Model, Ct);
        return (result.Total.Requests, result.Total.InputTokens, result.Total.CostMicros);
    }

    static List<string> Describe(List<UsageHourly> hours) =>
        hours.Select(h => $"{h.HourStart:O} {h.Provider}/{h.Model} {h.Requests} {h.Failures} {h.InputTokens} {h.OutputTokens} {h.CostMicros} {h.LatencyMsSum}").ToList();

    async Task<List<UsageRecord>> RecordsAsync(Guid org)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().AsNoTracking().Where(r => r.OrganizationId == org).ToListAsync(Ct);
    }

    async Task<List<UsageHourly>> HourlyAsync(Guid org)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var hours = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageHourly>().AsNoTracking().Where(h => h.OrganizationId == org).ToListAsync(Ct);
        return [.. hours.OrderBy(h => h.HourStart).ThenBy(h => h.Model, StringComparer.Ordinal)];
    }

    async Task<DateTimeOffset> WatermarkAsync()
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<UsageAggregator>().WatermarkAsync(Ct)).AggregatedUntil;
    }
}

public sealed class UsageAggregationOnSqlite(SqliteIdentityFixture fixture) : UsageAggregationTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class UsageAggregationOnPostgres(PostgresIdentityFixture fixture) : UsageAggregationTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
