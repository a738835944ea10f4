using AiHub.Credits.Plans;
using AiHub.Identity;
using AiHub.Credits.Bulk;
using AiHub.Credits.Pages;
using AiHub.Credits.Promo;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Jobs;
using Hangfire;

namespace AiHub.Credits;

public static class CreditsExtensions
{
    /// <summary>The credit ledger: accounts, append-only entries, one hold per AI call, posted or voided; plans and their quotas.</summary>
    public static IHostApplicationBuilder AddCredits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IHostCommand, LedgerVerifyCommand>();
        builder.Services.AddSingleton<LedgerWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LedgerWriter>());
        builder.Services.AddScoped<Pools.SpenderResolver>();
        builder.Services.AddScoped<Ledger>();
        builder.Services.AddScoped<CreditAccounts>();
        builder.Services.AddSingleton<BalanceCache>();
        builder.Services.AddScoped<PromoCodes>();
        builder.Services.AddScoped<BulkCredits>();
        builder.Services.AddScoped<CreditChanges>();
        // After the ledger's writer, so that on stop the leases are closed and the usage records drained while it still writes.
        builder.Services.AddSettings<Leases.LeaseSettings>(Leases.LeaseSettings.Section);
        builder.Services.AddSingleton<Leases.CreditLeases>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Leases.CreditLeases>());
        builder.Services.AddSingleton<Usage.UsageWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Usage.UsageWriter>());
        // Every minute, holds a crashed call left pending are voided (credits, budget and quota use come back), and credit
        // leases a crashed node left are posted at what their calls recorded.
        builder.Services.RetireRecurringJob("credit-reservation-expiry");
        builder.Services.AddRecurringJob<Ledger>("credit-hold-expiry", ledger => ledger.VoidExpiredAsync(CancellationToken.None), Cron.Minutely());
        Usage.UsageExtensions.AddUsageServices(builder.Services);
        builder.Services.AddScoped<IQuotaService, QuotaService>();
        builder.Services.AddScoped<LimitWarnings>();
        builder.Services.AddSettings<PlanSettings>(PlanSettings.Section);
        builder.Services.AddScoped<PlanCatalog>();
        builder.Services.AddScoped<PlanChanges>();
        builder.Services.AddScoped<IAccountEvents, SignUpGrant>();
        Pools.PoolEndpoints.AddPools(builder.Services);
        Services.ServiceCreditEndpoints.AddServiceCredits(builder.Services);
        return builder;
    }

    public static IEndpointRouteBuilder MapCreditEndpoints(this IEndpointRouteBuilder app)
    {
        CreditEndpoints.MapCreditRoutes(app);
        Usage.UsageEndpoints.MapUsageRoutes(app);
        PlanEndpoints.MapPlanRoutes(app);
        PromoEndpoints.MapPromoRoutes(app);
        CreditAdminEndpoints.MapCreditAdminRoutes(app);
        Pools.PoolEndpoints.MapPoolRoutes(app);
        Services.ServiceCreditEndpoints.MapServiceCreditRoutes(app);
        return app;
    }
}
