using AiHub.Billing.Checkout;
using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Billing.Lifecycle;

/// <summary>
/// Every 5 minutes: reads from the gateway the open checkouts older than two minutes, so a customer who paid and never
/// came back to AiHub is still served, and marks expired those past their lifetime.
/// </summary>
/// <remarks>A gateway's error is logged and the checkout read again next run; it never stops the sweep.</remarks>
internal sealed partial class CheckoutSweep(IServiceScopeFactory scopes, AppDbContext db, TimeProvider clock, ILogger<CheckoutSweep> log)
{
    public const string JobId = "billing-checkout-sweep";

    public const string Cron = "*/5 * * * *";

    /// <summary>Leaves the customer's own return (which reads the same outcome) a head start.</summary>
    public static readonly TimeSpan MinimumAge = TimeSpan.FromMinutes(2);

    /// <summary>A checkout the gateway cannot be asked about for this long after it expired is given up: the nightly reconciliation still finds its payment.</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromDays(1);

    const int Batch = 500;

    public async Task<CheckoutSweepResult> RunAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var cutoff = now - MinimumAge;
        var open = await db.Set<CheckoutSession>().IgnoreQueryFilters().AsNoTracking()
            .Where(c => c.Status == CheckoutStatus.Open && c.CreatedAt <= cutoff)
            .OrderBy(c => c.CreatedAt).Take(Batch)
            .Select(c => new { c.Id, c.OrganizationId, c.Gateway, c.ExpiresAt }).ToListAsync(ct);
        int completed = 0, expired = 0, failed = 0;
        foreach (var c in open)
        {
            CheckoutStatus status;
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                status = (await scope.ServiceProvider.GetRequiredService<Checkouts>().CompleteAsync(c.OrganizationId, c.Id, ct)).Status;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(e, c.Gateway, c.Id);
                failed++;
                if (c.ExpiresAt + GiveUpAfter > now)
                    continue;
                status = CheckoutStatus.Open;
            }
            // Still open past its lifetime (never reached the gateway, or the gateway still says open): nobody can pay it any more.
            if (status == CheckoutStatus.Open && c.ExpiresAt <= now)
            {
                status = CheckoutStatus.Expired;
                await db.Set<CheckoutSession>().IgnoreQueryFilters().Where(s => s.Id == c.Id && s.Status == CheckoutStatus.Open)
                    .ExecuteUpdateAsync(u => u.SetProperty(s => s.Status, CheckoutStatus.Expired).SetProperty(s => s.CompletedAt, now), ct);
            }
            completed += status is CheckoutStatus.Completed ? 1 : 0;
            expired += status is CheckoutStatus.Expired ? 1 : 0;
        }
        if (open.Count > 0)
            LogRun(open.Count, completed, expired, failed);
        return new CheckoutSweepResult(open.Count, completed, expired, failed);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Checkout sweep: {Read} open checkout(s) read, {Completed} completed, {Expired} expired, {Failed} to try again next run")]
    partial void LogRun(int read, int completed, int expired, int failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Checkout sweep: reading {Gateway} checkout {CheckoutId} failed; tried again next run")]
    partial void LogFailed(Exception e, string gateway, Guid checkoutId);
}

internal sealed record CheckoutSweepResult(int Read, int Completed, int Expired, int Failed);
