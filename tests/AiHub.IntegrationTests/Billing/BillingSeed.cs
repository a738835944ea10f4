using AiHub.Billing;
using AiHub.Billing.Payments;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Billing;

/// <summary>A finished checkout and its invoice in an org, for the tests that walk every route, on hosts with no gateway configured.</summary>
internal static class BillingSeed
{
    /// <summary>Records a package paid by hand through the one payment path (which issues the invoice), and the checkout that led to it.</summary>
    public static async Task<(Guid CheckoutId, Guid InvoiceId)> SeedAsync(IServiceProvider services, Guid orgId, Guid buyerId, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var now = DateTimeOffset.UtcNow;
        var payment = await scope.ServiceProvider.GetRequiredService<PaymentRecorder>().RecordAsync(new GatewayPayment(
            "manual", $"seed-{Guid.NewGuid():N}", orgId, PaymentKind.Credits, PaymentStatus.Succeeded, 1_000, 0, "USD", 0, false, now,
            PackageCode: "CREDITS_10", BuyerUserId: buyerId), ct);
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var checkout = new CheckoutSession
        {
            Id = Guid.CreateVersion7(), OrganizationId = orgId, UserId = buyerId, Gateway = "manual", ExternalId = $"seed-{Guid.NewGuid():N}",
            Kind = PaymentKind.Credits, PackageCode = "CREDITS_10", AmountMinor = 1_000, Currency = "USD", Status = CheckoutStatus.Completed,
            PaymentId = payment.Id, CreatedAt = now, ExpiresAt = now.AddHours(1), CompletedAt = now,
        };
        db.Add(checkout);
        await db.SaveChangesAsync(ct);
        var invoice = await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.OrganizationId == orgId && i.PaymentId == payment.Id).Select(i => i.Id).SingleAsync(ct);
        return (checkout.Id, invoice);
    }
}
