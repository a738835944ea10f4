using System.Data.Common;
using System.Runtime.CompilerServices;
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
/// rest to SQLite, with a warning.
/// </remarks>
internal sealed class SqliteWriteGate(ILogger<SqliteWriteGate> log) : IDbTransactionInterceptor, IDbCommandInterceptor, IDbConnectionInterceptor, IDisposable
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    static readonly string[] Writes = ["INSERT", "UPDATE", "DELETE", "REPLACE"];

    readonly SemaphoreSlim _lock = new(1, 1);
    readonly ConditionalWeakTable<DbConnection, Turn> _turns = [];

    sealed class Turn
    {
        public bool Held;
    }

    public InterceptionResult<DbTransaction> TransactionStarting(DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result)
    {
        Enter(connection);
        return result;
    }

    public async ValueTask<InterceptionResult<DbTransaction>> TransactionStartingAsync(
        DbConnection connection, TransactionStartingEventData eventData, InterceptionResult<DbTransaction> result, CancellationToken cancellationToken = default)
    {
        await EnterAsync(connection, cancellationToken);
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
            Enter(command.Connection!);
        return result;
    }

    public async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
    {
        if (IsLoneWrite(command))
            await EnterAsync(command.Connection!, cancellationToken);
        return result;
    }

    // An INSERT … RETURNING holds the lock until its reader is done with.
    public InterceptionResult DataReaderDisposing(DbCommand command, DataReaderDisposingEventData eventData, InterceptionResult result)
    {
        if (IsLoneWrite(command))
            Leave(command.Connection);
        return result;
    }

    public InterceptionResult<int> NonQueryExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<int> result)
    {
        if (IsLoneWrite(command))
            Enter(command.Connection!);
        return result;
    }

    public async ValueTask<InterceptionResult<int>> NonQueryExecutingAsync(
        DbCommand command, CommandEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
    {
        if (IsLoneWrite(command))
            await EnterAsync(command.Connection!, cancellationToken);
        return result;
    }

    public int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        if (IsLoneWrite(command))
            Leave(command.Connection);
        return result;
    }

    public async ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        if (IsLoneWrite(command))
            await Leave(command.Connection);
        return result;
    }

    public void CommandFailed(DbCommand command, CommandErrorEventData eventData)
    {
        if (IsLoneWrite(command))
            Leave(command.Connection);
    }

    public Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default) =>
        IsLoneWrite(command) ? Leave(command.Connection) : Task.CompletedTask;

    public void CommandCanceled(DbCommand command, CommandEndEventData eventData)
    {
        if (IsLoneWrite(command))
            Leave(command.Connection);
    }

    public Task CommandCanceledAsync(DbCommand command, CommandEndEventData eventData, CancellationToken cancellationToken = default) =>
        IsLoneWrite(command) ? Leave(command.Connection) : Task.CompletedTask;

    // Whatever was left open (a transaction disposed without commit or rollback) ends with its connection.
    public void ConnectionClosed(DbConnection connection, ConnectionEndEventData eventData) => Leave(connection);

    public Task ConnectionClosedAsync(DbConnection connection, ConnectionEndEventData eventData) => Leave(connection);

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

    void Enter(DbConnection connection)
    {
        var turn = _turns.GetOrCreateValue(connection);
        if (turn.Held)
            return;
        if (_lock.Wait(Patience))
            turn.Held = true;
        else
            Impatient();
    }

    async Task EnterAsync(DbConnection connection, CancellationToken ct)
    {
        var turn = _turns.GetOrCreateValue(connection);
        if (turn.Held)
            return;
        if (await _lock.WaitAsync(Patience, ct))
            turn.Held = true;
        else
            Impatient();
    }

    Task Leave(DbConnection? connection)
    {
        if (connection is not null && _turns.TryGetValue(connection, out var turn) && turn.Held)
        {
            turn.Held = false;
            _lock.Release();
        }
        return Task.CompletedTask;
    }

    // A finished transaction no longer knows its connection; its context does.
    static DbConnection? Connection(TransactionEventData eventData) => eventData.Context?.Database.GetDbConnection();

    public void Dispose() => _lock.Dispose();

    void Impatient() =>
        log.LogWarning("A database write waited {Seconds} s for its turn; it goes on without one and SQLite makes it wait if it must", Patience.TotalSeconds);
}
