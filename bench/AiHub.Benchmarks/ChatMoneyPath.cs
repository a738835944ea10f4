using AiHub.Credits.Leases;
using AiHub.Credits.Plans;
using AiHub.Credits.Usage;
using AiHub.Credits.Pools;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.Benchmarks;

/// <summary>
/// What one chat call does with money, and nothing else: hold the call's maximum cost and one question, then settle its real cost,
/// each through the app's own services in a scope of its own, as <c>ChatEngine.StartAsync</c> and <c>ChatCall</c> do.
/// </summary>
/// <remarks>The one place to change when the money API changes; the driver around it only counts and checks.</remarks>
internal sealed class ChatMoneyPath(IServiceProvider services) : IMoneyPath
{
    /// <summary>Holds <paramref name="maxCostMicros"/> for <paramref name="spender"/> and settles <paramref name="costMicros"/> of it.</summary>
    public async Task PayAsync(Spender spender, long maxCostMicros, long costMicros, string callId, CancellationToken ct)
    {
        // One scope per call, as the chat engine opens one for the call's quota and credit work.
        await using var scope = services.CreateAsyncScope();
        var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
        var hold = await gate.HoldAsync(spender, maxCostMicros, callId, QuotaKind.ChatQuestions, ct);
        await gate.SettleAsync(hold, Math.Min(costMicros, hold.AmountMicros), CancellationToken.None);
    }
}

/// <summary>One call's money, paid by one path or another; the driver only counts and checks.</summary>
internal interface IMoneyPath
{
    Task PayAsync(Spender spender, long maxCostMicros, long costMicros, string callId, CancellationToken ct);
}

/// <summary>
/// What one gateway call does with money: hold on the node's credit lease, settle, and record its usage (group-committed),
/// through the app's own singletons as the gateway uses them.
/// </summary>
internal sealed class LeaseMoneyPath(CreditLeases leases, UsageWriter usage) : IMoneyPath
{
    public async Task PayAsync(Spender spender, long maxCostMicros, long costMicros, string callId, CancellationToken ct)
    {
        var hold = await leases.HoldAsync(spender, maxCostMicros, callId, QuotaKind.ChatQuestions, ct);
        var charge = Math.Min(costMicros, hold.Amount);
        await leases.SettleAsync(hold, charge, CancellationToken.None);
        await usage.RecordAsync(new UsageEntry(callId, spender.OrganizationId, spender.UserId, "openai", "gpt-4o-mini", 100, 50, 1, UsageStatus.Succeeded,
            spender.ApiKeyId, spender.WorkspaceId, hold.HoldId, charge), CancellationToken.None);
    }
}
