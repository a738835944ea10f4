using AiHub.Infrastructure.Realtime;
using AiHub.IntegrationTests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Realtime;

/// <summary>Live progress reaches the page whichever node does the work: through Redis in a cluster, in process when embedded.</summary>
public sealed class BackplaneTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_message_sent_on_one_node_reaches_a_client_connected_to_another()
    {
        await using var database = await TestDatabase.PostgresAsync();
        var redis = new Dictionary<string, string?> { ["Redis:ConnectionString"] = TestEnvironment.Redis };
        await using var worker = AiHubApp.On(database, redis, HubProbe.Services);
        await using var web = AiHubApp.On(database, redis, HubProbe.Services);
        await using var page = await ConnectAsync(web);
        var progress = Listen(page);

        var received = await SendUntilReceivedAsync(worker, page.ConnectionId!, progress);

        Assert.Equal(73, received);
        Assert.True(LifetimeManager(worker).UsesRedis);
        Assert.True(LifetimeManager(web).UsesRedis);
    }

    [Fact]
    public async Task An_embedded_node_keeps_messages_in_process()
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = AiHubApp.On(database, services: HubProbe.Services);
        await using var page = await ConnectAsync(app);
        var progress = Listen(page);

        var received = await SendUntilReceivedAsync(app, page.ConnectionId!, progress);

        Assert.Equal(73, received);
        Assert.False(LifetimeManager(app).UsesRedis);
    }

    static ConfiguredHubLifetimeManager<ProbeHub> LifetimeManager(AiHubApp app) =>
        Assert.IsType<ConfiguredHubLifetimeManager<ProbeHub>>(app.Services.GetRequiredService<HubLifetimeManager<ProbeHub>>());

    static async Task<HubConnection> ConnectAsync(AiHubApp app)
    {
        var server = app.Server;
        var connection = new HubConnectionBuilder()
            .WithUrl(new Uri(server.BaseAddress, HubProbe.Path), options =>
            {
                options.HttpMessageHandlerFactory = _ => server.CreateHandler();
                options.Transports = HttpTransportType.LongPolling;
            })
            .Build();
        await connection.StartAsync(Ct);
        return connection;
    }

    static TaskCompletionSource<int> Listen(HubConnection connection)
    {
        var progress = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.On<int>("progress", percent => progress.TrySetResult(percent));
        return progress;
    }

    /// <remarks>
    /// The receiving node subscribes to the connection's channel just after the handshake, so the first message can
    /// beat the subscription: send again until it arrives, for at most 15 seconds.
    /// </remarks>
    static async Task<int> SendUntilReceivedAsync(AiHubApp sender, string connectionId, TaskCompletionSource<int> progress)
    {
        var hub = sender.Services.GetRequiredService<IHubContext<ProbeHub>>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(15));
        while (!progress.Task.IsCompleted && !deadline.IsCancellationRequested)
        {
            await hub.Clients.Client(connectionId).SendAsync("progress", 73, deadline.Token);
            await Task.WhenAny(progress.Task, Task.Delay(250, deadline.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        }
        Assert.True(progress.Task.IsCompleted, "The client never received the message.");
        return await progress.Task;
    }
}

/// <summary>A hub of the tests' own, mapped as a feature maps its hub.</summary>
public sealed class ProbeHub : Hub;

internal sealed class HubProbe : IStartupFilter
{
    public const string Path = "/api/probe/hub";

    public static void Services(IServiceCollection services) => services.AddSingleton<IStartupFilter, HubProbe>();

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        next(app);
        var routes = (IEndpointRouteBuilder)app.Properties["__EndpointRouteBuilder"]!;
        routes.MapHub<ProbeHub>(Path);
    };
}
