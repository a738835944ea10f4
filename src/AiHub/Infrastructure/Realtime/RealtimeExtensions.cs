using AiHub.Infrastructure.Redis;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.AspNetCore.SignalR.StackExchangeRedis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace AiHub.Infrastructure.Realtime;

internal static class RealtimeExtensions
{
    /// <summary>Channel names in Redis start with this, so that AiHub's messages never mix with another app's on a shared server.</summary>
    public const string ChannelPrefix = "aihub";

    /// <summary>
    /// SignalR for live progress. With <c>Redis:ConnectionString</c> set, messages go through Redis, so a client connected
    /// to one node hears what another node sends; embedded, they stay in process.
    /// </summary>
    public static IHostApplicationBuilder AddRealtime(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSignalR();
        services.AddOptions<RedisOptions>().Configure<IOptions<RedisSettings>>((options, redis) =>
        {
            if (!redis.Value.Enabled)
                return;
            options.Configuration = ConfigurationOptions.Parse(redis.Value.ConnectionString!);
            // A node starts while Redis is still coming up, as the cache's connection does.
            options.Configuration.AbortOnConnectFail = false;
            options.Configuration.ChannelPrefix = RedisChannel.Literal(ChannelPrefix);
        });
        // Replaces what AddSignalR registered; the choice waits for the first hub, after the settings were validated (ADR 0003).
        services.AddSingleton(typeof(HubLifetimeManager<>), typeof(ConfiguredHubLifetimeManager<>));
        return builder;
    }
}

/// <summary>The Redis backplane when Redis is configured, SignalR's in-process manager otherwise.</summary>
internal sealed class ConfiguredHubLifetimeManager<THub> : HubLifetimeManager<THub>, IDisposable where THub : Hub
{
    readonly HubLifetimeManager<THub> _inner;

    public ConfiguredHubLifetimeManager(IServiceProvider services, IOptions<RedisSettings> redis)
    {
        _inner = redis.Value.Enabled
            ? ActivatorUtilities.CreateInstance<RedisHubLifetimeManager<THub>>(services)
            : ActivatorUtilities.CreateInstance<DefaultHubLifetimeManager<THub>>(services);
    }

    internal bool UsesRedis => _inner is RedisHubLifetimeManager<THub>;

    public override Task OnConnectedAsync(HubConnectionContext connection) => _inner.OnConnectedAsync(connection);

    public override Task OnDisconnectedAsync(HubConnectionContext connection) => _inner.OnDisconnectedAsync(connection);

    public override Task SendAllAsync(string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        _inner.SendAllAsync(methodName, args, cancellationToken);

    public override Task SendAllExceptAsync(string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default) =>
        _inner.SendAllExceptAsync(methodName, args, excludedConnectionIds, cancellationToken);

    public override Task SendConnectionAsync(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        _inner.SendConnectionAsync(connectionId, methodName, args, cancellationToken);

    public override Task SendConnectionsAsync(IReadOnlyList<string> connectionIds, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        _inner.SendConnectionsAsync(connectionIds, methodName, args, cancellationToken);

    public override Task SendGroupAsync(string groupName, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        _inner.SendGroupAsync(groupName, methodName, args, cancellationToken);

    public override Task SendGroupsAsync(IReadOnlyList<string> groupNames, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        _inner.SendGroupsAsync(groupNames, methodName, args, cancellationToken);

    public override Task SendGroupExceptAsync(string groupName, string methodName, object?[] args, IReadOnlyList<string> excludedConnectionIds, CancellationToken cancellationToken = default) =>
        _inner.SendGroupExceptAsync(groupName, methodName, args, excludedConnectionIds, cancellationToken);

    public override Task SendUserAsync(string userId, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        _inner.SendUserAsync(userId, methodName, args, cancellationToken);

    public override Task SendUsersAsync(IReadOnlyList<string> userIds, string methodName, object?[] args, CancellationToken cancellationToken = default) =>
        _inner.SendUsersAsync(userIds, methodName, args, cancellationToken);

    public override Task AddToGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default) =>
        _inner.AddToGroupAsync(connectionId, groupName, cancellationToken);

    public override Task RemoveFromGroupAsync(string connectionId, string groupName, CancellationToken cancellationToken = default) =>
        _inner.RemoveFromGroupAsync(connectionId, groupName, cancellationToken);

    public override Task<T> InvokeConnectionAsync<T>(string connectionId, string methodName, object?[] args, CancellationToken cancellationToken) =>
        _inner.InvokeConnectionAsync<T>(connectionId, methodName, args, cancellationToken);

    public override Task SetConnectionResultAsync(string connectionId, CompletionMessage result) =>
        _inner.SetConnectionResultAsync(connectionId, result);

    public override bool TryGetReturnType(string invocationId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Type? type) =>
        _inner.TryGetReturnType(invocationId, out type);

    public void Dispose() => (_inner as IDisposable)?.Dispose();
}
