using System.Text.Json;
using AiHub.Billing.Invoices.Emails;
using AiHub.Billing.Payments;
using AiHub.Data;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Jobs;
using AiHub.Notifications;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Invoices;

/// <summary>
/// Mails an issued invoice or credit note with its PDF attached, to the billing customer's address or else the
/// organisation's owners. The mails and <see cref="Invoice.MailedAt"/> are saved in one transaction, so a repeat finds it done.
/// </summary>
internal sealed partial class ReceiptHandler(
    AppDbContext db,
    Invoices invoices,
    Mailer mailer,
    WorkQueue queue,
    IOptions<PublicUrlSettings> publicUrl,
    TimeProvider clock,
    ILogger<ReceiptHandler> log) : IWorkHandler
{
    public string Kind => InvoiceIssuer.ReceiptWorkKind;

    public async Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct)
    {
        var work = JsonSerializer.Deserialize<ReceiptWork>(item.Payload, JsonSerializerOptions.Web);
        var invoice = work is null ? null : await db.Set<Invoice>().AsNoTracking().IgnoreQueryFilters().FirstOrDefaultAsync(i => i.Id == work.InvoiceId, ct);
        if (invoice is null)
        {
            LogMissing(item.Id);
            return WorkResult.Fatal;
        }
        if (invoice.MailedAt is not null)
            return WorkResult.Success;

        var recipients = await RecipientsAsync(invoice.OrganizationId, ct);
        if (recipients.Count == 0)
        {
            LogNoRecipient(invoice.Number);
            return WorkResult.Fatal;
        }
        var orgName = await db.Organizations.IgnoreQueryFilters().Where(o => o.Id == invoice.OrganizationId).Select(o => o.Name).FirstOrDefaultAsync(ct) ?? "your organisation";
        var pdf = await invoices.RenderAsync(invoice, ct);
        var creditNote = invoice.Kind == InvoiceKind.CreditNote;
        var total = MoneyText.Format(invoice.TotalMinor, invoice.Currency);
        var link = new Uri(publicUrl.Value.PublicUrl, $"orgs/{invoice.OrganizationId}/billing");
        var attachment = new EmailAttachment(InvoicePdf.FileName(invoice), "application/pdf", pdf);

        foreach (var to in recipients)
        {
            await mailer.AddAsync<ReceiptEmail>(to, ReceiptEmailText.Subject(creditNote, invoice.Number, orgName), new()
            {
                [nameof(ReceiptEmail.CreditNote)] = creditNote,
                [nameof(ReceiptEmail.Number)] = invoice.Number,
                [nameof(ReceiptEmail.Total)] = total,
                [nameof(ReceiptEmail.OrgName)] = orgName,
                [nameof(ReceiptEmail.Link)] = link,
            }, ReceiptEmailText.Text(creditNote, invoice.Number, total, orgName, link), [attachment]);
        }
        var sent = await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            // Claimed in the mails' own transaction: of two runners, one commits the mails and the other finds MailedAt set.
            var claimed = await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.Id == invoice.Id && i.MailedAt == null)
                .ExecuteUpdateAsync(u => u.SetProperty(i => i.MailedAt, clock.GetUtcNow()), ct);
            if (claimed == 0)
                return false;
            await db.SaveChangesAsync(ct);
            await transaction.CommitAsync(ct);
            return true;
        });
        db.ChangeTracker.Clear();
        if (sent)
            queue.DispatchAdded();
        return WorkResult.Success;
    }

    async Task<List<string>> RecipientsAsync(Guid orgId, CancellationToken ct)
    {
        var customer = await db.Set<BillingCustomer>().AsNoTracking().IgnoreQueryFilters().Where(c => c.OrganizationId == orgId).Select(c => c.Email).FirstOrDefaultAsync(ct);
        if (EmailAddress.TryParse(customer, out _))
            return [customer!];
        var owners = await db.Memberships.AsNoTracking().IgnoreQueryFilters().Where(m => m.OrganizationId == orgId && m.Role == OrgRole.Owner).Select(m => m.UserId).ToListAsync(ct);
        var emails = await db.Users.AsNoTracking().Where(u => owners.Contains(u.Id) && u.Email != null).Select(u => u.Email!).ToListAsync(ct);
        return [.. emails.Where(e => EmailAddress.TryParse(e, out _)).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal)];
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Receipt work item {WorkItemId} names no invoice that exists; it is dropped")]
    partial void LogMissing(Guid workItemId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Invoice {Number} has no one to mail it to (no billing email, no owner with an address)")]
    partial void LogNoRecipient(string number);
}
