using System.Globalization;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Operations;

/// <summary>One month in one currency; every amount in the currency's smallest unit.</summary>
/// <param name="MrrMinor">Monthly recurring revenue at the month's end: the monthly prices of the subscriptions paying then (active, or past due within the grace).</param>
/// <param name="NetMinor">Payments taken less refunds given in the month.</param>
internal sealed record RevenueMonth(string Month, string Currency, long MrrMinor, int ActiveSubscriptions, int NewSubscriptions, int Churned,
    long GrossMinor, long RefundsMinor, long NetMinor);

internal sealed record RevenueResponse(string From, string To, IReadOnlyList<RevenueMonth> Months);

/// <summary>Revenue by month for the admin console: MRR, new and churned subscriptions, payments and refunds, per currency.</summary>
/// <remarks>
/// Integer sums only. Refunds count in the month their credit note was issued, payments in the month they were paid.
/// A subscription's past is read from its dates (created, ended, past due since), the history AiHub keeps.
/// </remarks>
internal sealed class RevenueReport(AppDbContext db, IOptions<BillingSettings> settings, TimeProvider clock)
{
    const int MaxMonths = 60;

    static readonly string[] CsvHeader = ["month", "currency", "mrr_minor", "active_subscriptions", "new_subscriptions", "churned", "gross_minor", "refunds_minor", "net_minor"];

    public async Task<RevenueResponse> BuildAsync(string? from, string? to, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var first = ParseMonth(from, "from") ?? new DateTimeOffset(now.Year, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var last = ParseMonth(to, "to") ?? new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        if (last < first)
            throw ProblemException.Invalid("to", "to is the same month as from or later.");
        var months = (last.Year - first.Year) * 12 + last.Month - first.Month + 1;
        if (months > MaxMonths)
            throw ProblemException.Invalid("to", $"A report covers at most {MaxMonths} months.");
        var end = last.AddMonths(1);

        var prices = await db.Set<Plan>().AsNoTracking().ToDictionaryAsync(p => p.Code, p => (p.PriceCents, Currency: p.Currency.ToUpperInvariant()), ct);
        var subscriptions = await db.Set<Subscription>().AsNoTracking().IgnoreQueryFilters()
            .Where(s => s.Status != SubscriptionStatus.Incomplete && s.CreatedAt < end).ToListAsync(ct);
        var payments = await db.Set<Payment>().AsNoTracking().IgnoreQueryFilters()
            .Where(p => p.PaidAt != null && p.PaidAt >= first && p.PaidAt < end).Select(p => new { p.PaidAt, p.AmountMinor, p.Currency }).ToListAsync(ct);
        var refunds = await db.Set<Invoice>().AsNoTracking().IgnoreQueryFilters()
            .Where(i => i.Kind == InvoiceKind.CreditNote && i.IssuedAt >= first && i.IssuedAt < end).Select(i => new { i.IssuedAt, i.TotalMinor, i.Currency }).ToListAsync(ct);

        var grace = settings.Value.GracePeriod;
        (long Price, string Currency) PriceOf(Subscription s) => prices.TryGetValue(s.PlanCode, out var p) ? p : (0, "USD");
        var currencies = new SortedSet<string>(StringComparer.Ordinal);
        currencies.UnionWith(subscriptions.Select(s => PriceOf(s).Currency));
        currencies.UnionWith(payments.Select(p => p.Currency.ToUpperInvariant()));
        currencies.UnionWith(refunds.Select(r => r.Currency.ToUpperInvariant()));
        if (currencies.Count == 0)
            currencies.UnionWith(prices.Values.Where(p => p.PriceCents > 0).Select(p => p.Currency).DefaultIfEmpty("USD"));

        var rows = new List<RevenueMonth>();
        for (var m = first; m < end; m = m.AddMonths(1))
        {
            var next = m.AddMonths(1);
            // The month's end, or now for the month still running.
            var at = next < now ? next : now;
            foreach (var currency in currencies)
            {
                var ofCurrency = subscriptions.Where(s => PriceOf(s).Currency == currency).ToList();
                var paying = ofCurrency.Where(s => PayingAt(s, at, grace)).ToList();
                var gross = payments.Where(p => p.PaidAt >= m && p.PaidAt < next && p.Currency.Equals(currency, StringComparison.OrdinalIgnoreCase)).Sum(p => p.AmountMinor);
                var refunded = -refunds.Where(r => r.IssuedAt >= m && r.IssuedAt < next && r.Currency.Equals(currency, StringComparison.OrdinalIgnoreCase)).Sum(r => r.TotalMinor);
                rows.Add(new RevenueMonth(
                    m.ToString("yyyy-MM", CultureInfo.InvariantCulture), currency,
                    checked(paying.Sum(s => PriceOf(s).Price)), paying.Count,
                    ofCurrency.Count(s => s.CreatedAt >= m && s.CreatedAt < next),
                    ofCurrency.Count(s => s.EndedAt >= m && s.EndedAt < next),
                    gross, refunded, gross - refunded));
            }
        }
        return new RevenueResponse(first.ToString("yyyy-MM", CultureInfo.InvariantCulture), last.ToString("yyyy-MM", CultureInfo.InvariantCulture), rows);
    }

    /// <summary>The report as CSV: a header, then one record per month and currency; amounts as integers of the currency's smallest unit.</summary>
    public static byte[] Csv(RevenueResponse report) => Credits.Bulk.Csv.Write(csv =>
    {
        foreach (var header in CsvHeader)
            csv.WriteField(header);
        csv.EndRecord();
        foreach (var row in report.Months)
        {
            csv.WriteField(row.Month);
            csv.WriteField(row.Currency);
            csv.WriteField(row.MrrMinor);
            csv.WriteField(row.ActiveSubscriptions);
            csv.WriteField(row.NewSubscriptions);
            csv.WriteField(row.Churned);
            csv.WriteField(row.GrossMinor);
            csv.WriteField(row.RefundsMinor);
            csv.WriteField(row.NetMinor);
            csv.EndRecord();
        }
    });

    /// <summary>Whether a subscription was paying at <paramref name="at"/>: started, not ended, not in a trial, and not past due beyond the grace.</summary>
    internal static bool PayingAt(Subscription s, DateTimeOffset at, TimeSpan grace)
    {
        if (s.CreatedAt >= at || (s.EndedAt is { } ended && ended <= at))
            return false;
        if (s.TrialEnd is { } trial && trial > at && s.CreatedAt < trial)
            return false;
        if (s.Status == SubscriptionStatus.Canceled && s.EndedAt is null)
            return false;
        return s.PastDueSince is not { } since || since > at || since + grace > at;
    }

    static DateTimeOffset? ParseMonth(string? text, string field)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;
        return DateTime.TryParseExact(text.Trim(), "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.None, out var month) && month.Year >= 2000 && month.Year <= 2200
            ? new DateTimeOffset(month.Year, month.Month, 1, 0, 0, 0, TimeSpan.Zero)
            : throw ProblemException.Invalid(field, $"{field} is a month written yyyy-MM, such as 2026-01.");
    }
}
