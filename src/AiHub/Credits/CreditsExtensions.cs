using AiHub.Credits.Plans;
using AiHub.Identity;
using AiHub.Credits.Bulk;
using AiHub.Credits.Pages;
using AiHub.Credits.Promo;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Jobs;
using Hangfire;

namespace AiHub.Credits;

public static class CreditsExtensions
{
    /// <summary>The credit ledger: accounts, append-only entries, reserve-then-settle for every AI call; plans and their quotas.</summary>
    public static IHostApplicationBuilder AddCredits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IHostCommand, LedgerVerifyCommand>();
        builder.Services.AddSingleton<LedgerWriter>();
        builder.Services.AddScoped<Pools.SpenderResolver>();
        builder.Services.AddScoped<Ledger>();
        builder.Services.AddSingleton<BalanceCache>();
        builder.Services.AddScoped<PromoCodes>();
        builder.Services.AddScoped<BulkCredits>();
        builder.Services.AddScoped<CreditChanges>();
        // Every minute, reservations a crashed call left open are released, so held credits come back.
        builder.Services.AddRecurringJob<Ledger>("credit-reservation-expiry", ledger => ledger.ReleaseExpiredAsync(CancellationToken.None), Cron.Minutely());
        Usage.UsageExtensions.AddUsageServices(builder.Services);
        builder.Services.AddScoped<IQuotaService, QuotaService>();
        builder.Services.AddScoped<LimitWarnings>();
        builder.Services.AddScoped<PlanCatalog>();
        builder.Services.AddScoped<IAccountEvents, SignUpGrant>();
        Pools.PoolEndpoints.AddPools(builder.Services);
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
        return app;
    }
}
