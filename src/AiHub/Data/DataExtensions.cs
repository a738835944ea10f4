using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Hosting;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Data;

public static class DataExtensions
{
    internal const string DefaultSqlite = "Data Source=data/aihub.db";

    public static IHostApplicationBuilder AddData(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<DatabaseSettings>(DatabaseSettings.Section);
        services.AddSingleton<SqliteWriteGate>();
        services.AddSingleton<SqliteFile>();
        services.AddDbContext<SqliteAppDbContext>((sp, options) =>
            ConfigureSqlite(options, sp.GetRequiredService<SqliteFile>().ConnectionString).AddInterceptors(sp.GetRequiredService<SqliteWriteGate>()));
        services.AddDbContext<PostgresAppDbContext>((sp, options) =>
            ConfigurePostgres(options, Settings(sp).ConnectionString!));
        services.AddScoped<AppDbContext>(sp => Settings(sp).Provider switch
        {
            DatabaseProvider.Postgres => sp.GetRequiredService<PostgresAppDbContext>(),
            _ => sp.GetRequiredService<SqliteAppDbContext>(),
        });
        services.AddSingleton<DatabaseMigrator>();
        // Keys live in the database so that every node of a cluster can read what another node protected,
        // encrypted under a key the database does not hold, so that a copy of the database alone reads nothing.
        services.AddDataProtection().SetApplicationName("AiHub").PersistKeysToDbContext<AppDbContext>();
        services.AddSettings<DataProtectionSettings>(DataProtectionSettings.Section);
        services.AddSingleton<IValidateOptions<DataProtectionSettings>, DataProtectionSettingsValidator>();
        services.AddSingleton<KeyEncryptionKey>();
        services.AddOptions<KeyManagementOptions>().Configure<KeyEncryptionKey>((o, kek) => o.XmlEncryptor = new KeyEncryptionKeyXmlEncryptor(kek));
        return builder;
    }

    internal static DbContextOptionsBuilder ConfigureSqlite(DbContextOptionsBuilder options, string connectionString) =>
        options.UseSqlite(connectionString).UseSnakeCaseNamingConvention();

    internal static DbContextOptionsBuilder ConfigurePostgres(DbContextOptionsBuilder options, string connectionString) =>
        options.UseNpgsql(connectionString, npgsql => npgsql.UseVector()).UseSnakeCaseNamingConvention();

    static DatabaseSettings Settings(IServiceProvider sp) => sp.GetRequiredService<IOptions<DatabaseSettings>>().Value;

}

/// <summary>The embedded database's file, prepared once: its folder 0700 and the file itself 0600 before SQLite first opens it.</summary>
internal sealed class SqliteFile(IOptions<DatabaseSettings> settings, IHostEnvironment environment)
{
    readonly Lazy<string> _connectionString = new(() => Prepare(settings.Value.ConnectionString, environment.ContentRootPath));

    public string ConnectionString => _connectionString.Value;

    static string Prepare(string? configured, string contentRoot)
    {
        var builder = new SqliteConnectionStringBuilder(configured ?? DataExtensions.DefaultSqlite);
        if (builder.DataSource == ":memory:")
            return builder.ToString();
        if (!Path.IsPathRooted(builder.DataSource))
            builder.DataSource = Path.Combine(contentRoot, builder.DataSource);
        var folder = Path.GetDirectoryName(builder.DataSource)!;
        if (!Directory.Exists(folder))
            OwnerOnly.CreateDirectory(folder);
        // SQLite gives its -wal and -shm files the database file's mode, so the one file decides for all three.
        OwnerOnly.TryCreateFile(builder.DataSource, []);
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            OwnerOnly.Restrict(builder.DataSource + suffix);
        return builder.ToString();
    }
}
