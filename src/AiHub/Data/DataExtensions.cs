using AiHub.Infrastructure.Configuration;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Data;

public static class DataExtensions
{
    public static IHostApplicationBuilder AddData(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<DatabaseSettings>(DatabaseSettings.Section);
        services.AddSingleton<SqliteWriteGate>();
        services.AddDbContext<SqliteAppDbContext>((sp, options) =>
            ConfigureSqlite(options, SqliteConnectionString(sp)).AddInterceptors(sp.GetRequiredService<SqliteWriteGate>()));
        services.AddDbContext<PostgresAppDbContext>((sp, options) =>
            ConfigurePostgres(options, Settings(sp).ConnectionString!));
        services.AddScoped<AppDbContext>(sp => Settings(sp).Provider switch
        {
            DatabaseProvider.Postgres => sp.GetRequiredService<PostgresAppDbContext>(),
            _ => sp.GetRequiredService<SqliteAppDbContext>(),
        });
        services.AddSingleton<DatabaseMigrator>();
        // Keys live in the database so that every node of a cluster can read what another node protected.
        services.AddDataProtection().SetApplicationName("AiHub").PersistKeysToDbContext<AppDbContext>();
        return builder;
    }

    internal static DbContextOptionsBuilder ConfigureSqlite(DbContextOptionsBuilder options, string connectionString) =>
        options.UseSqlite(connectionString).UseSnakeCaseNamingConvention();

    internal static DbContextOptionsBuilder ConfigurePostgres(DbContextOptionsBuilder options, string connectionString) =>
        options.UseNpgsql(connectionString, npgsql => npgsql.UseVector()).UseSnakeCaseNamingConvention();

    static DatabaseSettings Settings(IServiceProvider sp) => sp.GetRequiredService<IOptions<DatabaseSettings>>().Value;

    static string SqliteConnectionString(IServiceProvider sp)
    {
        var configured = Settings(sp).ConnectionString;
        var builder = new SqliteConnectionStringBuilder(configured ?? "Data Source=data/aihub.db");
        if (!Path.IsPathRooted(builder.DataSource) && builder.DataSource != ":memory:")
            builder.DataSource = Path.Combine(sp.GetRequiredService<IHostEnvironment>().ContentRootPath, builder.DataSource);
        Directory.CreateDirectory(Path.GetDirectoryName(builder.DataSource)!);
        return builder.ToString();
    }
}
