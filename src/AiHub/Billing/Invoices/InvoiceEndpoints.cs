using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Billing.Invoices;

internal static class InvoiceEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var invoices = OrgEndpoints.Org(app).MapGroup("/billing/invoices").WithTags("Billing").RequireAuthorization(OrgPermissions.BillingManage);
        invoices.MapGet("", List).WithSummary("Lists the organisation's invoices and credit notes, newest first; before= the previous page's before.");
        invoices.MapGet("/{invoiceId:guid}", Get).WithSummary("One invoice with its seller, buyer and lines.");
        invoices.MapGet("/{invoiceId:guid}/pdf", Pdf).Produces<byte[]>(StatusCodes.Status200OK, "application/pdf")
            .WithSummary("The invoice as a PDF file, named by its number.");
    }

    static async Task<Ok<InvoicePage>> List(Guid orgId, Invoices invoices, CancellationToken ct, long? before = null, int limit = 50) =>
        TypedResults.Ok(await invoices.ListAsync(orgId, before, limit, ct));

    /// <remarks>Fetched by (org, id): another organisation's invoice is not found.</remarks>
    static async Task<Ok<InvoiceDetail>> Get(Guid orgId, Guid invoiceId, Invoices invoices, CancellationToken ct) =>
        TypedResults.Ok(await invoices.GetAsync(orgId, invoiceId, ct));

    static async Task<FileContentHttpResult> Pdf(Guid orgId, Guid invoiceId, Invoices invoices, CancellationToken ct)
    {
        var (pdf, name) = await invoices.PdfAsync(orgId, invoiceId, ct);
        return TypedResults.File(pdf, "application/pdf", name);
    }
}
