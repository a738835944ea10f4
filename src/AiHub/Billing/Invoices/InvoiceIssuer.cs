using System.Globalization;
using System.Text.Json;
using AiHub.Credits.Plans;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Invoices;

/// <summary>One line of an invoice; amounts in the currency's smallest unit, before tax.</summary>
internal sealed record InvoiceLine(string Description, long Quantity, long UnitMinor, long AmountMinor);

/// <summary>A party as printed on an invoice, frozen when it is issued.</summary>
internal sealed record InvoiceParty(string Name, IReadOnlyList<string> Address, string? TaxId, string? Email);

/// <summary>
/// Issues AiHub's invoices and credit notes inside the caller's transaction (the one that marks the payment paid or
/// refunded), so an invoice exists exactly when its payment does, and numbers have no gaps: a rolled-back transaction
/// gives its number back.
/// </summary>
internal sealed class InvoiceIssuer(AppDbContext db, IOptions<BillingSettings> settings)
{
    /// <summary>The work item that renders an invoice to PDF and mails it with the receipt.</summary>
    public const string ReceiptWorkKind = "billing.receipt";

    public async Task<Invoice> IssueAsync(Payment payment, DateTimeOffset at, CancellationToken ct)
    {
        var net = payment.AmountMinor - payment.TaxMinor;
        var line = payment.Kind == PaymentKind.Credits
            ? new InvoiceLine(PackageText(payment), 1, net, net)
            : new InvoiceLine(await PlanTextAsync(payment, ct), 1, net, net);
        return await AddAsync(payment, InvoiceKind.Invoice, [line], payment.TaxMinor, null, null, at, ct);
    }

    /// <summary>A credit note for <paramref name="refundedMinor"/> given back; null when <paramref name="sourceKey"/> already made one.</summary>
    public async Task<Invoice?> IssueCreditNoteAsync(Payment payment, long refundedMinor, string sourceKey, DateTimeOffset at, CancellationToken ct)
    {
        if (await db.Set<Invoice>().IgnoreQueryFilters().AnyAsync(i => i.SourceKey == sourceKey, ct))
            return null;
        var original = await db.Set<Invoice>().IgnoreQueryFilters().AsNoTracking()
            .Where(i => i.PaymentId == payment.Id && i.Kind == InvoiceKind.Invoice).OrderBy(i => i.Sequence).FirstOrDefaultAsync(ct);
        // The tax given back is the refund's share of the payment's tax, rounded down like every proportion in money here.
        var tax = payment.AmountMinor == 0 ? 0 : (long)((Int128)payment.TaxMinor * refundedMinor / payment.AmountMinor);
        var net = refundedMinor - tax;
        var text = original is null ? $"Refund of payment {payment.ExternalId}" : $"Refund against invoice {original.Number}";
        return await AddAsync(payment, InvoiceKind.CreditNote, [new InvoiceLine(text, 1, -net, -net)], -tax, original?.Id, sourceKey, at, ct);
    }

    async Task<Invoice> AddAsync(Payment payment, InvoiceKind kind, IReadOnlyList<InvoiceLine> lines, long taxMinor, Guid? corrects, string? sourceKey,
        DateTimeOffset at, CancellationToken ct)
    {
        var sequence = await NextNumberAsync(ct);
        var s = settings.Value;
        var seller = new InvoiceParty(s.Seller.Name, s.Seller.Address, s.Seller.TaxId, s.Seller.Email);
        var subtotal = lines.Sum(l => l.AmountMinor);
        var invoice = new Invoice
        {
            Id = Guid.CreateVersion7(at), OrganizationId = payment.OrganizationId, Sequence = sequence,
            Number = s.InvoicePrefix + sequence.ToString("000000", CultureInfo.InvariantCulture), Kind = kind, PaymentId = payment.Id,
            CorrectsInvoiceId = corrects, SourceKey = sourceKey,
            SellerJson = JsonSerializer.Serialize(seller, JsonSerializerOptions.Web),
            BuyerJson = JsonSerializer.Serialize(await BuyerAsync(payment.OrganizationId, ct), JsonSerializerOptions.Web),
            LinesJson = JsonSerializer.Serialize(lines, JsonSerializerOptions.Web),
            SubtotalMinor = subtotal, TaxMinor = taxMinor, TotalMinor = subtotal + taxMinor, Currency = payment.Currency, IssuedAt = at,
        };
        db.Add(invoice);
        return invoice;
    }

    /// <summary>Takes the deployment's next number under the counter row's lock; the caller's transaction holds it until commit.</summary>
    async Task<long> NextNumberAsync(CancellationToken ct)
    {
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("An invoice number is taken inside the transaction that saves the invoice, or a rollback would leave a gap.");
        var taken = await db.Database.SqlQuery<long>($"UPDATE invoice_counters SET next = next + 1 WHERE id = 1 RETURNING next - 1 AS \"Value\"").ToListAsync(ct);
        return taken.Count == 1 ? taken[0] : throw new InvalidOperationException("The invoice counter row is missing.");
    }

    async Task<InvoiceParty> BuyerAsync(Guid orgId, CancellationToken ct)
    {
        var customer = await db.Set<BillingCustomer>().AsNoTracking().IgnoreQueryFilters().FirstOrDefaultAsync(c => c.OrganizationId == orgId, ct);
        if (customer is not null)
        {
            var address = new[] { customer.AddressLine1, customer.AddressLine2, JoinNonEmpty(customer.City, customer.State, customer.PostalCode), customer.Country }
                .Where(l => !string.IsNullOrWhiteSpace(l)).Select(l => l!).ToList();
            return new InvoiceParty(customer.Name, address, customer.TaxId, customer.Email);
        }
        var name = await db.Organizations.IgnoreQueryFilters().Where(o => o.Id == orgId).Select(o => o.Name).FirstOrDefaultAsync(ct);
        return new InvoiceParty(name ?? orgId.ToString(), [], null, null);
    }

    string PackageText(Payment p) =>
        settings.Value.Package(p.PackageCode) is { } package ? $"{package.Name} ({package.Credits.ToString("N0", CultureInfo.InvariantCulture)} credits)" : $"Credit package {p.PackageCode}";

    async Task<string> PlanTextAsync(Payment p, CancellationToken ct)
    {
        var name = await db.Set<Plan>().AsNoTracking().Where(x => x.Code == p.PlanCode).Select(x => x.Name).FirstOrDefaultAsync(ct) ?? p.PlanCode;
        return p is { PeriodStart: { } from, PeriodEnd: { } to }
            ? $"{name} plan, {from.UtcDateTime:yyyy-MM-dd} to {to.UtcDateTime:yyyy-MM-dd}"
            : $"{name} plan";
    }

    static string? JoinNonEmpty(params string?[] parts) => string.Join(" ", parts.Where(p => !string.IsNullOrWhiteSpace(p))) is { Length: > 0 } s ? s : null;
}
