using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Money;

namespace AiHub.Credits;

/// <summary>
/// The ledger's checks of the largest amounts it holds (<see cref="Micros.MaxEntry"/>, <see cref="Micros.MaxBalance"/>).
/// </summary>
/// <remarks>
/// Every entry point that takes an amount checks it, and the ledger's write path checks again, so a refused amount
/// writes nothing.
/// </remarks>
internal static class CreditLimits
{
    public const long MaxEntryMicros = Micros.MaxEntry;

    public const long MaxBalanceMicros = Micros.MaxBalance;

    public static string EntryRule => Micros.EntryRule;

    public static string BalanceRule => Micros.BalanceRule;

    public static bool IsEntry(long micros) => micros is >= -MaxEntryMicros and <= MaxEntryMicros;

    /// <summary>A 400 naming <paramref name="field"/>, for an amount that passes a maximum.</summary>
    public static ProblemException OutOfRange(string field, string rule) => Micros.OutOfRange(field, rule);

    /// <summary>Refuses an entry amount beyond <see cref="MaxEntryMicros"/> with a 400 naming <paramref name="field"/>.</summary>
    public static long RequireEntry(long micros, string field) => IsEntry(micros) ? micros : throw OutOfRange(field, EntryRule);

    /// <summary>The balance after adding <paramref name="amount"/>, or a 400 when it would pass <see cref="MaxBalanceMicros"/>.</summary>
    public static long BalanceAfter(long balance, long amount, string field)
    {
        var after = checked(balance + RequireEntry(amount, field));
        return after <= MaxBalanceMicros ? after : throw OutOfRange(field, BalanceRule);
    }
}
