using System.Globalization;

namespace AiHub.Credits.Usage;

/// <summary>A value axis from zero to just above the data, in steps of 1, 2 or 5 times a power of ten.</summary>
/// <param name="Step">The distance between two ticks.</param>
/// <param name="Max">The top of the axis: the first tick at or above the largest value.</param>
internal sealed record ChartAxis(decimal Step, decimal Max)
{
    /// <summary>The ticks from zero to <see cref="Max"/>, both included.</summary>
    public IReadOnlyList<decimal> Ticks
    {
        get
        {
            var ticks = new List<decimal>();
            for (var tick = 0m; tick <= Max; tick += Step)
                ticks.Add(tick);
            return ticks;
        }
    }

    /// <summary>
    /// The axis for values up to <paramref name="max"/> with about <paramref name="ticks"/> steps, none finer than
    /// <paramref name="smallest"/> (a micro-credit, a whole token); null when there is nothing to draw.
    /// </summary>
    /// <remarks>Decimal throughout, so that 0.1 + 0.2 is a tick label of 0.3 and not 0.30000000000000004.</remarks>
    public static ChartAxis? For(decimal max, decimal smallest, int ticks = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ticks, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(smallest);
        if (max <= 0)
            return null;
        var rough = max / ticks;
        var power = 1m;
        while (power > rough)
            power /= 10;
        while (power * 10 <= rough)
            power *= 10;
        var fraction = rough / power;
        var step = Math.Max(smallest, (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power);
        return new ChartAxis(step, Math.Ceiling(max / step) * step);
    }

    /// <summary>A tick's label: only as many decimals as the step has, with thousands separated.</summary>
    public string Label(decimal value)
    {
        var decimals = 0;
        for (var step = Step; step != decimal.Truncate(step); step *= 10)
            decimals++;
        return value.ToString("N" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }
}
