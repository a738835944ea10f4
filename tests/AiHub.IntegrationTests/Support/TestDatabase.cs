using Npgsql;

namespace AiHub.IntegrationTests.Support;

/// <summary>An empty database of its own for one host, dropped afterwards.</summary>
public abstract class TestDatabase : IAsyncDisposable
{
    public abstract string Provider { get; }

    public abstract string ConnectionString { get; }

    public abstract ValueTask DisposeAsync();

    public static TestDatabase Sqlite() => new SqliteTestDatabase();

    public static async Task<TestDatabase> CreateAsync(string provider) =>
        provider == "Sqlite" ? Sqlite() : await PostgresAsync();

    public static async Task<TestDatabase> PostgresAsync()
    {
        var name = "aihub_test_" + Guid.NewGuid().ToString("N")[..12];
        await using var admin = new NpgsqlConnection(TestEnvironment.PostgresAdmin);
        await admin.OpenAsync();
        await using (var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin))
            await create.ExecuteNonQueryAsync();
        var builder = new NpgsqlConnectionStringBuilder(TestEnvironment.PostgresAdmin) { Database = name };
        return new PostgresTestDatabase(name, builder.ConnectionString);
    }

    sealed class SqliteTestDatabase : TestDatabase
    {
        readonly string _directory = Directory.CreateTempSubdirectory("aihub-test-").FullName;

        public override string Provider => "Sqlite";

        public override string ConnectionString => $"Data Source={Path.Combine(_directory, "aihub.db")}";

        public override ValueTask DisposeAsync()
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(_directory, recursive: true);
            return ValueTask.CompletedTask;
        }
    }

    sealed class PostgresTestDatabase(string name, string connectionString) : TestDatabase
    {
        public override string Provider => "Postgres";

        public override string ConnectionString => connectionString;

        public override async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(TestEnvironment.PostgresAdmin);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
