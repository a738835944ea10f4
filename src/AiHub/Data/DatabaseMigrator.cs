using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Data;

/// <summary>Applies migrations (the <c>migrate</c> command, or start-up when embedded) and refuses to serve a database that is behind.</summary>
internal sealed partial class DatabaseMigrator(IServiceScopeFactory scopes, IOptions<DatabaseSettings> settings, ILogger<DatabaseMigrator> logger)
{
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var pending = (await db.Database.GetPendingMigrationsAsync(ct)).ToList();
        if (settings.Value.Provider == DatabaseProvider.Sqlite)
            await EnableWriteAheadLogAsync(db, ct);
        await db.Database.MigrateAsync(ct);
        LogApplied(pending.Count, string.Join(", ", pending));
        return pending;
    }

    /// <exception cref="DatabaseBehindException">The database lacks migrations this build needs.</exception>
    public async Task EnsureReadyAsync(CancellationToken ct)
    {
        if (settings.Value.ShouldMigrateOnStart)
        {
            await MigrateAsync(ct);
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var pending = (await db.Database.GetPendingMigrationsAsync(ct)).ToList();
        if (pending.Count > 0)
            throw new DatabaseBehindException(
                $"the database is {pending.Count} migration(s) behind this build ({string.Join(", ", pending)}); " +
                "run `dotnet AiHub.dll migrate` once with the same configuration, then start the nodes");
    }

    static async Task EnableWriteAheadLogAsync(AppDbContext db, CancellationToken ct)
    {
        // WAL lets the web UI read while a job writes; the setting is stored in the file, so once is enough.
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        await command.ExecuteNonQueryAsync(ct);
        await connection.CloseAsync();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Database migrations applied: {Count} ({Names})")]
    partial void LogApplied(int count, string names);
}

internal sealed class DatabaseBehindException(string message) : Exception(message);
