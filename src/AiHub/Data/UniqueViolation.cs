using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace AiHub.Data;

/// <summary>Tells "someone else inserted that key first" apart from every other failed save, on both databases.</summary>
internal static class UniqueViolation
{
    /// <summary>SQLite's constraint error (19) on a unique or primary key, or PostgreSQL's 23505.</summary>
    public static bool Is(DbUpdateException e) => e.InnerException switch
    {
        SqliteException { SqliteErrorCode: 19, SqliteExtendedErrorCode: 1555 or 2067 } => true,
        PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } => true,
        _ => false,
    };

    /// <summary>
    /// Saves <paramref name="row"/> alone; false when its unique key was taken first (by another node or run), so
    /// exactly one caller gets true: the at-most-once claim of a mail or a warning.
    /// </summary>
    public static async Task<bool> TryInsertAsync<T>(DbContext db, T row, CancellationToken ct) where T : class
    {
        db.Add(row);
        try
        {
            await db.SaveChangesAsync(ct);
            return true;
        }
        catch (DbUpdateException e) when (Is(e))
        {
            return false;
        }
        finally
        {
            db.Entry(row).State = EntityState.Detached;
        }
    }
}
