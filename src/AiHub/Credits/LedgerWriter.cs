using System.Threading.Channels;
using AiHub.Data;

namespace AiHub.Credits;

/// <summary>
/// Group commit for the ledger: what callers hand in while one transaction runs goes into the next, so a busy node pays
/// one commit (and one lock on a hot account) for many operations instead of one each (docs/decisions/0007).
/// Every caller still hears its outcome only after its own rows are committed.
/// </summary>
/// <remarks>
/// If a batch fails as a whole, for instance on an idempotency key another node wrote at the same moment, each of its
/// operations is run again on its own and answers for itself. Nothing that goes wrong stops the loop.
/// </remarks>
internal sealed partial class LedgerWriter(IServiceScopeFactory scopes, TimeProvider clock, ILogger<LedgerWriter> log) : BackgroundService
{
    const int MaxBatch = 256;

    readonly Channel<LedgerOperation> _queue = Channel.CreateUnbounded<LedgerOperation>(new UnboundedChannelOptions { SingleReader = true });

    public async Task<T> SubmitAsync<T>(LedgerOperation<T> operation)
    {
        if (!_queue.Writer.TryWrite(operation))
            throw new ObjectDisposedException(nameof(LedgerWriter), "The node is stopping; the ledger takes no more operations.");
        return await operation.Result.Task;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Once asked to stop, no more operations are taken in; those already queued are still written.
        await using var stop = stoppingToken.Register(() => _queue.Writer.TryComplete());
        var batch = new List<LedgerOperation>(MaxBatch);
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next))
                batch.Add(next);
            try
            {
                await WriteAsync(batch);
            }
            catch (Exception e)
            {
                LogBatchFailed(e, batch.Count);
                foreach (var operation in batch)
                    await WriteAloneAsync(operation);
            }
            finally
            {
                // An operation the batch did not answer (the scope itself failed) must not wait forever.
                foreach (var operation in batch)
                    operation.Fail(new InvalidOperationException("The ledger could not write this operation."));
                batch.Clear();
            }
        }
    }

    async Task WriteAsync(List<LedgerOperation> batch)
    {
        await using var scope = scopes.CreateAsyncScope();
        await LedgerBatch.ApplyAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), batch, clock, CancellationToken.None);
    }

    async Task WriteAloneAsync(LedgerOperation operation)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await LedgerBatch.ApplyAsync(scope.ServiceProvider.GetRequiredService<AppDbContext>(), [operation], clock, CancellationToken.None);
        }
        catch (Exception e)
        {
            operation.Fail(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch of {Count} ledger operations failed as a whole; running each on its own")]
    partial void LogBatchFailed(Exception e, int count);
}
