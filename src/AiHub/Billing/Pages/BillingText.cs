using System.Globalization;

namespace AiHub.Billing.Pages;

/// <summary>How the billing pages write money and dates: money from integer minor units, never through floating point.</summary>
internal static class BillingText
{
    // ISO 4217 currencies without a minor unit: their amounts are already whole.
    static readonly HashSet<string> ZeroDecimal = new(StringComparer.OrdinalIgnoreCase) { "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF" };

    public static string Money(long minor, string currency)
    {
        var whole = ZeroDecimal.Contains(currency);
        var amount = whole ? minor : minor / 100m;
        var text = amount.ToString(whole || minor % 100 == 0 ? "#,0" : "#,0.00", CultureInfo.InvariantCulture);
        return currency.Equals("USD", StringComparison.OrdinalIgnoreCase) ? "$" + text : $"{currency.ToUpperInvariant()} {text}";
    }

    public static string Date(DateTimeOffset at) => at.UtcDateTime.ToString("d MMM yyyy", CultureInfo.InvariantCulture);
}
