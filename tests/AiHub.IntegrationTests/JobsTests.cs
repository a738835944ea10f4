using System.Net.Http.Json;
using System.Collections.Concurrent;
using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Jobs;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests;

/// <summary>Background work is recorded before it is queued, retried with back-off, and never lost or run twice at once.</summary>
public abstract class JobsTests(string provider)
{
    [Fact]
    public async Task Queued_work_runs_and_is_recorded_as_succeeded()
    {
        var (item, log) = await RunToEndAsync(new ProbePayload("succeed"));

        Assert.Equal(WorkState.Succeeded, item.State);
        Assert.Equal(1, item.Attempts);
        Assert.NotNull(item.CompletedAt);
        Assert.Equal(1, log.Runs(item.Id));
    }

    [Fact]
    public async Task Transient_failures_are_retried_until_the_work_succeeds()
    {
        var (item, _) = await RunToEndAsync(new ProbePayload("fail-then-succeed", FailTimes: 2));

        Assert.Equal(WorkState.Succeeded, item.State);
        Assert.Equal(3, item.Attempts);
        Assert.Null(item.LastError);
    }

    [Fact]
    public async Task Work_that_keeps_failing_stops_after_the_last_attempt_with_its_error()
    {
        var (item, _) = await RunToEndAsync(new ProbePayload("fail-then-succeed", FailTimes: 100), new() { ["Jobs:MaxAttempts"] = "3" });

        Assert.Equal(WorkState.Failed, item.State);
        Assert.Equal(3, item.Attempts);
        Assert.Contains("upstream said no", item.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fatal_work_is_not_retried()
    {
        var (item, log) = await RunToEndAsync(new ProbePayload("fatal"));

        Assert.Equal(WorkState.Failed, item.State);
        Assert.Equal(1, log.Runs(item.Id));
    }

    [Fact]
    public async Task The_same_item_queued_twice_runs_once()
    {
        await using var database = await CreateDatabaseAsync();
        var log = new ProbeLog();
        await using var app = AppWith(database, log);

        var id = await EnqueueAsync(app, new ProbePayload("succeed", DelayMs: 300));
        using (var scope = app.Services.CreateScope())
            WorkQueue.Dispatch(scope.ServiceProvider.GetRequiredService<Hangfire.IBackgroundJobClient>(), id);
        await WaitForEndAsync(app, id);
        await Task.Delay(500, TestContext.Current.CancellationToken);

        Assert.Equal(1, log.Runs(id));
        Assert.Equal(1, log.MaxConcurrent);
    }

    [Fact]
    public async Task Stale_pending_work_whose_queue_entry_was_lost_is_swept_up()
    {
        await using var database = await CreateDatabaseAsync();
        var log = new ProbeLog();
        await using var app = AppWith(database, log);
        var id = await InsertOrphanAsync(app, WorkState.Pending, TimeSpan.FromMinutes(30));

        using (var scope = app.Services.CreateScope())
            Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<WorkRecovery>().SweepAsync(TestContext.Current.CancellationToken));
        var item = await WaitForEndAsync(app, id);

        Assert.Equal(WorkState.Succeeded, item.State);
    }

    protected Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.CreateAsync(provider);

    async Task<(WorkItem Item, ProbeLog Log)> RunToEndAsync(ProbePayload payload, Dictionary<string, string?>? settings = null)
    {
        await using var database = await CreateDatabaseAsync();
        var log = new ProbeLog();
        await using var app = AppWith(database, log, settings);
        var id = await EnqueueAsync(app, payload);
        return (await WaitForEndAsync(app, id), log);
    }

    internal static AiHubApp AppWith(TestDatabase database, ProbeLog log, Dictionary<string, string?>? settings = null) =>
        AiHubApp.On(database, settings, services =>
        {
            services.AddSingleton(log);
            services.AddScoped<IWorkHandler, ProbeHandler>();
        });

    internal static async Task<Guid> EnqueueAsync(AiHubApp app, ProbePayload payload)
    {
        using var scope = app.Services.CreateScope();
        var item = await scope.ServiceProvider.GetRequiredService<WorkQueue>().EnqueueAsync(ProbeHandler.KindName, payload, TestContext.Current.CancellationToken);
        return item.Id;
    }

    /// <summary>Writes a row as a crashed process would leave it: recorded, but with no queue entry behind it.</summary>
    internal static async Task<Guid> InsertOrphanAsync(AiHubApp app, WorkState state, TimeSpan age)
    {
        using var scope = app.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var then = DateTimeOffset.UtcNow - age;
        var item = new WorkItem
        {
            Id = Guid.NewGuid(),
            Kind = ProbeHandler.KindName,
            Payload = JsonSerializer.Serialize(new ProbePayload("succeed"), JsonSerializerOptions.Web),
            State = state,
            Attempts = state == WorkState.Running ? 1 : 0,
            CreatedAt = then,
            UpdatedAt = then,
            LeaseUntil = state == WorkState.Running ? DateTimeOffset.UtcNow.AddMinutes(5) : null,
        };
        db.WorkItems.Add(item);
        await db.SaveChangesAsync(TestContext.Current.CancellationToken);
        return item.Id;
    }

    internal static async Task<WorkItem> WaitForEndAsync(AiHubApp app, Guid id, TimeSpan? within = null)
    {
        var limit = within ?? TimeSpan.FromSeconds(30);
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            using (var scope = app.Services.CreateScope())
            {
                var item = await scope.ServiceProvider.GetRequiredService<AppDbContext>().WorkItems.AsNoTracking()
                    .SingleAsync(w => w.Id == id, TestContext.Current.CancellationToken);
                if (item.State is WorkState.Succeeded or WorkState.Failed)
                    return item;
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"Work item {id} is still {item.State} after {limit.TotalSeconds:0} s (attempts {item.Attempts}, error {item.LastError}).");
            }
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}

public sealed class JobsOnSqlite() : JobsTests("Sqlite")
{
    [Fact]
    public async Task Work_left_unfinished_by_a_crash_runs_when_the_embedded_node_starts_again()
    {
        await using var database = await CreateDatabaseAsync();
        var log = new ProbeLog();
        Guid running, pending;
        await using (var before = AppWith(database, log))
        {
            running = await InsertOrphanAsync(before, WorkState.Running, TimeSpan.FromMinutes(1));
            pending = await InsertOrphanAsync(before, WorkState.Pending, TimeSpan.FromSeconds(1));
        }

        await using var after = AppWith(database, log);
        var first = await WaitForEndAsync(after, running);
        var second = await WaitForEndAsync(after, pending);

        Assert.Equal(WorkState.Succeeded, first.State);
        Assert.Equal(WorkState.Succeeded, second.State);
    }
}

public sealed class JobsOnPostgres() : JobsTests("Postgres")
{
    [Fact]
    public async Task Work_queued_on_a_web_node_is_run_by_a_worker_node_of_the_same_cluster()
    {
        await using var database = await CreateDatabaseAsync();
        var webLog = new ProbeLog();
        var workerLog = new ProbeLog();
        await using var web = AppWith(database, webLog, new() { ["Node:Role"] = "Web" });
        await using var worker = AppWith(database, workerLog, new() { ["Node:Role"] = "Worker" });
        _ = worker.Services; // start the worker node

        var id = await EnqueueAsync(web, new ProbePayload("succeed"));
        var item = await WaitForEndAsync(web, id);

        Assert.Equal(WorkState.Succeeded, item.State);
        Assert.Equal(0, webLog.Runs(id));
        Assert.Equal(1, workerLog.Runs(id));
    }
}

public sealed class JobsAcrossProcesses
{
    [Fact]
    public async Task Work_queued_by_another_node_starts_at_once_on_an_idle_worker_process()
    {
        await using var database = await TestDatabase.CreateAsync("Postgres");
        var mail = Directory.CreateTempSubdirectory("aihub-worker-mail-").FullName;
        await using var web = JobsTests.AppWith(database, new ProbeLog(), new() { ["Node:Role"] = "Web" });
        using var client = web.CreateClient();
        var worker = new Dictionary<string, string>
        {
            ["AIHUB_Database__Provider"] = "Postgres",
            ["AIHUB_Database__ConnectionString"] = database.ConnectionString,
            ["AIHUB_Node__Role"] = "Worker",
            ["AIHUB_Email__PickupDirectory"] = mail,
            // Only the notification can wake it in time: its fallback poll comes later than the test waits.
            ["AIHUB_Jobs__QueuePollInterval"] = "00:00:30",
        };
        WorkItem? sent = null;

        await AiHubProcess.ServeAsync(worker, AppContext.BaseDirectory, async _ =>
        {
            // Long enough for the worker process to have looked once, found nothing and gone idle until its next poll.
            await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);
            using var registered = await client.PostAsJsonAsync("/api/auth/register",
                new { email = "idle-worker@example.com", password = "correct horse 1" }, TestContext.Current.CancellationToken);
            registered.EnsureSuccessStatusCode();
            using var scope = web.Services.CreateScope();
            var id = await scope.ServiceProvider.GetRequiredService<AppDbContext>().WorkItems.AsNoTracking()
                .Where(w => w.Kind == "email.send").Select(w => w.Id).SingleAsync(TestContext.Current.CancellationToken);
            sent = await JobsTests.WaitForEndAsync(web, id, TimeSpan.FromSeconds(8));
        }, until: _ => true);

        Assert.Equal(WorkState.Succeeded, sent?.State);
        Assert.Single(Directory.GetFiles(mail, "*.eml"));
    }
}

internal sealed record ProbePayload(string Mode, int FailTimes = 0, int DelayMs = 0);

internal sealed class ProbeLog
{
    readonly ConcurrentDictionary<Guid, int> _runs = new();
    int _concurrent;

    public int MaxConcurrent { get; private set; }

    public int Runs(Guid id) => _runs.GetValueOrDefault(id);

    public int Enter(Guid id)
    {
        var now = Interlocked.Increment(ref _concurrent);
        lock (_runs)
            MaxConcurrent = Math.Max(MaxConcurrent, now);
        return _runs.AddOrUpdate(id, 1, (_, n) => n + 1);
    }

    public void Leave() => Interlocked.Decrement(ref _concurrent);
}

internal sealed class ProbeHandler(ProbeLog log) : IWorkHandler
{
    public const string KindName = "test.probe";

    public string Kind => KindName;

    public async Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct)
    {
        var payload = JsonSerializer.Deserialize<ProbePayload>(item.Payload, JsonSerializerOptions.Web)!;
        var run = log.Enter(item.Id);
        try
        {
            await Task.Delay(payload.DelayMs, ct);
            return payload.Mode switch
            {
                "fatal" => WorkResult.Fatal,
                "fail-then-succeed" when run <= payload.FailTimes => throw new HttpRequestException("upstream said no"),
                _ => WorkResult.Success,
            };
        }
        finally
        {
            log.Leave();
        }
    }
}
