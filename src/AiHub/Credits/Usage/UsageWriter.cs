namespace AiHub.Credits.Usage;

/// <summary>Usage records of high-rate callers (the gateway); each call returns once its record is durable.</summary>
internal sealed class UsageWriter(IServiceScopeFactory scopes)
{
    /// <summary>Records one call; its cost must be given. The same id again writes nothing.</summary>
    public async Task RecordAsync(UsageEntry entry, CancellationToken ct)
    {
        if (entry.CostMicros is null)
            throw new ArgumentException("The gateway always knows what a call cost.", nameof(entry));
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<UsageMeter>().RecordAsync(entry, ct);
    }
}
