using AiHub.Billing.Manual;
using AiHub.Billing.Operations;
using AiHub.Infrastructure.Jobs;

namespace AiHub.Billing.Invoices;

/// <summary>Invoices and receipts, the manual gateway, and the administrators' billing console.</summary>
internal static class InvoiceBilling
{
    public static void Add(IServiceCollection services)
    {
        services.AddScoped<Invoices>();
        services.AddScoped<IWorkHandler, ReceiptHandler>();
        services.AddScoped<IPaymentGateway, ManualGateway>();
        services.AddScoped<RevenueReport>();
        services.AddScoped<BillingConsole>();
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        InvoiceEndpoints.Map(app);
        BillingAdminEndpoints.Map(app);
    }
}
