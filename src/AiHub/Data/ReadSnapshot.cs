using System.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace AiHub.Data;

/// <summary>Several reads that must see the database as it was at one moment, without taking a writer's lock.</summary>
internal static class ReadSnapshot
{
    /// <remarks>
    /// On SQLite the transaction is DEFERRED and begun on the connection itself, so it holds no write lock and
    /// <see cref="SqliteWriteGate"/> gives it no turn: under WAL its first read fixes the snapshot the later reads see.
    /// On PostgreSQL it is REPEATABLE READ.
    /// </remarks>
    public static async Task<T> ReadSnapshotAsync<T>(this DatabaseFacade database, Func<CancellationToken, Task<T>> read, CancellationToken ct)
    {
        if (!database.IsSqlite())
        {
            await using var transaction = await database.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct);
            var result = await read(ct);
            await transaction.CommitAsync(ct);
            return result;
        }
        await database.OpenConnectionAsync(ct);
        try
        {
            await using var deferred = ((SqliteConnection)database.GetDbConnection()).BeginTransaction(IsolationLevel.Serializable, deferred: true);
            await database.UseTransactionAsync(deferred, ct);
            try
            {
                return await read(ct);
            }
            finally
            {
                await database.UseTransactionAsync(null, CancellationToken.None);
            }
        }
        finally
        {
            await database.CloseConnectionAsync();
        }
    }
}
