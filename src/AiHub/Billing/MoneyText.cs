using System.Globalization;

namespace AiHub.Billing;

/// <summary>Amounts in a currency's smallest unit, as people read them: <c>1234</c> USD is <c>USD 12.34</c>, <c>1234</c> JPY is <c>JPY 1,234</c>.</summary>
/// <remarks>Integer arithmetic only: the minor units are split into whole and fraction with division and remainder, never through a double.</remarks>
internal static class MoneyText
{
    // ISO 4217 minor-unit exponents that are not 2; every other code is taken to have cents.
    static readonly Dictionary<string, int> Exponents = new(StringComparer.OrdinalIgnoreCase)
    {
        ["JPY"] = 0, ["KRW"] = 0, ["VND"] = 0, ["CLP"] = 0, ["ISK"] = 0, ["PYG"] = 0, ["UGX"] = 0, ["XAF"] = 0, ["XOF"] = 0, ["XPF"] = 0,
        ["BHD"] = 3, ["JOD"] = 3, ["KWD"] = 3, ["OMR"] = 3, ["TND"] = 3, ["IQD"] = 3, ["LYD"] = 3,
    };

    public static int Exponent(string currency) => Exponents.TryGetValue(currency, out var e) ? e : 2;

    /// <summary>The amount without its currency: <c>-12.34</c>, <c>1,234.50</c>.</summary>
    public static string Number(long minor, string currency)
    {
        var exponent = Exponent(currency);
        var scale = 1L;
        for (var i = 0; i < exponent; i++)
            scale *= 10;
        // Int128 so that long.MinValue's magnitude does not wrap.
        var magnitude = Int128.Abs(minor);
        var whole = (long)(magnitude / scale);
        var fraction = (long)(magnitude % scale);
        var text = whole.ToString("N0", CultureInfo.InvariantCulture);
        if (exponent > 0)
            text += "." + fraction.ToString(CultureInfo.InvariantCulture).PadLeft(exponent, '0');
        return minor < 0 ? "-" + text : text;
    }

    /// <summary>The amount with its currency code: <c>USD 12.34</c>.</summary>
    public static string Format(long minor, string currency) => $"{currency.ToUpperInvariant()} {Number(minor, currency)}";
}
