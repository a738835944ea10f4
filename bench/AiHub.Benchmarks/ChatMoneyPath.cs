using AiHub.Credits.Plans;
using AiHub.Credits.Pools;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.Benchmarks;

/// <summary>
/// What one chat call does with money, and nothing else: hold the call's maximum cost and one question, then settle its real cost,
/// each through the app's own services in a scope of its own, as <c>ChatEngine.StartAsync</c> and <c>ChatCall</c> do.
/// </summary>
/// <remarks>The one place to change when the money API changes; the driver around it only counts and checks.</remarks>
internal sealed class ChatMoneyPath(IServiceProvider services)
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
