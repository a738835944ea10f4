namespace AiHub.IntegrationTests.Support;

/// <summary>One database and one running AiHub for a test class.</summary>
public abstract class HostFixture : IAsyncLifetime
{
    TestDatabase? _database;
    AiHubApp? _app;

    public TestDatabase Database => _database ?? throw new InvalidOperationException("not started");

    public AiHubApp App => _app ?? throw new InvalidOperationException("not started");

    public HttpClient Client { get; private set; } = null!;

    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    internal Task<TestDatabase> CreateDatabasePublicAsync() => CreateDatabaseAsync();

    protected virtual Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? ConfigureServices => null;

    public async ValueTask InitializeAsync()
    {
        _database = await CreateDatabaseAsync();
        _app = AiHubApp.On(_database, services: ConfigureServices);
        Client = _app.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (_app is not null)
            await _app.DisposeAsync();
        if (_database is not null)
            await _database.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteHost : HostFixture
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresHost : HostFixture
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresAsync();
}
