using System.Globalization;
using AiHub.Infrastructure.Errors;

namespace AiHub.Infrastructure.Money;

/// <summary>Which signs an amount may take.</summary>
internal enum MicrosSign
{
    /// <summary>More than zero.</summary>
    Positive,

    /// <summary>Zero or more.</summary>
    NotNegative,

    /// <summary>Anything but zero: a negative amount takes away.</summary>
    NotZero,
}

/// <summary>What reading an amount of credits found.</summary>
internal enum MicrosReading
{
    Exact,
    Missing,
    WrongSign,
    TooLarge,
    TooFine,
}

/// <summary>
/// Money in micro-credits (<see cref="long"/>): the one way amounts in credits are read from people and written back
/// for them, and the largest amounts the ledger holds.
/// </summary>
/// <remarks>
/// An amount finer than one micro-credit is refused, never rounded, so what was asked is what is moved. The maxima
/// are far beyond any real use and far enough below <see cref="long.MaxValue"/> that no balance, hold or sum of
/// entries can wrap; docs/problems.md (<c>credit-limit</c>) states the same numbers.
/// </remarks>
internal static class Micros
{
    public const long PerCredit = 1_000_000;

    /// <summary>One entry moves at most a billion credits (10^15 micro-credits), either way.</summary>
    public const long MaxEntry = 1_000_000_000 * PerCredit;

    /// <summary>A balance holds at most a trillion credits (10^18 micro-credits).</summary>
    public const long MaxBalance = 1_000_000_000_000 * PerCredit;

    public const string TooFineRule = "Credits have at most 6 decimals.";

    public static readonly string EntryRule = $"At most {Format(MaxEntry)} credits move at once.";

    public static readonly string BalanceRule = $"A balance holds at most {Format(MaxBalance)} credits.";

    /// <summary>Micro-credits as credits for people to read; arithmetic never leaves integers.</summary>
    public static decimal ToCredits(long micros) => micros / (decimal)PerCredit;

    /// <summary>Micro-credits as credits, invariant, with no trailing zeros: <c>1.5</c>, <c>-0.000001</c>, <c>0</c>.</summary>
    public static string Format(long micros) => ToCredits(micros).ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>Whole credits as micro-credits; an amount too large to count is <paramref name="ceiling"/>.</summary>
    public static long FromWholeCredits(long credits, long ceiling) => credits > ceiling / PerCredit ? ceiling : credits * PerCredit;

    /// <summary>Reads <paramref name="credits"/> into exact micro-credits of at most <paramref name="max"/> either way.</summary>
    public static MicrosReading Read(decimal? credits, MicrosSign sign, long max, out long micros)
    {
        micros = 0;
        if (credits is not { } value)
            return MicrosReading.Missing;
        var signOk = sign switch
        {
            MicrosSign.Positive => value > 0,
            MicrosSign.NotNegative => value >= 0,
            _ => value != 0,
        };
        if (!signOk)
            return MicrosReading.WrongSign;
        if (Math.Abs(value) > max / (decimal)PerCredit)
            return MicrosReading.TooLarge;
        var scaled = value * PerCredit;
        if (scaled != decimal.Truncate(scaled))
            return MicrosReading.TooFine;
        micros = (long)scaled;
        return MicrosReading.Exact;
    }

    /// <summary>
    /// Exact micro-credits of an amount of one entry, or a 400 naming <paramref name="field"/>: <paramref name="rule"/>
    /// for a missing amount or a wrong sign, <c>credit-limit</c> beyond <see cref="MaxEntry"/>, and a finer amount refused.
    /// </summary>
    public static long Require(decimal? credits, string field, MicrosSign sign, string rule) =>
        Read(credits, sign, MaxEntry, out var micros) switch
        {
            MicrosReading.Exact => micros,
            MicrosReading.TooLarge => throw OutOfRange(field, EntryRule),
            MicrosReading.TooFine => throw ProblemException.Invalid(field, TooFineRule),
            _ => throw ProblemException.Invalid(field, rule),
        };

    /// <summary>A 400 naming <paramref name="field"/>, for an amount that passes a maximum.</summary>
    public static ProblemException OutOfRange(string field, string rule) =>
        new(StatusCodes.Status400BadRequest, "The amount is beyond what the ledger holds.", rule, ProblemTypes.CreditLimit)
        {
            Errors = new Dictionary<string, string[]> { [field] = [rule] },
        };
}
