using System.Collections.Concurrent;
using AiHub.Infrastructure.Redis;
using StackExchange.Redis;

namespace AiHub.Chat.Engine;

/// <summary>
/// The answers being streamed on this node, by message id, so that a cancel request stops the provider call. In a
/// cluster the request may reach another node than the stream, so a cancel is also published on Redis.
/// </summary>
internal sealed class RunningCalls(RedisConnection redis, ILogger<RunningCalls> log) : IHostedService
{
    static readonly RedisChannel Channel = RedisChannel.Literal("aihub:chat:cancel");
    readonly ConcurrentDictionary<Guid, CancellationTokenSource> _calls = new();

    /// <summary>Whether a cancel can reach streams on other nodes; when not, a stream not found here runs nowhere.</summary>
    public bool Distributed => redis.Enabled;

    /// <summary>Registers a stream; dispose the result when it ends.</summary>
    public IDisposable Track(Guid messageId, CancellationTokenSource stop)
    {
        _calls[messageId] = stop;
        return new Registration(this, messageId, stop);
    }

    /// <summary>Stops the stream wherever it runs; true when it ran on this node.</summary>
    public async Task<bool> CancelAsync(Guid messageId, CancellationToken ct)
    {
        if (CancelHere(messageId))
            return true;
        if (redis.Enabled)
            await (await redis.GetAsync(ct)).GetSubscriber().PublishAsync(Channel, messageId.ToString());
        return false;
    }

    bool CancelHere(Guid messageId)
    {
        if (!_calls.TryGetValue(messageId, out var stop))
            return false;
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The stream ended between the lookup and the cancel.
        }
        return true;
    }

    public async Task StartAsync(CancellationToken ct)
    {
        if (!redis.Enabled)
            return;
        try
        {
            var subscriber = (await redis.GetAsync(ct)).GetSubscriber();
            await subscriber.SubscribeAsync(Channel, (_, value) =>
            {
                if (Guid.TryParse(value.ToString(), out var id))
                    CancelHere(id);
            });
        }
        catch (RedisException e)
        {
            log.LogWarning(e, "Could not subscribe to cancel requests; a cancel reaches only streams on the node it arrives at.");
        }
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    sealed class Registration(RunningCalls owner, Guid id, CancellationTokenSource stop) : IDisposable
    {
        public void Dispose() => owner._calls.TryRemove(new KeyValuePair<Guid, CancellationTokenSource>(id, stop));
    }
}
