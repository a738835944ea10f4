using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Support;

/// <summary>AiHub in process on a real database, configured the way an operator would: through settings.</summary>
public sealed class AiHubApp(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    : WebApplicationFactory<Program>
{
    public static AiHubApp On(TestDatabase database, IReadOnlyDictionary<string, string?>? extra = null, Action<IServiceCollection>? services = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Database:Provider"] = database.Provider,
            ["Database:ConnectionString"] = database.ConnectionString,
            ["Database:MigrateOnStart"] = "true",
            ["Jobs:RetryBaseDelay"] = "00:00:00.050",
            ["Jobs:SchedulePollingInterval"] = "00:00:00.200",
            ["Jobs:QueuePollInterval"] = "00:00:00.200",
            // Test hosts reach their fake upstreams on loopback as org providers; the policy's own tests close it again.
            ["Outbound:AllowPrivateNetworks"] = "true",
            // A cluster refuses to start without one; embedded hosts would otherwise each write a key file beside their temp folder.
            ["DataProtection:KeyEncryptionKey"] = TestEnvironment.KeyEncryptionKey,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
            settings[key] = value;
        return new AiHubApp(settings, services);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in settings)
            builder.UseSetting(key, value);
        if (services is not null)
            builder.ConfigureServices(services);
    }
}
