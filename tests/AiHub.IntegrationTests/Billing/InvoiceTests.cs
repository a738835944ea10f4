using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using AiHub.Billing;
using AiHub.Billing.Invoices;
using AiHub.Billing.Payments;
using AiHub.Data;
using AiHub.Infrastructure.Jobs;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Billing;

/// <summary>Every payment's invoice: rendered to PDF, mailed with the receipt once, and listed and downloaded by the organisation that paid.</summary>
public abstract class InvoiceTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_invoice_PDF_names_the_number_the_buyer_each_line_and_the_total_and_is_the_same_every_time()
    {
        using var client = host.Client();
        var (owner, orgId) = await OrgAsync(client, "Acme Widgets");
        var invoiceId = await host.PaidInvoiceAsync(orgId, UserIdOf(owner), amountMinor: 123_456);
        var number = (await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices/{invoiceId}")).GetProperty("invoice").GetProperty("number").GetString()!;

        using var first = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices/{invoiceId}/pdf"), Ct);
        var pdf = await first.Content.ReadAsByteArrayAsync(Ct);
        using var second = await client.SendAsync(As(owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices/{invoiceId}/pdf"), Ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("application/pdf", first.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", first.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal(number + ".pdf", first.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
        var text = BillingTestSupport.PdfText(pdf);
        Assert.Contains(number, text, StringComparison.Ordinal);
        Assert.Contains("Acme Widgets", text, StringComparison.Ordinal);
        Assert.Contains("Starter pack (10 credits)", text, StringComparison.Ordinal);
        Assert.Contains("USD 1,234.56", text, StringComparison.Ordinal);
        Assert.Contains("Invoice", text, StringComparison.Ordinal);
        Assert.Equal(pdf, await second.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task A_refund_makes_a_credit_note_whose_PDF_names_the_invoice_it_corrects()
    {
        using var client = host.Client();
        var (owner, orgId) = await OrgAsync(client, "Refunded Ltd");
        var external = $"pi_{Guid.NewGuid():N}";
        var paid = new GatewayPayment("stripe", external, orgId, PaymentKind.Credits, PaymentStatus.Succeeded, 1_000, 0, "USD", 0, false, DateTimeOffset.UtcNow,
            PackageCode: "CREDITS_10", BuyerUserId: UserIdOf(owner));
        await host.RecordAsync(paid);
        await host.RecordAsync(paid with { Status = PaymentStatus.PartiallyRefunded, RefundedMinor = 250 });

        var page = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices");
        var items = page.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, items.Count);
        var note = items[0];
        var invoice = items[1];
        Assert.Equal("credit_note", note.GetProperty("kind").GetString());
        Assert.Equal(-250, note.GetProperty("totalMinor").GetInt64());
        Assert.Equal("partially_refunded", invoice.GetProperty("paymentStatus").GetString());
        Assert.Equal(invoice.GetProperty("number").GetString(), note.GetProperty("correctsNumber").GetString());
        using var response = await client.SendAsync(As(owner, HttpMethod.Get, note.GetProperty("pdfUrl").GetString()!), Ct);
        var text = BillingTestSupport.PdfText(await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Contains("Credit note", text, StringComparison.Ordinal);
        Assert.Contains("Corrects invoice " + invoice.GetProperty("number").GetString(), text, StringComparison.Ordinal);
        Assert.Contains("USD -2.50", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_receipt_is_mailed_once_with_the_invoice_PDF_attached()
    {
        using var client = host.Client();
        var (owner, orgId) = await OrgAsync(client, "Receipts Pty");
        var email = await EmailOfAsync(UserIdOf(owner));
        var invoiceId = await host.PaidInvoiceAsync(orgId, UserIdOf(owner), amountMinor: 4_500);

        var mail = await host.MailAsync(email, "receipt");
        var attachment = Assert.IsType<MimeKit.MimePart>(Assert.Single(mail.Attachments));
        using var bytes = new MemoryStream();
        await attachment.Content!.DecodeToAsync(bytes, Ct);
        var invoice = await InvoiceAsync(invoiceId);

        Assert.Equal("application/pdf", attachment.ContentType.MimeType);
        Assert.Equal(invoice.Number + ".pdf", attachment.FileName);
        Assert.Contains(invoice.Number, mail.Subject ?? "", StringComparison.Ordinal);
        Assert.Contains("USD 45.00", mail.TextBody, StringComparison.Ordinal);
        Assert.Contains("USD 45.00", mail.HtmlBody, StringComparison.Ordinal);
        var text = BillingTestSupport.PdfText(bytes.ToArray());
        Assert.Contains(invoice.Number, text, StringComparison.Ordinal);
        Assert.Contains("Receipts Pty", text, StringComparison.Ordinal);
        Assert.NotNull(invoice.MailedAt);

        // Run again (a redelivered work item): MailedAt is set, so no second mail is queued.
        var before = await MailWorkCountAsync();
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var handler = scope.ServiceProvider.GetServices<IWorkHandler>().Single(h => h.Kind == InvoiceIssuer.ReceiptWorkKind);
            var item = new WorkItem { Kind = InvoiceIssuer.ReceiptWorkKind, Payload = JsonSerializer.Serialize(new ReceiptWork(invoiceId), JsonSerializerOptions.Web) };
            Assert.Equal(WorkResult.Success, await handler.RunAsync(item, Ct));
        }
        Assert.Equal(before, await MailWorkCountAsync());
        Assert.Equal(invoice.MailedAt, (await InvoiceAsync(invoiceId)).MailedAt);
    }

    [Fact]
    public async Task The_billing_email_gets_the_receipt_instead_of_the_owners()
    {
        using var client = host.Client();
        var (owner, orgId) = await OrgAsync(client, "Billing Contact Inc");
        var billing = NewEmail("accounts");
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Add(new BillingCustomer { OrganizationId = orgId, Gateway = "stripe", Email = billing, Name = "Billing Contact Inc (accounts)", CreatedAt = DateTimeOffset.UtcNow, UpdatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }
        var invoiceId = await host.PaidInvoiceAsync(orgId, UserIdOf(owner));

        var mail = await host.MailAsync(billing, "receipt");

        Assert.Contains((await InvoiceAsync(invoiceId)).Number, mail.Subject, StringComparison.Ordinal);
        Assert.DoesNotContain(await host.Mail.MessagesToAsync(await EmailOfAsync(UserIdOf(owner))), m => (m.Subject ?? "").Contains("receipt", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Invoices_are_listed_newest_first_in_pages()
    {
        using var client = host.Client();
        var (owner, orgId) = await OrgAsync(client, "Pages Co");
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++)
            ids.Add(await host.PaidInvoiceAsync(orgId, UserIdOf(owner)));

        var first = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices?limit=2");
        var before = first.GetProperty("before").GetInt64();
        var second = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices?limit=2&before={before}");

        Assert.Equal([ids[2], ids[1]], first.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()));
        Assert.Equal([ids[0]], second.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()));
        Assert.Equal(JsonValueKind.Null, second.GetProperty("before").ValueKind);
        var one = first.GetProperty("items")[0];
        Assert.Equal("succeeded", one.GetProperty("paymentStatus").GetString());
        Assert.Equal("USD 10.00", one.GetProperty("total").GetString());
        Assert.Equal($"/api/orgs/{orgId}/billing/invoices/{ids[2]}/pdf", one.GetProperty("pdfUrl").GetString());
        await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices?limit=0", expected: HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Another_organisations_invoice_is_not_found_and_a_member_may_not_read_invoices()
    {
        using var client = host.Client();
        var (owner, orgId) = await OrgAsync(client, "Mine Ltd");
        var (other, otherOrg) = await OrgAsync(client, "Theirs Ltd");
        var theirs = await host.PaidInvoiceAsync(otherOrg, UserIdOf(other));
        var memberEmail = NewEmail("member");
        var member = await host.NewUserAsync(client, memberEmail);
        await JoinAsync(host, client, owner, orgId, memberEmail, member);

        foreach (var path in new[] { $"/api/orgs/{orgId}/billing/invoices/{theirs}", $"/api/orgs/{orgId}/billing/invoices/{theirs}/pdf" })
        {
            using var response = await client.SendAsync(As(owner, HttpMethod.Get, path), Ct);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("No such invoice.", (await ProblemAsync(response)).GetProperty("title").GetString());
        }
        await SendAsync(client, member, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices", expected: HttpStatusCode.Forbidden);
        Assert.Empty((await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/billing/invoices")).GetProperty("items").EnumerateArray());
    }

    async Task<(AuthTokens Owner, Guid OrgId)> OrgAsync(HttpClient client, string name)
    {
        var owner = await host.NewUserAsync(client);
        return (owner, await CreateOrgAsync(client, owner, name));
    }

    async Task<string> EmailOfAsync(Guid userId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Users.Where(u => u.Id == userId).Select(u => u.Email!).SingleAsync(Ct);
    }

    async Task<Invoice> InvoiceAsync(Guid id)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Invoice>().IgnoreQueryFilters().AsNoTracking().SingleAsync(i => i.Id == id, Ct);
    }

    async Task<int> MailWorkCountAsync()
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().WorkItems.CountAsync(w => w.Kind == "email.send", Ct);
    }
}

public sealed class InvoiceOnSqlite(SqliteIdentityFixture fixture) : InvoiceTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class InvoiceOnPostgres(PostgresIdentityFixture fixture) : InvoiceTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
