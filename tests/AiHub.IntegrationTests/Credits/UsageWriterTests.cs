using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Credits;

/// <summary>The gateway's usage records, group-committed on a real database: durable when the call returns, written once, many per commit.</summary>
public abstract class UsageWriterTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Concurrent_records_share_commits_each_is_durable_on_return_and_a_repeated_id_writes_nothing()
    {
        var (userId, orgId) = await UsageSupport.OwnerAsync(host);
        var writer = host.App.Services.GetRequiredService<UsageWriter>();
        var reservation = Guid.NewGuid();
        var at = new DateTimeOffset(2026, 3, 4, 5, 6, 7, TimeSpan.FromHours(2));
        var entries = Enumerable.Range(0, 200).Select(i => new UsageEntry($"writer:{orgId:N}:{i}", orgId, userId, " OpenAI ", "GPT-4o-Mini", 10 + i, 5, 3,
            i % 10 == 0 ? UsageStatus.Incomplete : UsageStatus.Succeeded, ReservationId: reservation, CostMicros: 100 + i, OccurredAt: at)).ToList();
        var commitsBefore = writer.Commits;

        // Each record is looked for on a connection of its own right after its call returns, and the first 50 are recorded twice at once.
        var seen = await Task.WhenAll(entries.Concat(entries.Take(50)).Select(e => Task.Run(async () =>
        {
            await writer.RecordAsync(e, Ct);
            await using var scope = host.App.Services.CreateAsyncScope();
            return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AnyAsync(r => r.IdempotencyKey == e.Id, Ct);
        })));
        await writer.RecordAsync(entries[7] with { CostMicros = 999_999 }, Ct);
        var commits = writer.Commits - commitsBefore;
        await using var read = host.App.Services.CreateAsyncScope();
        var rows = await read.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().AsNoTracking().IgnoreQueryFilters()
            .Where(r => r.OrganizationId == orgId).ToListAsync(Ct);
        var seventh = rows.Single(r => r.IdempotencyKey == entries[7].Id);

        Assert.All(seen, Assert.True);
        Assert.Equal(200, rows.Count);
        Assert.InRange(commits, 1, 150);
        Assert.Equal(Enumerable.Range(0, 200).Sum(i => 100L + i), rows.Sum(r => r.CostMicros));
        Assert.Equal(("openai", "gpt-4o-mini", 107L, 17L, 5L, 3L), (seventh.Provider, seventh.Model, seventh.CostMicros, seventh.InputTokens, seventh.OutputTokens, seventh.LatencyMs));
        Assert.Equal((reservation, (Guid?)null, UsageStatus.Succeeded, false), (seventh.ReservationId!.Value, seventh.ApiKeyId, seventh.Status, seventh.Aggregated));
        Assert.Equal((at, new DateTimeOffset(2026, 3, 4, 3, 0, 0, TimeSpan.Zero)), (seventh.CreatedAt, seventh.HourStart));
        Assert.Equal(20, rows.Count(r => r.Status == UsageStatus.Incomplete));
    }

    [Fact]
    public async Task A_record_without_a_cost_or_with_a_bad_field_is_refused_before_anything_is_written()
    {
        var (userId, orgId) = await UsageSupport.OwnerAsync(host);
        var writer = host.App.Services.GetRequiredService<UsageWriter>();

        await Assert.ThrowsAsync<ArgumentException>(() => writer.RecordAsync(new UsageEntry($"nocost:{orgId:N}", orgId, userId, "openai", "m", 1, 1, 1, UsageStatus.Succeeded), Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => writer.RecordAsync(new UsageEntry($"negative:{orgId:N}", orgId, userId, "openai", "m", -1, 1, 1, UsageStatus.Succeeded, CostMicros: 1), Ct));
        await using var read = host.App.Services.CreateAsyncScope();

        Assert.False(await read.ServiceProvider.GetRequiredService<AppDbContext>().Set<UsageRecord>().IgnoreQueryFilters().AnyAsync(r => r.OrganizationId == orgId, Ct));
    }
}

public sealed class UsageWriterOnSqlite(SqliteIdentityFixture fixture) : UsageWriterTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class UsageWriterOnPostgres(PostgresIdentityFixture fixture) : UsageWriterTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
