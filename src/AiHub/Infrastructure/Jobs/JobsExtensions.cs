using AiHub.Data;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Hosting;
using System.Linq.Expressions;
using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Jobs;

public static class JobsExtensions
{
    public static IHostApplicationBuilder AddJobs(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<JobsSettings>(JobsSettings.Section);
        services.AddSettings<NodeSettings>(NodeSettings.Section)
            .Validate<IOptions<DatabaseSettings>>(
                (node, database) => database.Value.Provider != DatabaseProvider.Sqlite || node.Role == NodeRole.All,
                "Node:Role: must be All when Database:Provider is Sqlite (embedded jobs are queued in memory, inside this one process)");

        GlobalConfiguration.Configuration
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings();

        // Storage and client are per host, never Hangfire's static JobStorage.Current: tests run several hosts in one process.
        services.AddSingleton<JobStorage>(sp => CreateStorage(sp.GetRequiredService<IOptions<DatabaseSettings>>().Value, sp.GetRequiredService<IOptions<JobsSettings>>().Value));
        services.AddSingleton<IBackgroundJobClient>(sp => new BackgroundJobClient(sp.GetRequiredService<JobStorage>()));
        services.AddSingleton<IRecurringJobManager>(sp => new RecurringJobManager(sp.GetRequiredService<JobStorage>()));
        services.AddSingleton<JobActivator>(sp => new AspNetCoreJobActivator(sp.GetRequiredService<IServiceScopeFactory>()));
        services.AddScoped<WorkQueue>();
        services.AddScoped<WorkRunner>();
        services.AddScoped<WorkRecovery>();
        services.AddHostedService<JobServerHost>();
        return builder;
    }

    /// <summary>Registers <paramref name="call"/> with Hangfire under <paramref name="id"/> at start, to run on <paramref name="cron"/>.</summary>
    internal static IServiceCollection AddRecurringJob<TJob>(this IServiceCollection services, string id, Expression<Func<TJob, Task>> call, string cron) =>
        // Not AddHostedService: it keeps one registration per type, and one type may schedule several jobs.
        services.AddSingleton<IHostedService>(sp => new RecurringJobRegistration<TJob>(sp.GetRequiredService<IRecurringJobManager>(), id, call, cron));

    /// <summary>Removes at start a recurring job an earlier version scheduled, whose method no longer exists.</summary>
    internal static IServiceCollection RetireRecurringJob(this IServiceCollection services, string id) =>
        services.AddSingleton<IHostedService>(sp => new RetiredRecurringJob(sp.GetRequiredService<IRecurringJobManager>(), id));

    static JobStorage CreateStorage(DatabaseSettings database, JobsSettings jobs)
    {
        if (database.Provider == DatabaseProvider.Sqlite)
            return new InMemoryStorage(new InMemoryStorageOptions());
        // LISTEN/NOTIFY wakes a worker when work is queued on any node; polling alone left it waiting up to 15 s.
        var options = new PostgreSqlStorageOptions
        {
            SchemaName = "hangfire", PrepareSchemaIfNecessary = true, EnableLongPolling = true, QueuePollInterval = jobs.QueuePollInterval,
        };
        return new PostgreSqlStorage(new NpgsqlConnectionFactory(database.ConnectionString!, options), options);
    }
}

/// <summary>Starts the job server on nodes that run jobs, after recovering what a restart orphaned.</summary>
internal sealed class JobServerHost(
    IServiceProvider services,
    JobStorage storage,
    JobActivator activator,
    IRecurringJobManager recurring,
    IOptions<NodeSettings> node,
    IOptions<JobsSettings> jobs) : IHostedService, IDisposable
{
    BackgroundJobServer? _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!node.Value.RunsJobs)
            return;
        if (storage is InMemoryStorage)
        {
            await using var scope = services.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<WorkRecovery>().RecoverAfterRestartAsync(cancellationToken);
        }
        recurring.AddOrUpdate<WorkRecovery>("work-sweep", r => r.SweepAsync(CancellationToken.None), Cron.Minutely());
        _server = new BackgroundJobServer(
            new BackgroundJobServerOptions
            {
                WorkerCount = jobs.Value.WorkerCount,
                Activator = activator,
                SchedulePollingInterval = jobs.Value.SchedulePollingInterval,
                ServerName = $"{Environment.MachineName}:{Environment.ProcessId}",
            },
            storage);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // The host may stop twice (a signal, then disposal); only the first stop has a server to wait for.
        if (Interlocked.Exchange(ref _server, null) is not { } server)
            return;
        server.SendStop();
        await server.WaitForShutdownAsync(cancellationToken);
        server.Dispose();
    }

    public void Dispose() => Interlocked.Exchange(ref _server, null)?.Dispose();
}

internal sealed class RecurringJobRegistration<TJob>(IRecurringJobManager recurring, string id, Expression<Func<TJob, Task>> call, string cron) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        recurring.AddOrUpdate(id, call, cron);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

internal sealed class RetiredRecurringJob(IRecurringJobManager recurring, string id) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        recurring.RemoveIfExists(id);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
