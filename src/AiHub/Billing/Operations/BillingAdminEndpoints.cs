using System.Security.Claims;
using AiHub.Identity;
using AiHub.Infrastructure.OpenApi;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Billing.Operations;

internal static class BillingAdminEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var billing = AdminApi.Group(app, "/billing", Permissions.SettingsManage);
        billing.MapGet("/revenue", Revenue).ProducesCsv(alsoJson: true)
            .WithSummary("Revenue by month and currency (MRR at month end, new and churned subscriptions, payments, refunds, net); format=csv for a file.");
        billing.MapGet("/revenue.csv", RevenueCsv).ProducesCsv().WithSummary("The revenue report as a CSV file.");
        billing.MapGet("/orgs", Orgs).WithSummary("Each organisation's billing state: plan, subscription, last payment, pool balance; state= filters.");
        billing.MapGet("/orgs/{orgId:guid}/payments", Payments).WithSummary("An organisation's payments, newest first.");
        billing.MapPost("/orgs/{orgId:guid}/payments", MarkPaid)
            .WithSummary("Records money paid outside AiHub (\"mark paid\") for a plan month or a credit package, with a reason for the audit log.");
        billing.MapPost("/payments/{paymentId:guid}/refund", Refund).WithSummary("Refunds part or all of a payment through its gateway, with a reason for the audit log.");
        billing.MapGet("/reconciliation", Reconciliation).WithSummary("The nightly reconciliation runs, newest first, with their differences.");
        billing.MapGet("/webhooks", Webhooks).WithSummary("Gateway webhook events, newest first; state=failed for those that failed, with their error.");
    }

    static async Task<Results<Ok<RevenueResponse>, FileContentHttpResult>> Revenue(RevenueReport report, CancellationToken ct,
        string? from = null, string? to = null, string? format = null)
    {
        var result = await report.BuildAsync(from, to, ct);
        return string.Equals(format, "csv", StringComparison.OrdinalIgnoreCase)
            ? TypedResults.File(RevenueReport.Csv(result), "text/csv", $"revenue-{result.From}-{result.To}.csv")
            : TypedResults.Ok(result);
    }

    static Task<Results<Ok<RevenueResponse>, FileContentHttpResult>> RevenueCsv(RevenueReport report, CancellationToken ct, string? from = null, string? to = null) =>
        Revenue(report, ct, from, to, "csv");

    static async Task<Ok<List<OrgBillingState>>> Orgs(BillingConsole console, CancellationToken ct, string? state = null, int limit = 200) =>
        TypedResults.Ok(await console.OrgsAsync(state, limit, ct));

    static async Task<Ok<List<PaymentRow>>> Payments(Guid orgId, BillingConsole console, CancellationToken ct) =>
        TypedResults.Ok(await console.PaymentsAsync(orgId, ct));

    static async Task<Created<PaymentRow>> MarkPaid(Guid orgId, ManualPaymentRequest body, ClaimsPrincipal user, BillingConsole console, CancellationToken ct)
    {
        var payment = await console.MarkPaidAsync(orgId, body, user.UserId()!.Value, ct);
        return TypedResults.Created($"{AdminApi.Prefix}/billing/orgs/{orgId}/payments", payment);
    }

    static async Task<Ok<PaymentRow>> Refund(Guid paymentId, ManualRefundRequest body, ClaimsPrincipal user, BillingConsole console, CancellationToken ct) =>
        TypedResults.Ok(await console.RefundAsync(paymentId, body, user.UserId()!.Value, ct));

    static async Task<Ok<List<ReconciliationRow>>> Reconciliation(BillingConsole console, CancellationToken ct, int limit = 50) =>
        TypedResults.Ok(await console.ReconciliationAsync(limit, ct));

    static async Task<Ok<List<WebhookRow>>> Webhooks(BillingConsole console, CancellationToken ct, string? state = null, int limit = 100) =>
        TypedResults.Ok(await console.WebhooksAsync(state, limit, ct));
}
