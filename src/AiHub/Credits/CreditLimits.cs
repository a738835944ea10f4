using AiHub.Infrastructure.Errors;

namespace AiHub.Credits;

/// <summary>
/// The largest amounts the ledger holds, in micro-credits: far beyond any real use, and far enough below
/// <see cref="long.MaxValue"/> that no balance, hold or sum of entries can wrap.
/// </summary>
/// <remarks>
/// Every entry point that takes an amount checks it against these, and the ledger's write path checks again, so a
/// refused amount writes nothing. docs/problems.md (<c>credit-limit</c>) states the same numbers.
/// </remarks>
internal static class CreditLimits
{
    /// <summary>One entry moves at most a billion credits (10^15 micro-credits), either way.</summary>
    public const long MaxEntryMicros = 1_000_000_000 * Credits.MicrosPerCredit;

    /// <summary>A balance holds at most a trillion credits (10^18 micro-credits); the floor is zero credits free.</summary>
    public const long MaxBalanceMicros = 1_000_000_000_000 * Credits.MicrosPerCredit;

    public static readonly string EntryRule = $"At most {Credits.Format(MaxEntryMicros)} credits move at once.";

    public static readonly string BalanceRule = $"A balance holds at most {Credits.Format(MaxBalanceMicros)} credits.";

    public static bool IsEntry(long micros) => micros is >= -MaxEntryMicros and <= MaxEntryMicros;

    public static bool IsEntry(decimal credits) => Math.Abs(credits) <= MaxEntryMicros / (decimal)Credits.MicrosPerCredit;

    /// <summary>A 400 naming <paramref name="field"/>, for an amount that passes a maximum.</summary>
    public static ProblemException OutOfRange(string field, string rule) =>
        new(StatusCodes.Status400BadRequest, "The amount is beyond what the ledger holds.", rule, ProblemTypes.CreditLimit)
        {
            Errors = new Dictionary<string, string[]> { [field] = [rule] },
        };

    /// <summary>Refuses an entry amount beyond <see cref="MaxEntryMicros"/> with a 400 naming <paramref name="field"/>.</summary>
    public static long RequireEntry(long micros, string field) => IsEntry(micros) ? micros : throw OutOfRange(field, EntryRule);

    /// <summary>The balance after adding <paramref name="amount"/>, or a 400 when it would pass <see cref="MaxBalanceMicros"/>.</summary>
    public static long BalanceAfter(long balance, long amount, string field)
    {
        var after = checked(balance + RequireEntry(amount, field));
        return after <= MaxBalanceMicros ? after : throw OutOfRange(field, BalanceRule);
    }
}
