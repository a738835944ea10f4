using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Support;

/// <summary>One database and one running AiHub for a test class.</summary>
public abstract class HostFixture(string provider, Action<IServiceCollection>? services = null) : IAsyncLifetime
{
    TestDatabase? _database;
    AiHubApp? _app;

    public HttpClient Client { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync(provider);
        _app = AiHubApp.On(_database, services: services);
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
