using AiHub.Billing;
using AiHub.Billing.Payments;
using AiHub.Data;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using UglyToad.PdfPig;

namespace AiHub.IntegrationTests.Billing;

/// <summary>Payments recorded through the one path a gateway's reports take, and the PDFs they produce read back.</summary>
public static class BillingTestSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A paid credit package (10 credits for USD 10.00) for <paramref name="buyer"/> in <paramref name="orgId"/>; returns its invoice's id.</summary>
    public static async Task<Guid> PaidInvoiceAsync(this IdentityHost host, Guid orgId, Guid buyer, long amountMinor = 1_000, string currency = "USD")
    {
        var payment = await host.RecordAsync(new GatewayPayment("stripe", $"pi_{Guid.NewGuid():N}", orgId, PaymentKind.Credits, PaymentStatus.Succeeded,
            amountMinor, 0, currency, 0, false, DateTimeOffset.UtcNow, PackageCode: "CREDITS_10", BuyerUserId: buyer));
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Invoice>().IgnoreQueryFilters()
            .Where(i => i.PaymentId == payment.Id && i.Kind == InvoiceKind.Invoice).Select(i => i.Id).SingleAsync(Ct);
    }

    internal static async Task<Payment> RecordAsync(this IdentityHost host, GatewayPayment payment)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<PaymentRecorder>().RecordAsync(payment, Ct);
    }

    /// <summary>The text of every page, words separated by spaces.</summary>
    public static string PdfText(byte[] pdf)
    {
        using var document = PdfDocument.Open(pdf);
        return string.Join("\n", document.GetPages().Select(p => string.Join(" ", p.GetWords().Select(w => w.Text))));
    }
}
