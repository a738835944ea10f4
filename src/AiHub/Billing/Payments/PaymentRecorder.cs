using AiHub.Billing.Invoices;
using AiHub.Billing.Subscriptions;
using AiHub.Credits;
using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Jobs;
using AiHub.Infrastructure.Money;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Payments;

internal static class BillingAuditKinds
{
    public const string PaymentRecorded = "billing.payment_recorded";
    public const string PaymentRefunded = "billing.payment_refunded";
    public const string PaymentDisputed = "billing.payment_disputed";
    public const string ManualPayment = "billing.manual_payment";
    public const string ManualRefund = "billing.manual_refund";
    public const string SubscriptionChanged = "billing.subscription_changed";
}

/// <summary>
/// The one way money that came in becomes credits, plans and invoices. Whoever reports a payment (webhook, return from
/// the hosted page, sweep, reconciliation, an admin) calls <see cref="RecordAsync"/> with the gateway's current state;
/// reporting the same state again changes nothing, and reporting an older state never undoes a newer one.
/// </summary>
/// <remarks>
/// Exactly once: a payment is one row by (gateway, external id); its credits are one ledger entry keyed by the
/// payment; its invoice is issued in the same transaction that marks it paid, and a refund's clawback and credit
/// note are keyed by the refunded total, so each step happens once however often and in whatever order it is reported.
/// </remarks>
internal sealed class PaymentRecorder(
    AppDbContext db,
    Ledger ledger,
    InvoiceIssuer invoices,
    WorkQueue queue,
    AuditLog audit,
    SubscriptionSync subscriptions,
    TimeProvider clock,
    IOptions<BillingSettings> settings,
    ILogger<PaymentRecorder> log)
{
    public async Task<Payment> RecordAsync(GatewayPayment reported, CancellationToken ct, Guid? actorId = null)
    {
        Require(reported);
        var row = await FindAsync(reported.Gateway, reported.ExternalId, ct) ?? await InsertAsync(reported, actorId, ct);
        if (row.OrganizationId != reported.OrganizationId)
        {
            log.LogWarning("Payment {Gateway} {ExternalId} reported for another organisation than it was recorded for; ignored", reported.Gateway, reported.ExternalId);
            return row;
        }
        if (IsPaid(reported.Status) && row.PaidAt is null)
            await MarkPaidAsync(row, reported, actorId, ct);
        else if (reported.Status == PaymentStatus.Failed && row.Status == PaymentStatus.Pending)
            await db.Set<Payment>().Where(p => p.Id == row.Id && p.Status == PaymentStatus.Pending)
                .ExecuteUpdateAsync(u => u.SetProperty(p => p.Status, PaymentStatus.Failed)
                    .SetProperty(p => p.FailureMessage, Truncate(reported.FailureMessage, 500))
                    .SetProperty(p => p.UpdatedAt, clock.GetUtcNow()), ct);
        row = await FindAsync(row.Gateway, row.ExternalId, ct) ?? row;
        if (row.PaidAt is not null && (reported.RefundedMinor > row.RefundedMinor || (reported.Disputed && row.Status != PaymentStatus.Disputed)))
            row = await TakeBackAsync(row, Math.Min(reported.RefundedMinor, row.AmountMinor), reported.Disputed, actorId, ct);
        return row;
    }

    public Task<Payment?> FindAsync(string gateway, string externalId, CancellationToken ct) =>
        db.Set<Payment>().AsNoTracking().IgnoreQueryFilters().FirstOrDefaultAsync(p => p.Gateway == gateway && p.ExternalId == externalId, ct);

    static bool IsPaid(PaymentStatus s) => s is PaymentStatus.Succeeded or PaymentStatus.PartiallyRefunded or PaymentStatus.Refunded or PaymentStatus.Disputed;

    static void Require(GatewayPayment p)
    {
        if (string.IsNullOrWhiteSpace(p.Gateway) || string.IsNullOrWhiteSpace(p.ExternalId) || p.ExternalId.Length > 100)
            throw new ArgumentException("A payment needs its gateway and an external id of at most 100 characters.", nameof(p));
        if (p.AmountMinor < 0 || p.TaxMinor < 0 || p.TaxMinor > p.AmountMinor || p.RefundedMinor < 0 || p.AmountMinor > 100_000_000_000)
            throw new ArgumentException("A payment's amounts are whole minor units: 0 ≤ tax ≤ amount, refunded ≥ 0.", nameof(p));
        if (p.Currency is not { Length: 3 })
            throw new ArgumentException("A payment's currency is a three-letter code.", nameof(p));
    }

    async Task<Payment> InsertAsync(GatewayPayment g, Guid? actorId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        long credits = 0;
        Guid? account = null;
        if (g.Kind == PaymentKind.Credits)
        {
            var package = Package(g.PackageCode);
            credits = package.Credits * Micros.PerCredit;
            account = g.ToPool || g.BuyerUserId is null
                ? (await ledger.OpenAsync(CreditOwner.Organization, null, g.OrganizationId, ct)).Id
                : (await ledger.OpenAsync(CreditOwner.User, g.BuyerUserId, null, ct)).Id;
        }
        var subscriptionId = g.SubscriptionExternalId is null ? null : await db.Set<Subscription>().AsNoTracking().IgnoreQueryFilters()
            .Where(s => s.Gateway == g.Gateway && s.ExternalId == g.SubscriptionExternalId).Select(s => (Guid?)s.Id).FirstOrDefaultAsync(ct);
        var row = new Payment
        {
            Id = Guid.CreateVersion7(now), OrganizationId = g.OrganizationId, Gateway = g.Gateway, ExternalId = g.ExternalId, Kind = g.Kind,
            Status = PaymentStatus.Pending, AmountMinor = g.AmountMinor, TaxMinor = g.TaxMinor, Currency = g.Currency.ToUpperInvariant(),
            PlanCode = g.PlanCode, PeriodStart = g.PeriodStart, PeriodEnd = g.PeriodEnd, PackageCode = g.PackageCode, CreditMicros = credits,
            CreditAccountId = account, BuyerUserId = g.BuyerUserId, SubscriptionId = subscriptionId, Manual = actorId is not null,
            FailureMessage = Truncate(g.FailureMessage, 500), CreatedAt = g.CreatedAt, UpdatedAt = now,
        };
        db.Add(row);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            return await FindAsync(g.Gateway, g.ExternalId, ct) ?? throw new InvalidOperationException("A payment that lost a unique race is not there.", e);
        }
        db.ChangeTracker.Clear();
        return row;

        CreditPackage Package(string? code) => settings.Value.Package(code)
            ?? throw new PaymentGatewayException($"The payment {g.ExternalId} names the credit package '{code}', which is not configured (Billing:Packages).");
    }

    /// <summary>Marks the payment paid, puts its credits in the ledger and issues its invoice, in one transaction; a second caller finds it done.</summary>
    async Task MarkPaidAsync(Payment row, GatewayPayment g, Guid? actorId, CancellationToken ct)
    {
        var paidAt = clock.GetUtcNow();
        async Task WithinAsync(CancellationToken c)
        {
            var marked = await db.Set<Payment>().IgnoreQueryFilters().Where(p => p.Id == row.Id && p.PaidAt == null)
                .ExecuteUpdateAsync(u => u.SetProperty(p => p.Status, PaymentStatus.Succeeded).SetProperty(p => p.PaidAt, paidAt)
                    .SetProperty(p => p.UpdatedAt, paidAt).SetProperty(p => p.FailureMessage, (string?)null), c);
            if (marked == 0)
                return;
            var invoice = await invoices.IssueAsync(row, paidAt, c);
            queue.Add(InvoiceIssuer.ReceiptWorkKind, new ReceiptWork(invoice.Id));
            audit.Add(BillingAuditKinds.PaymentRecorded, row.BuyerUserId, new
            {
                gateway = row.Gateway, externalId = row.ExternalId, kind = row.Kind.ToString(), amountMinor = row.AmountMinor, currency = row.Currency,
                creditsMicros = row.CreditMicros, invoice = invoice.Number,
            }, actorId, row.OrganizationId);
        }

        if (row.Kind == PaymentKind.Credits && row.CreditMicros > 0 && row.CreditAccountId is { } account)
        {
            await ledger.PostAllAsync(
                [new Posting(account, CreditKind.Purchase, row.CreditMicros, $"{row.PackageCode} ({row.Gateway} {row.ExternalId})", row.BuyerUserId, PurchaseKey(row))],
                ct, (_, c) => WithinAsync(c));
        }
        else
            await InTransactionAsync(WithinAsync, ct);
        queue.DispatchAdded();
    }

    /// <summary>
    /// Takes back the credits of what was refunded (in proportion) or disputed (all), with a credit note for money given
    /// back; the account may go below zero, and shows it. A refunded or disputed plan period ends the plan at once.
    /// </summary>
    async Task<Payment> TakeBackAsync(Payment row, long refundedMinor, bool disputed, Guid? actorId, CancellationToken ct)
    {
        var target = disputed ? row.CreditMicros : Proportion(row.CreditMicros, refundedMinor, row.AmountMinor);
        var delta = Math.Max(0, target - row.ClawedBackMicros);
        var status = disputed ? PaymentStatus.Disputed : refundedMinor >= row.AmountMinor ? PaymentStatus.Refunded : PaymentStatus.PartiallyRefunded;
        var key = disputed ? $"dispute:{row.Gateway}:{row.ExternalId}" : $"refund:{row.Gateway}:{row.ExternalId}:{refundedMinor}";
        var now = clock.GetUtcNow();
        async Task WithinAsync(CancellationToken c)
        {
            var updated = await db.Set<Payment>().IgnoreQueryFilters()
                .Where(p => p.Id == row.Id && p.RefundedMinor <= refundedMinor && p.ClawedBackMicros <= target && p.Status != PaymentStatus.Disputed)
                .ExecuteUpdateAsync(u => u.SetProperty(p => p.RefundedMinor, refundedMinor).SetProperty(p => p.ClawedBackMicros, target)
                    .SetProperty(p => p.Status, status).SetProperty(p => p.UpdatedAt, now), c);
            if (updated == 0)
                return;
            var given = refundedMinor - row.RefundedMinor;
            if (given > 0)
            {
                var note = await invoices.IssueCreditNoteAsync(row, given, key, now, c);
                if (note is not null)
                    queue.Add(InvoiceIssuer.ReceiptWorkKind, new ReceiptWork(note.Id));
            }
            audit.Add(disputed ? BillingAuditKinds.PaymentDisputed : BillingAuditKinds.PaymentRefunded, row.BuyerUserId, new
            {
                gateway = row.Gateway, externalId = row.ExternalId, refundedMinor, currency = row.Currency, creditsTakenBackMicros = delta,
            }, actorId, row.OrganizationId);
        }

        if (delta > 0 && row.CreditAccountId is { } account)
        {
            await ledger.PostAllAsync(
                [new Posting(account, CreditKind.Refund, -delta, $"{(disputed ? "dispute" : "refund")} of {row.Gateway} {row.ExternalId}", actorId, key, MayOverdraw: true)],
                ct, (_, c) => WithinAsync(c));
        }
        else
            await InTransactionAsync(WithinAsync, ct);
        queue.DispatchAdded();
        var after = await FindAsync(row.Gateway, row.ExternalId, ct) ?? row;
        if (after.Kind == PaymentKind.Plan && after.SubscriptionId is { } subscription && after.Status is PaymentStatus.Refunded or PaymentStatus.Disputed)
            await subscriptions.EndNowAsync(after.OrganizationId, subscription, disputed ? "disputed" : "refunded", ct);
        return after;
    }

    /// <summary>Runs <paramref name="work"/> and saves what it added in one transaction of its own, when no ledger entry carries it.</summary>
    async Task InTransactionAsync(Func<CancellationToken, Task> work, CancellationToken ct)
    {
        await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            await work(ct);
            await db.SaveChangesAsync(ct);
            await transaction.CommitAsync(ct);
        });
        db.ChangeTracker.Clear();
    }

    /// <summary><paramref name="part"/>/<paramref name="whole"/> of <paramref name="micros"/>, rounded down, in 128 bits so nothing wraps.</summary>
    internal static long Proportion(long micros, long part, long whole) =>
        whole <= 0 ? 0 : (long)Int128.Min(micros, (Int128)micros * Math.Min(part, whole) / whole);

    internal static string PurchaseKey(Payment p) => $"payment:{p.Gateway}:{p.ExternalId}";

    static string? Truncate(string? text, int max) => text is null || text.Length <= max ? text : text[..max];
}

/// <summary>The payload of a receipt mail: the invoice (or credit note) to render and send.</summary>
internal sealed record ReceiptWork(Guid InvoiceId);
