using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Invoices;

/// <summary>An invoice as the API shows it; amounts in the currency's smallest unit, <see cref="Total"/> formatted for display.</summary>
/// <param name="Kind"><c>invoice</c> or <c>credit_note</c>.</param>
/// <param name="PaymentStatus">The status of the payment it belongs to now (a paid invoice's payment may have been refunded since).</param>
internal sealed record InvoiceResponse(
    Guid Id,
    string Number,
    string Kind,
    DateTimeOffset IssuedAt,
    long SubtotalMinor,
    long TaxMinor,
    long TotalMinor,
    string Currency,
    string Total,
    string PaymentStatus,
    string? CorrectsNumber,
    string PdfUrl,
    DateTimeOffset? MailedAt);

/// <summary>An invoice with what is printed on it.</summary>
internal sealed record InvoiceDetail(InvoiceResponse Invoice, InvoiceParty Seller, InvoiceParty Buyer, IReadOnlyList<InvoiceLine> Lines);

/// <param name="Before">Pass as <c>before</c> for the next (older) page; null on the last page.</param>
internal sealed record InvoicePage(IReadOnlyList<InvoiceResponse> Items, long? Before);

/// <summary>An organisation's invoices and credit notes, read by (organisation, id), and their PDFs.</summary>
internal sealed class Invoices(AppDbContext db, IOptions<BillingSettings> settings)
{
    /// <summary>Newest first; <paramref name="before"/> is the previous page's <see cref="InvoicePage.Before"/> (an invoice sequence).</summary>
    public async Task<InvoicePage> ListAsync(Guid orgId, long? before, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 200)
            throw ProblemException.Invalid("limit", "limit is between 1 and 200.");
        var query = db.Set<Invoice>().AsNoTracking().Where(i => i.OrganizationId == orgId);
        if (before is { } cursor)
            query = query.Where(i => i.Sequence < cursor);
        var page = await query.OrderByDescending(i => i.Sequence).Take(limit).ToListAsync(ct);
        var items = await DescribeAsync(orgId, page, ct);
        return new InvoicePage(items, page.Count == limit ? page[^1].Sequence : null);
    }

    public async Task<InvoiceDetail> GetAsync(Guid orgId, Guid invoiceId, CancellationToken ct)
    {
        var invoice = await FindAsync(orgId, invoiceId, ct);
        var response = (await DescribeAsync(orgId, [invoice], ct))[0];
        return new InvoiceDetail(response, Party(invoice.SellerJson), Party(invoice.BuyerJson),
            JsonSerializer.Deserialize<List<InvoiceLine>>(invoice.LinesJson, JsonSerializerOptions.Web) ?? []);
    }

    /// <summary>The invoice's PDF and its file name (<c>AIH-000042.pdf</c>).</summary>
    public async Task<(byte[] Pdf, string FileName)> PdfAsync(Guid orgId, Guid invoiceId, CancellationToken ct)
    {
        var invoice = await FindAsync(orgId, invoiceId, ct);
        return (await RenderAsync(invoice, ct), InvoicePdf.FileName(invoice));
    }

    /// <summary>Renders any invoice (the receipt job has no organisation in scope and passes the row it read).</summary>
    public async Task<byte[]> RenderAsync(Invoice invoice, CancellationToken ct)
    {
        var corrects = invoice.CorrectsInvoiceId is { } id
            ? await db.Set<Invoice>().AsNoTracking().IgnoreQueryFilters().Where(i => i.Id == id && i.OrganizationId == invoice.OrganizationId)
                .Select(i => i.Number).FirstOrDefaultAsync(ct)
            : null;
        return InvoicePdf.Render(invoice, corrects, settings.Value.Seller.TaxName);
    }

    async Task<Invoice> FindAsync(Guid orgId, Guid invoiceId, CancellationToken ct) =>
        await db.Set<Invoice>().AsNoTracking().FirstOrDefaultAsync(i => i.OrganizationId == orgId && i.Id == invoiceId, ct)
        ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such invoice.", "This organisation has no invoice with that id.", ProblemTypes.NotFound);

    async Task<List<InvoiceResponse>> DescribeAsync(Guid orgId, List<Invoice> invoices, CancellationToken ct)
    {
        var paymentIds = invoices.Select(i => i.PaymentId).Distinct().ToList();
        var statuses = await db.Set<Payment>().AsNoTracking().Where(p => p.OrganizationId == orgId && paymentIds.Contains(p.Id))
            .Select(p => new { p.Id, p.Status }).ToDictionaryAsync(p => p.Id, p => p.Status, ct);
        var correctedIds = invoices.Where(i => i.CorrectsInvoiceId is not null).Select(i => i.CorrectsInvoiceId!.Value).Distinct().ToList();
        var corrected = correctedIds.Count == 0 ? [] : await db.Set<Invoice>().AsNoTracking()
            .Where(i => i.OrganizationId == orgId && correctedIds.Contains(i.Id)).ToDictionaryAsync(i => i.Id, i => i.Number, ct);
        return invoices.Select(i => new InvoiceResponse(
            i.Id, i.Number, i.Kind == InvoiceKind.CreditNote ? "credit_note" : "invoice", i.IssuedAt, i.SubtotalMinor, i.TaxMinor, i.TotalMinor, i.Currency,
            MoneyText.Format(i.TotalMinor, i.Currency), StatusText(statuses.GetValueOrDefault(i.PaymentId)),
            i.CorrectsInvoiceId is { } c ? corrected.GetValueOrDefault(c) : null,
            $"/api/orgs/{orgId}/billing/invoices/{i.Id}/pdf", i.MailedAt)).ToList();
    }

    internal static string StatusText(PaymentStatus status) => status switch
    {
        PaymentStatus.PartiallyRefunded => "partially_refunded",
        _ => status.ToString().ToLowerInvariant(),
    };

    static InvoiceParty Party(string json) =>
        JsonSerializer.Deserialize<InvoiceParty>(json, JsonSerializerOptions.Web) ?? new InvoiceParty("", [], null, null);
}
