using System.Data.Common;
using System.Text;
using System.Threading.Channels;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;

namespace AiHub.Credits.Usage;

/// <summary>
/// Usage records of high-rate callers (the gateway), group-committed: what callers hand in while one transaction runs
/// goes into the next, as one multi-row insert. Each call returns once its record is durable.
/// </summary>
/// <remarks>
/// A record whose id was written before is skipped by the insert itself (<c>ON CONFLICT (idempotency_key) DO NOTHING</c>),
/// so a retried call writes nothing. If a batch fails as a whole, each of its records is written again alone and
/// answers for itself; nothing that goes wrong stops the loop. On stop, what is queued is still written.
/// </remarks>
internal sealed partial class UsageWriter(IServiceScopeFactory scopes, TimeProvider clock, ILogger<UsageWriter> log) : BackgroundService
{
    const int MaxBatch = 256;

    readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    Insert? _insert;
    long _commits;

    /// <summary>How many transactions have written records so far: fewer than the records when callers overlap.</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Records one call; its cost must be given. The same id again writes nothing.</summary>
    public async Task RecordAsync(UsageEntry entry, CancellationToken ct)
    {
        if (entry.CostMicros is not { } cost)
            throw new ArgumentException("The gateway always knows what a call cost.", nameof(entry));
        UsageMeter.Validate(entry);
        var pending = new Pending(UsageMeter.ToRecord(entry, cost, clock.GetUtcNow()));
        if (!_queue.Writer.TryWrite(pending))
            throw new ObjectDisposedException(nameof(UsageWriter), "The node is stopping; it records no more usage.");
        // A caller that stops waiting does not withdraw its record: it is written, and a retry with the same id writes nothing.
        await pending.Done.Task.WaitAsync(ct);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Once asked to stop, no more records are taken in; those already queued are still written.
        await using var stop = stoppingToken.Register(() => _queue.Writer.TryComplete());
        var batch = new List<Pending>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
                batch.Add(next);
            try
            {
                await WriteAsync(batch);
                foreach (var pending in batch)
                    pending.Done.TrySetResult();
            }
            catch (Exception e)
            {
                LogBatchFailed(e, batch.Count);
                foreach (var pending in batch)
                    await WriteAloneAsync(pending);
            }
            finally
            {
                batch.Clear();
            }
        }
    }

    async Task WriteAloneAsync(Pending pending)
    {
        try
        {
            await WriteAsync([pending]);
            pending.Done.TrySetResult();
        }
        catch (Exception e)
        {
            pending.Done.TrySetException(e);
        }
    }

    async Task WriteAsync(IReadOnlyList<Pending> batch)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var insert = _insert ??= Insert.For(db);
        await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync();
            await using var command = db.Database.GetDbConnection().CreateCommand();
            var (sql, parameters) = insert.Build(command, batch);
            await db.Database.ExecuteSqlRawAsync(sql, parameters);
            await transaction.CommitAsync();
        });
        Interlocked.Increment(ref _commits);
    }

    sealed record Pending(UsageRecord Record)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The insert of usage rows, built from the EF model so columns, names and value conversions match what EF writes.</summary>
    sealed class Insert(string prefix, string suffix, (IProperty Property, RelationalTypeMapping Mapping)[] columns)
    {
        public static Insert For(AppDbContext db)
        {
            var entity = db.Model.FindEntityType(typeof(UsageRecord)) ?? throw new InvalidOperationException("Usage records are not in the model.");
            var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
            var sql = db.GetService<ISqlGenerationHelper>();
            var columns = entity.GetProperties().Select(p => (p, p.GetRelationalTypeMapping())).ToArray();
            var key = entity.FindProperty(nameof(UsageRecord.IdempotencyKey))!.GetColumnName(table)!;
            var names = string.Join(", ", columns.Select(c => sql.DelimitIdentifier(c.p.GetColumnName(table)!)));
            return new Insert($"INSERT INTO {sql.DelimitIdentifier(table.Name, table.Schema)} ({names}) VALUES ",
                $" ON CONFLICT ({sql.DelimitIdentifier(key)}) DO NOTHING", columns);
        }

        public (string Sql, List<DbParameter> Parameters) Build(DbCommand command, IReadOnlyList<Pending> batch)
        {
            var text = new StringBuilder(prefix, prefix.Length + suffix.Length + batch.Count * columns.Length * 8);
            var parameters = new List<DbParameter>(batch.Count * columns.Length);
            for (var row = 0; row < batch.Count; row++)
            {
                text.Append(row == 0 ? "(" : ", (");
                for (var c = 0; c < columns.Length; c++)
                {
                    var (property, mapping) = columns[c];
                    var name = $"@u{parameters.Count}";
                    text.Append(c == 0 ? name : ", " + name);
                    parameters.Add(mapping.CreateParameter(command, name, property.GetGetter().GetClrValueUsingContainingEntity(batch[row].Record), property.IsNullable));
                }
                text.Append(')');
            }
            return (text.Append(suffix).ToString(), parameters);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} usage records failed as a whole; writing each on its own")]
    partial void LogBatchFailed(Exception e, int count);
}
