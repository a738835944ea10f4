using AiHub.Data;
using AiHub.IntegrationTests.Support;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace AiHub.IntegrationTests;

public sealed class MigrationTests
{
    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public Task Migrations_apply_from_empty_and_leave_nothing_pending(string provider) => OnNewDatabaseAsync(provider, async db =>
    {
        var applied = (await db.Database.GetAppliedMigrationsAsync(TestContext.Current.CancellationToken)).ToList();
        var pending = await db.Database.GetPendingMigrationsAsync(TestContext.Current.CancellationToken);

        Assert.NotEmpty(applied);
        Assert.Empty(pending);
        Assert.Equal(applied, db.Database.GetMigrations());
    });

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public Task Each_provider_has_a_migration_for_every_model_change(string provider) => OnNewDatabaseAsync(provider, db =>
    {
        Assert.False(db.Database.HasPendingModelChanges(),
            $"The model has changed since the last {provider} migration: add one for each provider (see docs/decisions).");
        return Task.CompletedTask;
    });

    [Fact]
    public async Task Postgres_migration_creates_pgvector_and_an_hnsw_index_answers_nearest_neighbour_queries()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var database = await TestDatabase.PostgresAsync();
        await using var app = AiHubApp.On(database);
        _ = app.Services; // starting the host applies the migrations

        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync(ct);
        var version = (string)(await new NpgsqlCommand("SELECT extversion FROM pg_extension WHERE extname = 'vector'", connection).ExecuteScalarAsync(ct))!;
        Assert.StartsWith("0.8", version, StringComparison.Ordinal);

        await new NpgsqlCommand("""
            CREATE TABLE probe (id int PRIMARY KEY, embedding vector(3));
            INSERT INTO probe SELECT i, ARRAY[i, i * 2, 100 - i]::vector FROM generate_series(1, 500) AS i;
            CREATE INDEX probe_embedding ON probe USING hnsw (embedding vector_cosine_ops);
            """, connection).ExecuteNonQueryAsync(ct);
        await new NpgsqlCommand("SET enable_seqscan = off", connection).ExecuteNonQueryAsync(ct);

        var plan = string.Join("\n", await ReadAllAsync(new NpgsqlCommand(
            "EXPLAIN SELECT id FROM probe ORDER BY embedding <=> '[40,80,60]' LIMIT 3", connection), ct));
        var nearest = await ReadAllAsync(new NpgsqlCommand(
            "SELECT id FROM probe ORDER BY embedding <=> '[40,80,60]' LIMIT 1", connection), ct);

        Assert.Contains("probe_embedding", plan, StringComparison.Ordinal);
        Assert.Equal("40", Assert.Single(nearest));
    }

    [Theory]
    [InlineData("Sqlite")]
    [InlineData("Postgres")]
    public async Task Accounts_older_than_organisations_get_their_personal_org_from_the_migration(string provider)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var db = provider == "Sqlite"
            ? (AppDbContext)new SqliteAppDbContext((DbContextOptions<SqliteAppDbContext>)DataExtensions.ConfigureSqlite(new DbContextOptionsBuilder<SqliteAppDbContext>(), database.ConnectionString).Options)
            : new PostgresAppDbContext((DbContextOptions<PostgresAppDbContext>)DataExtensions.ConfigurePostgres(new DbContextOptionsBuilder<PostgresAppDbContext>(), database.ConnectionString).Options);
        var migrator = db.GetService<Microsoft.EntityFrameworkCore.Migrations.IMigrator>();
        await migrator.MigrateAsync(db.Database.GetMigrations().Single(m => m.EndsWith("_Identity", StringComparison.Ordinal)), ct);
        var sqlite = provider == "Sqlite";
        var user = new AiHub.Identity.AppUser { Id = Guid.CreateVersion7(), UserName = "old@example.com", Email = "old@example.com", DisplayName = "Old Timer", CreatedAt = DateTimeOffset.UtcNow };
        await db.Database.ExecuteSqlInterpolatedAsync($"INSERT INTO users (id, user_name, email, display_name, created_at, email_confirmed, phone_number_confirmed, two_factor_enabled, lockout_enabled, access_failed_count) VALUES ({(sqlite ? user.Id.ToString().ToUpperInvariant() : user.Id)}, {user.UserName}, {user.Email}, {user.DisplayName}, {(sqlite ? new Microsoft.EntityFrameworkCore.Storage.ValueConversion.DateTimeOffsetToBinaryConverter().ConvertToProvider(user.CreatedAt)! : user.CreatedAt)}, {true}, {false}, {false}, {true}, {0})", ct);

        await migrator.MigrateAsync(cancellationToken: ct);
        var membership = await db.Memberships.SingleAsync(m => m.UserId == user.Id, ct);
        var org = await db.Organizations.SingleAsync(o => o.Id == membership.OrganizationId, ct);

        Assert.Equal(AiHub.Organizations.OrgRole.Owner, membership.Role);
        Assert.True(org.IsPersonal);
        Assert.Equal("Old Timer's org", org.Name);
    }

    /// <summary>Starts AiHub on an empty database (which migrates it) and hands the check its context.</summary>
    static async Task OnNewDatabaseAsync(string provider, Func<AppDbContext, Task> check)
    {
        await using var database = await TestDatabase.CreateAsync(provider);
        await using var app = AiHubApp.On(database);
        using var scope = app.Services.CreateScope();
        await check(scope.ServiceProvider.GetRequiredService<AppDbContext>());
    }

    static async Task<List<string>> ReadAllAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using (command)
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            var rows = new List<string>();
            while (await reader.ReadAsync(ct))
                rows.Add(Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
            return rows;
        }
    }
}
