using Hangfire;

namespace AiHub.Credits;

public static class CreditsExtensions
{
    /// <summary>The credit ledger: accounts, append-only entries, reserve-then-settle for every AI call.</summary>
    public static IHostApplicationBuilder AddCredits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddScoped<Ledger>();
        builder.Services.AddHostedService<ReservationExpirySchedule>();
        Pools.PoolEndpoints.AddPools(builder.Services);
        return builder;
    }

    public static IEndpointRouteBuilder MapCreditEndpoints(this IEndpointRouteBuilder app)
    {
        CreditEndpoints.MapCreditRoutes(app);
        Pools.PoolEndpoints.MapPoolRoutes(app);
        return app;
    }
}

/// <summary>Every minute, reservations a crashed call left open are released, so held credits come back.</summary>
internal sealed class ReservationExpirySchedule(IRecurringJobManager recurring) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        recurring.AddOrUpdate<Ledger>("credit-reservation-expiry", ledger => ledger.ReleaseExpiredAsync(CancellationToken.None), Cron.Minutely());
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
