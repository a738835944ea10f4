using System.Data.Common;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using AiHub.Infrastructure.Telemetry;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace AiHub.Data;

/// <summary>
/// Takes turns at SQLite's one write lock inside the process. SQLite lets one writer in at a time, and
/// Microsoft.Data.Sqlite makes the others retry with a blocking sleep (150 ms a try): under load that parks thread-pool
/// threads and stalls every stream the node relays. Here a writer waits asynchronously for the lock instead.
/// </summary>
/// <remarks>
/// A turn starts where SQLite's lock would be taken: at a transaction's start (Microsoft.Data.Sqlite begins them
/// IMMEDIATE, so they hold the lock from the start), or at a write statement outside any transaction; it ends at commit,
/// rollback, the statement's end or the connection's close. The turns mirror SQLite's own lock, so they add no wait
/// SQLite would not impose; a writer that waits longer than a command's timeout goes on without its turn and leaves the
/// rest to SQLite, with a warning. Read-only snapshots begin DEFERRED (<see cref="ReadSnapshot"/>) and take no turn.
/// How long each turn is held is recorded as <c>aihub.sqlite.write_turn.duration</c>.
/// </remarks>
internal sealed class SqliteWriteGate : IDbTransactionInterceptor, IDbCommandInterceptor, IDbConnectionInterceptor, IDisposable
{
    public const string TurnDuration = "aihub.sqlite.write_turn.duration";

    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    static readonly string[] Writes = ["INSERT", "UPDATE", "DELETE", "REPLACE"];

    readonly SemaphoreSlim _lock = new(1, 1);
    readonly ConditionalWeakTable<DbConnection, Turn> _turns = [];
    readonly ILogger<SqliteWriteGate> _log;
    readonly TimeProvider _clock;
    readonly Histogram<double> _held;

    public SqliteWriteGate(ILogger<SqliteWriteGate> log, TimeProvider clock, IMeterFactory meters)
    {
        (_log, _clock) = (log, clock);
        _held = meters.Create(TelemetryExtensions.MeterName).CreateHistogram<double>(TurnDuration, "s",
            "How long a writer held the embedded database's one write turn (a transaction or a lone write statement).");
    }

    sealed class Turn
    {
        public bool Held;

        public long Since;

        // A lone statement's turn ends with the statement; a transaction's outlives each of its statements.
        public bool ByStatement;
    }

    public InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        Enter(connection, byStatement: false);
        return result;
    }

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        await EnterAsync(connection, byStatement: false, cancellationToken);
        return result;
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Leave(Connection(eventData));

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default) =>
        Leave(Connection(eventData));

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Leave(Connection(eventData));

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default) =>
        Leave(Connection(eventData));

    public void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => Leave(Connection(eventData));

    public Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default) =>
        Leave(Connection(eventData));

    public InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
    {
        if (IsLoneWrite(command))
            Enter(command.Connection!, byStatement: true);
        return result;
    }

    public async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        if (IsLoneWrite(command))
            await EnterAsync(command.Connection!, byStatement: true, cancellationToken);
        return result;
    }

    // An INSERT … RETURNING holds the lock until its reader is done with.
    public InterceptionResult DataReaderDisposing(DbCommand command, DataReaderDisposingEventData eventData, InterceptionResult result)
    {
        EndStatement(command);
        return result;
    }

    public InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (IsLoneWrite(command))
            Enter(command.Connection!, byStatement: true);
        return result;
    }

    public async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (IsLoneWrite(command))
            await EnterAsync(command.Connection!, byStatement: true, cancellationToken);
        return result;
    }

    public int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        EndStatement(command);
        return result;
    }

    public ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        EndStatement(command);
        return ValueTask.FromResult(result);
    }

    public void CommandFailed(DbCommand command, CommandErrorEventData eventData) => EndStatement(command);

    public Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default) =>
        EndStatement(command);

    public void CommandCanceled(DbCommand command, CommandEndEventData eventData) => EndStatement(command);

    public Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default) =>
        EndStatement(command);

    // Whatever was left open (a transaction disposed without commit or rollback) ends with its connection.
    public void ConnectionClosed(DbConnection connection, ConnectionEndEventData eventData) => Leave(connection);

    public Task ConnectionClosedAsync(DbConnection connection, ConnectionEndEventData eventData) => Leave(connection);

    // A context disposed with its own connection open disposes it without closing it through EF first.
    public InterceptionResult ConnectionDisposing(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        Leave(connection);
        return result;
    }

    public async ValueTask<InterceptionResult> ConnectionDisposingAsync(DbConnection connection, ConnectionEventData eventData, InterceptionResult result)
    {
        await Leave(connection);
        return result;
    }

    /// <summary>A write statement that runs on its own, in SQLite's autocommit, rather than inside a transaction.</summary>
    static bool IsLoneWrite(DbCommand command)
    {
        if (command.Transaction is not null || command.Connection is null)
            return false;
        var text = command.CommandText.AsSpan().TrimStart();
        // EF's tags come first as comment lines.
        while (text.StartsWith("--"))
        {
            var end = text.IndexOf('\n');
            text = end < 0 ? [] : text[(end + 1)..].TrimStart();
        }
        foreach (var verb in Writes)
            if (text.StartsWith(verb, StringComparison.OrdinalIgnoreCase))
                return true;
        return false;
    }

    void Enter(DbConnection connection, bool byStatement)
    {
        var turn = _turns.GetOrCreateValue(connection);
        if (!turn.Held)
            Took(turn, _lock.Wait(Patience), byStatement);
    }

    async Task EnterAsync(DbConnection connection, bool byStatement, CancellationToken ct)
    {
        var turn = _turns.GetOrCreateValue(connection);
        if (!turn.Held)
            Took(turn, await _lock.WaitAsync(Patience, ct), byStatement);
    }

    void Took(Turn turn, bool taken, bool byStatement)
    {
        if (taken)
            (turn.Held, turn.ByStatement, turn.Since) = (true, byStatement, _clock.GetTimestamp());
        else
            _log.LogWarning("A database write waited {Seconds} s for its turn; it goes on without one and SQLite makes it wait if it must", Patience.TotalSeconds);
    }

    /// <summary>The end of any statement: gives back the turn only if a lone write took it.</summary>
    Task EndStatement(DbCommand command) =>
        command.Connection is { } connection && _turns.TryGetValue(connection, out var turn) && turn.ByStatement ? Leave(connection) : Task.CompletedTask;

    Task Leave(DbConnection? connection)
    {
        if (connection is not null && _turns.TryGetValue(connection, out var turn) && turn.Held)
        {
            var byStatement = turn.ByStatement;
            (turn.Held, turn.ByStatement) = (false, false);
            _lock.Release();
            _held.Record(_clock.GetElapsedTime(turn.Since).TotalSeconds, new KeyValuePair<string, object?>("turn", byStatement ? "statement" : "transaction"));
        }
        return Task.CompletedTask;
    }

    // A finished transaction no longer knows its connection; its context does.
    static DbConnection? Connection(TransactionEventData eventData) => eventData.Context?.Database.GetDbConnection();

    public void Dispose() => _lock.Dispose();
}
