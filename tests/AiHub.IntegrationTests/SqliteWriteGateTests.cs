using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AiHub.Credits.Usage;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests;

/// <summary>
/// Writers on the embedded database take turns in the process: a writer waits for the one that holds the lock and goes
/// on as soon as it ends, however it ends. A turn that leaked would keep the next writer out for the gate's 30 s.
/// </summary>
public sealed class SqliteWriteGateTests : IAsyncLifetime
{
    static readonly TimeSpan Promptly = TimeSpan.FromSeconds(10);
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    readonly TestDatabase _database = TestDatabase.Sqlite();
    AiHubApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        _app = AiHubApp.On(_database);
        await using var scope = _app.Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<AppDbContext>().Database
            .ExecuteSqlRawAsync("CREATE TABLE gate_probe (id INTEGER PRIMARY KEY, note TEXT NOT NULL)", Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        await _database.DisposeAsync();
    }

    [Fact]
    public async Task A_write_waits_for_the_transaction_that_holds_the_lock_and_goes_on_when_it_commits()
    {
        await using var holder = _app.Services.CreateAsyncScope();
        var held = Db(holder);
        await using (var transaction = await held.Database.BeginTransactionAsync(Ct))
        {
            await InsertAsync(held, "first");
            var waiting = WriteAloneAsync("second");
            await Task.Delay(300, Ct);
            Assert.False(waiting.IsCompleted, "a second writer got in while a transaction held the lock");
            await transaction.CommitAsync(Ct);
            await waiting.WaitAsync(Promptly, Ct);
        }
        Assert.Equal(["first", "second"], await NotesAsync());
    }

    [Fact]
    public async Task Every_way_a_turn_ends_lets_the_next_writer_in()
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var db = Db(scope);

        // A transaction disposed without commit or rollback.
        await using (await db.Database.BeginTransactionAsync(Ct))
            await InsertAsync(db, "dropped");
        await WriteAloneAsync("after a dropped transaction").WaitAsync(Promptly, Ct);

        await using (var transaction = await db.Database.BeginTransactionAsync(Ct))
        {
            await InsertAsync(db, "rolled back");
            await transaction.RollbackAsync(Ct);
        }
        await WriteAloneAsync("after a rollback").WaitAsync(Promptly, Ct);

        await Assert.ThrowsAsync<SqliteException>(() => db.Database.ExecuteSqlRawAsync("INSERT INTO gate_probe (id, note) VALUES (1, NULL)", Ct));
        await WriteAloneAsync("after a failed write").WaitAsync(Promptly, Ct);

        // INSERT … RETURNING reads back what it wrote, as EF's own inserts do.
        var id = await db.Database.SqlQueryRaw<long>("INSERT INTO gate_probe (note) VALUES ('returned') RETURNING id AS \"Value\"").ToListAsync(Ct);
        Assert.Single(id);
        await WriteAloneAsync("after a returning insert").WaitAsync(Promptly, Ct);

        Assert.Equal(["after a dropped transaction", "after a rollback", "after a failed write", "returned", "after a returning insert"], await NotesAsync());
    }

    [Fact]
    public async Task Many_writers_at_once_all_get_their_turn()
    {
        var writers = Enumerable.Range(0, 64).Select(i => Task.Run(() => i % 2 == 0
            ? WriteAloneAsync($"alone {i}")
            : WriteInTransactionAsync($"in a transaction {i}"), Ct));
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        Assert.Equal(64, (await NotesAsync()).Count);
    }

    [Fact]
    public async Task A_usage_read_runs_beside_a_writer_that_holds_the_turn()
    {
        await using var holder = _app.Services.CreateAsyncScope();
        var held = Db(holder);
        await using var transaction = await held.Database.BeginTransactionAsync(Ct);
        await InsertAsync(held, "held");

        await using var reader = _app.Services.CreateAsyncScope();
        var queries = reader.ServiceProvider.GetRequiredService<UsageQueries>();
        var today = queries.Today;
        var usage = await queries.UsageAsync(new UsageScope(UserId: Guid.CreateVersion7()), new UsageRange(today.AddDays(-7), today), UsageGrouping.Day, Ct)
            .WaitAsync(Promptly, Ct);

        Assert.NotNull(usage);
        await transaction.CommitAsync(Ct);
        Assert.Equal(["held"], await NotesAsync());
    }

    [Fact]
    public async Task A_context_disposed_while_its_open_connection_holds_a_turn_gives_the_turn_back()
    {
        await using (var scope = _app.Services.CreateAsyncScope())
        {
            var db = Db(scope);
            await db.Database.OpenConnectionAsync(Ct);
            await db.Database.BeginTransactionAsync(Ct);
            await InsertAsync(db, "never committed");
        }

        await WriteAloneAsync("after a disposed context").WaitAsync(Promptly, Ct);

        Assert.Equal(["after a disposed context"], await NotesAsync());
    }

    [Fact]
    public async Task How_long_each_turn_was_held_is_recorded()
    {
        var factory = _app.Services.GetRequiredService<IMeterFactory>();
        var turns = new ConcurrentQueue<(double Seconds, object? Kind)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Scope == factory && instrument.Name == SqliteWriteGate.TurnDuration)
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<double>((_, seconds, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "turn")
                    turns.Enqueue((seconds, tag.Value));
        });
        listener.Start();

        await using (var scope = _app.Services.CreateAsyncScope())
        {
            var db = Db(scope);
            await using var transaction = await db.Database.BeginTransactionAsync(Ct);
            await InsertAsync(db, "slow");
            await Task.Delay(300, Ct);
            await transaction.CommitAsync(Ct);
        }
        await WriteAloneAsync("quick");

        Assert.Contains(turns, t => Equals(t.Kind, "transaction") && t.Seconds >= 0.25);
        Assert.Contains(turns, t => Equals(t.Kind, "statement") && t.Seconds >= 0);
    }

    [Fact]
    public async Task Commits_are_synced_to_disk_in_full()
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var db = Db(scope);

        var mode = await db.Database.SqlQueryRaw<long>("PRAGMA synchronous").ToListAsync(Ct);
        var journal = await db.Database.SqlQueryRaw<string>("PRAGMA journal_mode").ToListAsync(Ct);

        // 2 is FULL: a ledger write acknowledged to a client survives a power cut (ADR 0008).
        Assert.Equal([2L], mode);
        Assert.Equal(["wal"], journal);
    }

    static AppDbContext Db(AsyncServiceScope scope) => scope.ServiceProvider.GetRequiredService<AppDbContext>();

    static Task<int> InsertAsync(AppDbContext db, string note) =>
        db.Database.ExecuteSqlAsync($"INSERT INTO gate_probe (note) VALUES ({note})", Ct);

    async Task WriteAloneAsync(string note)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        await InsertAsync(Db(scope), note);
    }

    async Task WriteInTransactionAsync(string note)
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var db = Db(scope);
        await using var transaction = await db.Database.BeginTransactionAsync(Ct);
        await InsertAsync(db, note);
        await transaction.CommitAsync(Ct);
    }

    async Task<List<string>> NotesAsync()
    {
        await using var scope = _app.Services.CreateAsyncScope();
        return await Db(scope).Database.SqlQueryRaw<string>("SELECT note AS \"Value\" FROM gate_probe ORDER BY id").ToListAsync(Ct);
    }
}
