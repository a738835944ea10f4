using System.Globalization;
using System.Text;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations.ApiKeys;
using CsvHelper;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Usage;

internal enum UsageGrouping
{
    Day,
    Provider,
    Model,

    /// <summary>By API key, with the key's name; use without a key (the web app, a person's token) is one row of its own.</summary>
    ApiKey,

    /// <summary>By the surface the calls came through: <c>mcp</c> for assistants on the MCP server, null for the app and the API.</summary>
    Channel,
}

internal enum ReportPeriod
{
    Day,
    Week,
    Month,
}

/// <summary>Whose usage: any combination of an org, a user and an API key; null means any.</summary>
internal sealed record UsageScope(Guid? OrganizationId = null, Guid? UserId = null, Guid? ApiKeyId = null);

/// <summary>Whole UTC days, both ends included.</summary>
internal sealed record UsageRange(DateOnly From, DateOnly To)
{
    public DateTimeOffset Start => UsageTime.StartOf(From);

    public DateTimeOffset End => UsageTime.StartOf(To.AddDays(1));

    public const int DefaultDays = 30;
    public const int MaxDays = 366;

    /// <summary>The range of a request: <c>yyyy-MM-dd</c> dates, the last 30 days by default, 400 when it makes no sense.</summary>
    public static UsageRange Parse(string? from, string? to, DateOnly today, int maxDays = MaxDays)
    {
        var end = to is null ? today : Date("to", to);
        var start = from is null ? end.AddDays(1 - DefaultDays) : Date("from", from);
        if (start > end)
            throw ProblemException.Invalid("from", $"from ({start:yyyy-MM-dd}) is after to ({end:yyyy-MM-dd}).");
        if (end.DayNumber - start.DayNumber + 1 > maxDays)
            throw ProblemException.Invalid("to", $"A range is at most {maxDays} days; ask for less, or in parts.");
        return new UsageRange(start, end);
    }

    /// <summary>The dates a range may name: wide enough for any usage, narrow enough that a day before or after still exists.</summary>
    public static readonly DateOnly Earliest = new(2000, 1, 1);

    public static readonly DateOnly Latest = new(2999, 12, 31);

    static DateOnly Date(string field, string value)
    {
        if (!DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
            throw ProblemException.Invalid(field, $"{field} is a date like 2025-01-31 (UTC), not '{value}'.");
        return date >= Earliest && date <= Latest
            ? date
            : throw ProblemException.Invalid(field, $"{field} is between {Earliest:yyyy-MM-dd} and {Latest:yyyy-MM-dd}, not {date:yyyy-MM-dd}.");
    }
}

/// <summary>
/// One line of a usage answer. Which of <see cref="Day"/>, <see cref="Provider"/>, <see cref="Model"/> and
/// <see cref="ApiKeyId"/> is set depends on the grouping; by key, a null <see cref="ApiKeyId"/> is the use without a key.
/// </summary>
internal sealed record UsageRow(
    DateOnly? Day, string? Provider, string? Model, long Requests, long Failures, long InputTokens, long OutputTokens,
    decimal Credits, long CostMicros, long AverageLatencyMs, Guid? ApiKeyId = null, string? ApiKeyName = null, string? Channel = null);

internal sealed record UsageResult(DateOnly From, DateOnly To, UsageGrouping GroupBy, IReadOnlyList<UsageRow> Rows, UsageRow Total);

internal sealed record ReportRow(
    DateOnly PeriodStart, decimal Consumed, long ConsumedMicros, decimal Bought, long BoughtMicros, decimal Granted, long GrantedMicros,
    decimal Adjustments, long AdjustmentsMicros, long Requests, long InputTokens, long OutputTokens);

internal sealed record CreditReport(DateOnly From, DateOnly To, ReportPeriod Period, DateTimeOffset AggregatedUntil, IReadOnlyList<ReportRow> Rows, ReportRow Total);

/// <summary>One hour's sums for one (provider, model), and one API key or channel when the answer is by key or by channel.</summary>
internal sealed record UsageBucket(DateTimeOffset HourStart, string Provider, string Model, long Requests, long Failures, long InputTokens, long OutputTokens, long CostMicros, long LatencyMsSum,
    Guid? ApiKeyId = null, string? Channel = null);

/// <summary>
/// Usage answers for people and programs. They add the hourly roll-up and the records it has not counted yet, read in
/// one snapshot, so they are complete and exact whenever the aggregation last ran.
/// </summary>
internal sealed class UsageQueries(AppDbContext db, TimeProvider clock)
{
    public const int MaxReportDays = 1_096;

    public DateOnly Today => DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);

    public static UsageGrouping ParseGrouping(string? value) => value?.ToLowerInvariant() switch
    {
        null or "" or "day" => UsageGrouping.Day,
        "provider" => UsageGrouping.Provider,
        "model" => UsageGrouping.Model,
        "key" => UsageGrouping.ApiKey,
        "channel" => UsageGrouping.Channel,
        _ => throw ProblemException.Invalid("groupBy", "groupBy is day, provider, model, key or channel."),
    };

    public static ReportPeriod ParsePeriod(string? value) => value?.ToLowerInvariant() switch
    {
        null or "" or "day" => ReportPeriod.Day,
        "week" => ReportPeriod.Week,
        "month" => ReportPeriod.Month,
        _ => throw ProblemException.Invalid("period", "period is day, week or month."),
    };

    public async Task<UsageResult> UsageAsync(UsageScope scope, UsageRange range, UsageGrouping grouping, CancellationToken ct)
    {
        var buckets = await BucketsAsync(scope, range, ct, grouping);
        List<UsageRow> rows = grouping switch
        {
            UsageGrouping.ApiKey => await ByKeyAsync(scope, buckets, ct),
            // The app and the API first, then each other surface, dearest first.
            UsageGrouping.Channel => [.. buckets.GroupBy(b => b.Channel).Select(g => Row(g) with { Channel = g.Key })
                .OrderBy(r => r.Channel is not null).ThenByDescending(r => r.CostMicros).ThenBy(r => r.Channel, StringComparer.Ordinal)],
            UsageGrouping.Day => EachDay(range).GroupJoin(buckets, day => day, b => DateOnly.FromDateTime(b.HourStart.UtcDateTime), (day, of) => Row(of, day: day)).ToList(),
            UsageGrouping.Provider => [.. buckets.GroupBy(b => b.Provider).Select(g => Row(g, provider: g.Key)).OrderByDescending(r => r.CostMicros).ThenBy(r => r.Provider, StringComparer.Ordinal)],
            _ => [.. buckets.GroupBy(b => (b.Provider, b.Model)).Select(g => Row(g, provider: g.Key.Provider, model: g.Key.Model))
                .OrderByDescending(r => r.CostMicros).ThenBy(r => r.Provider, StringComparer.Ordinal).ThenBy(r => r.Model, StringComparer.Ordinal)],
        };
        return new UsageResult(range.From, range.To, grouping, rows, Row(buckets));
    }

    /// <summary>Per period: credits used, bought (revenue in credits), granted (grants and promo codes) and adjusted, with requests and tokens.</summary>
    public async Task<CreditReport> ReportAsync(UsageRange range, ReportPeriod period, CancellationToken ct)
    {
        var buckets = await BucketsAsync(new UsageScope(), range, ct);
        var (start, end) = (range.Start, range.End);
        var kinds = new[] { CreditKind.Purchase, CreditKind.Grant, CreditKind.Promo, CreditKind.Adjustment };
        var entries = await db.Set<CreditEntry>().AsNoTracking()
            .Where(e => kinds.Contains(e.Kind) && e.CreatedAt >= start && e.CreatedAt < end)
            .Select(e => new { e.Kind, e.Amount, e.CreatedAt })
            .ToListAsync(ct);
        var watermark = await db.Set<UsageWatermark>().AsNoTracking().FirstAsync(w => w.Id == UsageWatermark.SingletonId, ct);

        var periods = EachDay(range).Select(d => PeriodOf(d, period)).Distinct().ToList();
        var usage = buckets.ToLookup(b => PeriodOf(DateOnly.FromDateTime(b.HourStart.UtcDateTime), period));
        var ledger = entries.ToLookup(e => PeriodOf(DateOnly.FromDateTime(e.CreatedAt.UtcDateTime), period));
        var rows = periods.Select(p => Report(p, usage[p], ledger[p].Select(e => (e.Kind, e.Amount)))).ToList();
        var total = Report(range.From, buckets, entries.Select(e => (e.Kind, e.Amount)));
        return new CreditReport(range.From, range.To, period, watermark.AggregatedUntil, rows, total);
    }

    /// <summary>A row per key, dearest first, named as the key is now (never its secret); the use without a key last.</summary>
    async Task<List<UsageRow>> ByKeyAsync(UsageScope scope, List<UsageBucket> buckets, CancellationToken ct)
    {
        var ids = buckets.Select(b => b.ApiKeyId).OfType<Guid>().Distinct().ToList();
        var names = await OrgApiKeys.NamesAsync(db, ids, scope.OrganizationId, scope.UserId, ct);
        return [.. buckets.GroupBy(b => b.ApiKeyId)
            .Select(g => Row(g) with { ApiKeyId = g.Key, ApiKeyName = g.Key is { } id ? names.GetValueOrDefault(id) : null })
            .OrderBy(r => r.ApiKeyId is null).ThenByDescending(r => r.CostMicros).ThenBy(r => r.ApiKeyName, StringComparer.Ordinal)];
    }

    /// <summary>The roll-up of aggregated hours plus the records not yet counted in it, in one snapshot of the database.</summary>
    async Task<List<UsageBucket>> BucketsAsync(UsageScope scope, UsageRange range, CancellationToken ct, UsageGrouping grouping = UsageGrouping.Day)
    {
        var (start, end) = (range.Start, range.End);
        var hourly = db.Set<UsageHourly>().AsNoTracking().Where(h => h.HourStart >= start && h.HourStart < end);
        var records = db.Set<UsageRecord>().AsNoTracking().Where(r => !r.Aggregated && r.HourStart >= start && r.HourStart < end);
        if (scope.OrganizationId is { } org)
            (hourly, records) = (hourly.Where(h => h.OrganizationId == org), records.Where(r => r.OrganizationId == org));
        if (scope.UserId is { } user)
            (hourly, records) = (hourly.Where(h => h.UserId == user), records.Where(r => r.UserId == user));
        if (scope.ApiKeyId is { } key)
            (hourly, records) = (hourly.Where(h => h.ApiKeyId == key), records.Where(r => r.ApiKeyId == key));

        var strategy = db.Database.CreateExecutionStrategy();
        // One snapshot: an aggregation committing between the two reads would otherwise count its hour twice or not at all.
        return await strategy.ExecuteAsync(() => db.Database.ReadSnapshotAsync(async ct =>
        {
            if (grouping == UsageGrouping.ApiKey)
                return await KeyedBucketsAsync(hourly, records, ct);
            if (grouping == UsageGrouping.Channel)
                return await ChannelBucketsAsync(hourly, records, ct);
            var rolled = await hourly
                .GroupBy(h => new { h.HourStart, h.Provider, h.Model })
                .Select(g => new UsageBucket(g.Key.HourStart, g.Key.Provider, g.Key.Model, g.Sum(h => h.Requests), g.Sum(h => h.Failures),
                    g.Sum(h => h.InputTokens), g.Sum(h => h.OutputTokens), g.Sum(h => h.CostMicros), g.Sum(h => h.LatencyMsSum)))
                .ToListAsync(ct);
            var fresh = await records
                .GroupBy(r => new { r.HourStart, r.Provider, r.Model })
                .Select(g => new UsageBucket(g.Key.HourStart, g.Key.Provider, g.Key.Model, g.LongCount(), g.LongCount(r => r.Status == UsageStatus.Failed),
                    g.Sum(r => r.InputTokens), g.Sum(r => r.OutputTokens), g.Sum(r => r.CostMicros), g.Sum(r => r.LatencyMs)))
                .ToListAsync(ct);
            return rolled.Concat(fresh).ToList();
        }, ct));
    }

    /// <summary>As the buckets, with the API key in their key: only the answer by key pays for the extra rows.</summary>
    static async Task<List<UsageBucket>> KeyedBucketsAsync(IQueryable<UsageHourly> hourly, IQueryable<UsageRecord> records, CancellationToken ct)
    {
        var rolled = await hourly
            .GroupBy(h => new { h.HourStart, h.Provider, h.Model, h.ApiKeyId })
            .Select(g => new UsageBucket(g.Key.HourStart, g.Key.Provider, g.Key.Model, g.Sum(h => h.Requests), g.Sum(h => h.Failures),
                g.Sum(h => h.InputTokens), g.Sum(h => h.OutputTokens), g.Sum(h => h.CostMicros), g.Sum(h => h.LatencyMsSum), g.Key.ApiKeyId))
            .ToListAsync(ct);
        var fresh = await records
            .GroupBy(r => new { r.HourStart, r.Provider, r.Model, r.ApiKeyId })
            .Select(g => new UsageBucket(g.Key.HourStart, g.Key.Provider, g.Key.Model, g.LongCount(), g.LongCount(r => r.Status == UsageStatus.Failed),
                g.Sum(r => r.InputTokens), g.Sum(r => r.OutputTokens), g.Sum(r => r.CostMicros), g.Sum(r => r.LatencyMs), g.Key.ApiKeyId))
            .ToListAsync(ct);
        return rolled.Concat(fresh).ToList();
    }

    /// <summary>As the buckets, with the channel in their key.</summary>
    static async Task<List<UsageBucket>> ChannelBucketsAsync(IQueryable<UsageHourly> hourly, IQueryable<UsageRecord> records, CancellationToken ct)
    {
        var rolled = await hourly
            .GroupBy(h => new { h.HourStart, h.Provider, h.Model, h.Channel })
            .Select(g => new UsageBucket(g.Key.HourStart, g.Key.Provider, g.Key.Model, g.Sum(h => h.Requests), g.Sum(h => h.Failures),
                g.Sum(h => h.InputTokens), g.Sum(h => h.OutputTokens), g.Sum(h => h.CostMicros), g.Sum(h => h.LatencyMsSum), null, g.Key.Channel))
            .ToListAsync(ct);
        var fresh = await records
            .GroupBy(r => new { r.HourStart, r.Provider, r.Model, r.Channel })
            .Select(g => new UsageBucket(g.Key.HourStart, g.Key.Provider, g.Key.Model, g.LongCount(), g.LongCount(r => r.Status == UsageStatus.Failed),
                g.Sum(r => r.InputTokens), g.Sum(r => r.OutputTokens), g.Sum(r => r.CostMicros), g.Sum(r => r.LatencyMs), null, g.Key.Channel))
            .ToListAsync(ct);
        return rolled.Concat(fresh).ToList();
    }

    static IEnumerable<DateOnly> EachDay(UsageRange range)
    {
        for (var day = range.From; day <= range.To; day = day.AddDays(1))
            yield return day;
    }

    /// <summary>Weeks start on Monday (ISO 8601); months on the 1st.</summary>
    static DateOnly PeriodOf(DateOnly day, ReportPeriod period) => period switch
    {
        ReportPeriod.Week => day.AddDays(-(((int)day.DayOfWeek + 6) % 7)),
        ReportPeriod.Month => new DateOnly(day.Year, day.Month, 1),
        _ => day,
    };

    static UsageRow Row(IEnumerable<UsageBucket> buckets, DateOnly? day = null, string? provider = null, string? model = null)
    {
        long requests = 0, failures = 0, input = 0, output = 0, cost = 0, latency = 0;
        foreach (var b in buckets)
        {
            requests += b.Requests;
            failures += b.Failures;
            input += b.InputTokens;
            output += b.OutputTokens;
            cost += b.CostMicros;
            latency += b.LatencyMsSum;
        }
        return new UsageRow(day, provider, model, requests, failures, input, output, Micros.ToCredits(cost), cost, requests == 0 ? 0 : latency / requests);
    }

    static ReportRow Report(DateOnly start, IEnumerable<UsageBucket> usage, IEnumerable<(CreditKind Kind, long Amount)> entries)
    {
        var used = Row(usage);
        long bought = 0, granted = 0, adjusted = 0;
        foreach (var (kind, amount) in entries)
        {
            if (kind == CreditKind.Purchase)
                bought += amount;
            else if (kind is CreditKind.Grant or CreditKind.Promo)
                granted += amount;
            else
                adjusted += amount;
        }
        return new ReportRow(start, used.Credits, used.CostMicros, Micros.ToCredits(bought), bought, Micros.ToCredits(granted), granted, Micros.ToCredits(adjusted), adjusted,
            used.Requests, used.InputTokens, used.OutputTokens);
    }

}

/// <summary>CSV as RFC 4180 has it: a header row, CRLF line ends, fields with a comma, quote or line break quoted; numbers written as numbers.</summary>
internal static class UsageCsv
{
    public static byte[] Usage(UsageResult result)
    {
        var grouping = result.GroupBy;
        string[] keys = grouping switch
        {
            UsageGrouping.Day => ["day"],
            UsageGrouping.Provider => ["provider"],
            UsageGrouping.ApiKey => ["api_key_id", "api_key_name"],
            UsageGrouping.Channel => ["channel"],
            _ => ["provider", "model"],
        };
        return Bulk.Csv.Write(csv =>
        {
            Header(csv, [.. keys, "requests", "failures", "input_tokens", "output_tokens", "credits", "cost_micros", "average_latency_ms"]);
            foreach (var row in result.Rows)
            {
                switch (grouping)
                {
                    case UsageGrouping.Day:
                        csv.WriteField(row.Day!.Value, "yyyy-MM-dd");
                        break;
                    case UsageGrouping.Provider:
                        csv.WriteField(row.Provider!);
                        break;
                    case UsageGrouping.ApiKey:
                        csv.WriteField(row.ApiKeyId?.ToString() ?? "");
                        csv.WriteField(row.ApiKeyName ?? "");
                        break;
                    case UsageGrouping.Channel:
                        csv.WriteField(row.Channel ?? "");
                        break;
                    default:
                        csv.WriteField(row.Provider!);
                        csv.WriteField(row.Model!);
                        break;
                }
                Numbers(csv, row.Requests, row.Failures, row.InputTokens, row.OutputTokens);
                Credits(csv, row.CostMicros);
                Numbers(csv, row.CostMicros, row.AverageLatencyMs);
                csv.EndRecord();
            }
        });
    }

    public static byte[] Report(CreditReport report) => Bulk.Csv.Write(csv =>
    {
        Header(csv, ["period_start", "consumed_credits", "consumed_micros", "bought_credits", "bought_micros", "granted_credits", "granted_micros",
            "adjustments_credits", "adjustments_micros", "requests", "input_tokens", "output_tokens"]);
        foreach (var r in report.Rows)
        {
            csv.WriteField(r.PeriodStart, "yyyy-MM-dd");
            foreach (var micros in (long[])[r.ConsumedMicros, r.BoughtMicros, r.GrantedMicros, r.AdjustmentsMicros])
            {
                Credits(csv, micros);
                Numbers(csv, micros);
            }
            Numbers(csv, r.Requests, r.InputTokens, r.OutputTokens);
            csv.EndRecord();
        }
    });

    static void Header(CsvWriter csv, IEnumerable<string> names)
    {
        foreach (var name in names)
            csv.WriteField(name);
        csv.EndRecord();
    }

    static void Numbers(CsvWriter csv, params ReadOnlySpan<long> values)
    {
        foreach (var value in values)
            csv.WriteField(value);
    }

    /// <remarks>As a number, not text: a negative amount must not be escaped as if it were a formula.</remarks>
    static void Credits(CsvWriter csv, long micros) => csv.WriteField(Micros.ToCredits(micros), "0.######");
}
