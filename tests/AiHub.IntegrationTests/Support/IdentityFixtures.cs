using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Support;

/// <summary>One identity host per test class and provider, with any settings or services a class adds; every test signs up users of its own.</summary>
public abstract class IdentityFixture(string provider, IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null) : IAsyncLifetime
{
    public IdentityHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Host = await IdentityHost.StartAsync(provider, settings, services);

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteIdentityFixture() : IdentityFixture("Sqlite");

public sealed class PostgresIdentityFixture() : IdentityFixture("Postgres");
