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
}
