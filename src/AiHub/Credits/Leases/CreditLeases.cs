using AiHub.Credits.Plans;
using AiHub.Credits.Pools;

namespace AiHub.Credits.Leases;

/// <summary>One call's credits, held for it on its spender's legs (the payer, the member's allocation, the key's budget).</summary>
/// <param name="HoldId">The ledger hold the call's cost is posted through; its usage record carries it as <c>ReservationId</c>.</param>
/// <param name="CountsQuota">Whether the call took one use of the plan's chat questions with it.</param>
internal sealed record LeasedHold(Guid HoldId, Spender Spender, long Amount, string CallId, bool CountsQuota);

/// <summary>
/// The money of a high-rate caller (the gateway): hold the most a call can cost, then settle what it cost or release it,
/// exactly as <see cref="CreditGate"/> does, through the one ledger.
/// </summary>
internal sealed class CreditLeases(IServiceScopeFactory scopes)
{
    /// <summary>Holds <paramref name="amount"/> (and one use of <paramref name="quota"/>) for one call; a 402 ProblemException names what is short.</summary>
    public async ValueTask<LeasedHold> HoldAsync(Spender spender, long amount, string callId, QuotaKind? quota, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var hold = await scope.ServiceProvider.GetRequiredService<CreditGate>().HoldAsync(spender, amount, callId, quota, ct);
        return new LeasedHold(hold.Id, spender, hold.AmountMicros, callId, quota is not null);
    }

    /// <summary>Charges <paramref name="charged"/> (at most what was held) and frees the rest; the quota use stands.</summary>
    public async ValueTask SettleAsync(LeasedHold hold, long charged, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<Ledger>().PostHoldAsync(hold.Spender.OrganizationId, hold.HoldId, Math.Min(charged, hold.Amount), ct);
    }

    /// <summary>Gives everything back, the quota use included: the call cost nothing.</summary>
    public async ValueTask ReleaseAsync(LeasedHold hold, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<Ledger>().VoidHoldAsync(hold.Spender.OrganizationId, hold.HoldId, ct);
    }
}
