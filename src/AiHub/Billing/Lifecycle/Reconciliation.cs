using System.Text.Json;
using AiHub.Billing.Lifecycle.Emails;
using AiHub.Billing.Payments;
using AiHub.Data;
using AiHub.Notifications;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Lifecycle;

/// <summary>One line of a reconciliation report: what was repaired or differs, with both sides.</summary>
/// <param name="Problem">
/// Repaired: <c>missed</c> (a payment recorded now), <c>missed_refund</c>, <c>missed_dispute</c>, <c>missed_failure</c>.
/// For a person: <c>amount</c>, <c>currency</c>, <c>status</c>, <c>unknown_at_gateway</c>, <c>unrecordable</c>.
/// </param>
internal sealed record ReconciliationEntry(
    string Problem, string ExternalId, Guid? PaymentId, Guid OrganizationId, ReconciliationSide? Gateway, ReconciliationSide? AiHub, bool Repaired);

internal sealed record ReconciliationSide(string Status, long AmountMinor, long RefundedMinor, string Currency);

/// <summary>
/// Nightly (03:00 UTC): compares each gateway's payments of the last <c>Billing:ReconcileDays</c> days with AiHub's. A
/// payment AiHub missed (a webhook lost, a customer who never came back) is recorded through the one payment path, so it
/// credits once; what needs a person is reported, kept as a <see cref="ReconciliationRun"/> and mailed to
/// <c>Billing:AlertEmail</c>.
/// </summary>
internal sealed partial class Reconciliation(
    AppDbContext db,
    PaymentGateways gateways,
    PaymentRecorder recorder,
    Mailer mailer,
    IOptions<BillingSettings> settings,
    TimeProvider clock,
    ILogger<Reconciliation> log)
{
    public const string JobId = "billing-reconciliation";

    public static readonly string Cron = Hangfire.Cron.Daily(3);

    /// <summary>Runs for every gateway with payments in the window, and the configured one (whose only payments may be the missed ones).</summary>
    public async Task<IReadOnlyList<ReconciliationRun>> RunAsync(int? days, CancellationToken ct)
    {
        // Whole seconds, as gateways filter by creation time: both sides then compare the same window.
        var now = clock.GetUtcNow();
        var to = new DateTimeOffset(now.UtcTicks - now.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero).AddSeconds(1);
        var from = to - TimeSpan.FromDays(days ?? settings.Value.ReconcileDays);
        var names = await db.Set<Payment>().IgnoreQueryFilters().AsNoTracking()
            .Where(p => p.CreatedAt >= from).Select(p => p.Gateway).Distinct().ToListAsync(ct);
        if (settings.Value.Enabled)
            names.Add(settings.Value.Gateway!.Trim().ToLowerInvariant());
        var runs = new List<ReconciliationRun>();
        foreach (var name in names.Distinct().Order(StringComparer.Ordinal))
        {
            IPaymentGateway gateway;
            try
            {
                gateway = gateways.Of(name);
            }
            catch (InvalidOperationException)
            {
                LogNoGateway(name);
                continue;
            }
            runs.Add(await RunAsync(gateway, from, to, ct));
        }
        return runs;
    }

    /// <summary>The nightly job's entry: the configured window.</summary>
    public Task NightlyAsync(CancellationToken ct) => RunAsync(null, ct);

    public async Task<ReconciliationRun> RunAsync(IPaymentGateway gateway, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var theirs = await gateway.ListPaymentsAsync(from, to, ct);
        var ours = await db.Set<Payment>().IgnoreQueryFilters().AsNoTracking()
            .Where(p => p.Gateway == gateway.Name && p.CreatedAt >= from && p.CreatedAt < to).ToListAsync(ct);
        var byId = ours.ToDictionary(p => p.ExternalId, StringComparer.Ordinal);
        var report = new List<ReconciliationEntry>();
        foreach (var g in theirs)
        {
            var row = byId.GetValueOrDefault(g.ExternalId) ?? await recorder.FindAsync(gateway.Name, g.ExternalId, ct);
            report.AddRange(await CompareAsync(g, row, ct));
        }
        var seen = theirs.Select(g => g.ExternalId).ToHashSet(StringComparer.Ordinal);
        foreach (var row in ours.Where(p => p.PaidAt is not null && !p.Manual && !seen.Contains(p.ExternalId)))
            report.Add(new ReconciliationEntry("unknown_at_gateway", row.ExternalId, row.Id, row.OrganizationId, null, Side(row), false));

        var run = new ReconciliationRun
        {
            Id = Guid.CreateVersion7(to), Gateway = gateway.Name, From = from, To = to, RanAt = clock.GetUtcNow(), Checked = theirs.Count,
            Repaired = report.Count(e => e.Repaired), Differences = report.Count(e => !e.Repaired),
            ReportJson = JsonSerializer.Serialize(report, JsonSerializerOptions.Web),
        };
        db.Add(run);
        await db.SaveChangesAsync(ct);
        db.ChangeTracker.Clear();
        if (run.Differences > 0)
            LogDifferences(gateway.Name, run.Checked, run.Repaired, run.Differences, run.Id);
        else
            LogClean(gateway.Name, run.Checked, run.Repaired);
        if ((run.Differences > 0 || run.Repaired > 0) && !string.IsNullOrWhiteSpace(settings.Value.AlertEmail))
        {
            var summary = BillingEmailText.ReconciliationSummary(gateway.Name, from, to, run.Checked, run.Repaired, run.Differences);
            await mailer.SendReconciliationAsync(settings.Value.AlertEmail, BillingEmailText.ReconciliationSubject(gateway.Name, run.Repaired, run.Differences),
                summary, report.Select(Describe).ToList(), ct);
        }
        return run;
    }

    /// <summary>
    /// Where the gateway is ahead of AiHub (paid, refunded or disputed since), recording its state is the repair the
    /// webhook would have made; what is left different after that needs a person.
    /// </summary>
    async Task<IEnumerable<ReconciliationEntry>> CompareAsync(GatewayPayment g, Payment? row, CancellationToken ct)
    {
        string? repaired = null;
        if (Ahead(g, row))
        {
            repaired = g.Status == PaymentStatus.Failed ? "missed_failure"
                : row is null || row.PaidAt is null ? "missed"
                : g.Disputed && row.Status != PaymentStatus.Disputed ? "missed_dispute" : "missed_refund";
            try
            {
                row = await recorder.RecordAsync(g, ct);
            }
            catch (Exception e) when (e is PaymentGatewayException or ArgumentException)
            {
                // The payment cannot be recorded as reported (an unknown package, an unknown plan): a person decides.
                LogNotRecorded(e, g.Gateway, g.ExternalId);
                return [new ReconciliationEntry("unrecordable", g.ExternalId, row?.Id, g.OrganizationId, Side(g), row is null ? null : Side(row), false)];
            }
        }
        if (row is null)
            return [];
        var entries = new List<ReconciliationEntry>();
        if (repaired is not null)
            entries.Add(new ReconciliationEntry(repaired, g.ExternalId, row.Id, row.OrganizationId, Side(g), Side(row), true));
        if (row.AmountMinor != g.AmountMinor)
            entries.Add(new ReconciliationEntry("amount", g.ExternalId, row.Id, row.OrganizationId, Side(g), Side(row), false));
        if (!string.Equals(row.Currency, g.Currency, StringComparison.OrdinalIgnoreCase))
            entries.Add(new ReconciliationEntry("currency", g.ExternalId, row.Id, row.OrganizationId, Side(g), Side(row), false));
        if (row.Status != g.Status || row.RefundedMinor != Math.Min(g.RefundedMinor, row.AmountMinor))
            entries.Add(new ReconciliationEntry("status", g.ExternalId, row.Id, row.OrganizationId, Side(g), Side(row), false));
        return entries;
    }

    /// <summary>
    /// The gateway has taken money AiHub has not recorded, given back or lost to a dispute more than AiHub took back, or
    /// failed a payment AiHub still waits for.
    /// </summary>
    static bool Ahead(GatewayPayment g, Payment? row)
    {
        if (g.Status == PaymentStatus.Failed)
            return row is { Status: PaymentStatus.Pending };
        var paid = g.Status is PaymentStatus.Succeeded or PaymentStatus.PartiallyRefunded or PaymentStatus.Refunded or PaymentStatus.Disputed;
        if (!paid)
            return false;
        return row is null || row.PaidAt is null || g.RefundedMinor > row.RefundedMinor || (g.Disputed && row.Status != PaymentStatus.Disputed);
    }

    static ReconciliationSide Side(GatewayPayment g) => new(g.Status.ToString(), g.AmountMinor, g.RefundedMinor, g.Currency.ToUpperInvariant());

    static ReconciliationSide Side(Payment p) => new(p.Status.ToString(), p.AmountMinor, p.RefundedMinor, p.Currency);

    static string Describe(ReconciliationEntry e)
    {
        static string Text(ReconciliationSide? s) => s is null ? "none" : $"{s.Status}, {s.AmountMinor} {s.Currency} (refunded {s.RefundedMinor})";
        return $"{e.Problem}: {e.ExternalId} (org {e.OrganizationId}{(e.PaymentId is { } id ? $", payment {id}" : "")}): gateway {Text(e.Gateway)}; AiHub {Text(e.AiHub)}"
            + (e.Repaired ? "; recorded now" : "");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconciliation {Gateway}: {Checked} payment(s) checked, {Repaired} missed one(s) recorded, no differences")]
    partial void LogClean(string gateway, int @checked, int repaired);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciliation {Gateway}: {Checked} payment(s) checked, {Repaired} missed one(s) recorded, {Differences} difference(s) need a person (run {RunId})")]
    partial void LogDifferences(string gateway, int @checked, int repaired, int differences, Guid runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciliation: no gateway named {Gateway} is registered; its payments are not compared")]
    partial void LogNoGateway(string gateway);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciliation: payment {Gateway} {ExternalId} could not be recorded as the gateway reports it")]
    partial void LogNotRecorded(Exception e, string gateway, string externalId);
}
