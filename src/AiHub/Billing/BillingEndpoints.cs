using System.Security.Claims;
using AiHub.Billing.Account;
using AiHub.Credits.Plans;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AiHub.Billing;

/// <summary>The customer's billing API: what the organisation pays for, its billing details, checkouts and subscription changes.</summary>
internal static class BillingEndpoints
{
    public static void Add(IServiceCollection services)
    {
        services.AddScoped<BillingAccount>();
        services.AddScoped<IOnlinePayment, OnlinePayment>();
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        var billing = OrgEndpoints.Org(app).MapGroup("/billing").WithTags("Billing")
            .ProducesProblems(StatusCodes.Status502BadGateway, StatusCodes.Status503ServiceUnavailable);
        billing.MapGet("", Overview).WithSummary("The organisation's plan, subscription, billing details, next invoice and what is on sale.")
            .RequireAuthorization(OrgPermissions.BillingManage);
        billing.MapPut("/customer", SaveCustomer).WithSummary("Sets the billing details printed on invoices (name, email, address, tax id) and sends them to the gateway.")
            .RequireAuthorization(OrgPermissions.BillingManage).RequireUser();
        billing.MapPost("/checkout", StartCheckout).WithSummary("Starts paying for a plan or a credit package on the gateway's hosted page; returns the page to send the customer to.")
            .RequireAuthorization(OrgPermissions.ChatUse).RequireUser();
        billing.MapGet("/checkouts/{checkoutId:guid}", Checkout).WithSummary("How a checkout ended, read from the gateway, and what it changed (plan, credits, invoice).")
            .RequireAuthorization(OrgPermissions.ChatUse).RequireUser();
        billing.MapPost("/subscription/plan", ChangePlan).WithSummary("Changes the subscription's plan: a dearer one now with proration, a cheaper one at the end of the period.")
            .RequireAuthorization(OrgPermissions.BillingManage).RequireUser();
        billing.MapPost("/subscription/cancel", Cancel).WithSummary("Cancels the subscription at the end of the current period.")
            .RequireAuthorization(OrgPermissions.BillingManage).RequireUser();
        billing.MapPost("/subscription/resume", Resume).WithSummary("Takes back a cancellation before the period ends.")
            .RequireAuthorization(OrgPermissions.BillingManage).RequireUser();
        billing.MapPost("/portal", Portal).WithSummary("A link to the gateway's customer portal, where payment methods are managed.")
            .RequireAuthorization(OrgPermissions.BillingManage).RequireUser();
    }

    static async Task<Ok<BillingOverview>> Overview(Guid orgId, BillingAccount account, CancellationToken ct) =>
        TypedResults.Ok(await account.OverviewAsync(orgId, ct));

    static async Task<Ok<CustomerView>> SaveCustomer(Guid orgId, CustomerRequest body, BillingAccount account, CancellationToken ct) =>
        TypedResults.Ok(await account.SaveCustomerAsync(orgId, body, ct));

    static async Task<Created<CheckoutCreated>> StartCheckout(Guid orgId, CheckoutBody body, HttpContext http, ClaimsPrincipal user, BillingAccount account, CancellationToken ct)
    {
        var created = await account.StartCheckoutAsync(http.Grant(), user.UserId()!.Value, body, ct);
        return TypedResults.Created($"/api/orgs/{orgId}/billing/checkouts/{created.CheckoutId}", created);
    }

    static async Task<Ok<CheckoutView>> Checkout(Guid orgId, Guid checkoutId, HttpContext http, ClaimsPrincipal user, BillingAccount account, CancellationToken ct) =>
        TypedResults.Ok(await account.CheckoutAsync(http.Grant(), user.UserId()!.Value, checkoutId, ct));

    static async Task<Ok<PlanChangeView>> ChangePlan(Guid orgId, PlanChangeBody body, BillingAccount account, CancellationToken ct) =>
        TypedResults.Ok(await account.ChangePlanAsync(orgId, body, ct));

    static async Task<Ok<SubscriptionView>> Cancel(Guid orgId, BillingAccount account, CancellationToken ct) =>
        TypedResults.Ok(await account.CancelAsync(orgId, ct));

    static async Task<Ok<SubscriptionView>> Resume(Guid orgId, BillingAccount account, CancellationToken ct) =>
        TypedResults.Ok(await account.ResumeAsync(orgId, ct));

    static async Task<Ok<PortalView>> Portal(Guid orgId, BillingAccount account, CancellationToken ct) =>
        TypedResults.Ok(await account.PortalAsync(orgId, ct));
}
