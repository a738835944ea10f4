using System.Globalization;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Errors;
using AiHub.Notifications;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Credits.Plans;

/// <summary>Where one quota of an organisation stands: whether one more use fits, and a sentence to show.</summary>
/// <param name="Allowed">For a consumption: whether it was counted. Otherwise: whether one more unit fits.</param>
/// <param name="Limit">Null when unlimited.</param>
/// <param name="ResetsAt">When a daily allowance starts again; null for totals.</param>
internal sealed record QuotaStatus(bool Allowed, long? Limit, long Used, long? Remaining, DateTimeOffset? ResetsAt, string Message);

/// <summary>
/// The plan's limits, counted per organisation: chat questions (per day or in total, as the plan says), storage bytes
/// and videos (running totals: consume on upload, release on delete).
/// </summary>
/// <remarks>
/// Every consumption carries an idempotency key: the same key again counts nothing. A consumption is one conditional
/// update (<c>used + amount &lt;= limit</c>), so concurrent callers can never together exceed the limit.
/// </remarks>
internal interface IQuotaService
{
    Task<QuotaStatus> GetAsync(Guid orgId, QuotaKind kind, CancellationToken ct);

    /// <summary>
    /// Counts <paramref name="amount"/> if it fits; <see cref="QuotaStatus.Allowed"/> says whether it did (or already had,
    /// for a key seen before). A key whose use was released counts again when asked again, as a retried call does.
    /// </summary>
    Task<QuotaStatus> TryConsumeAsync(Guid orgId, QuotaKind kind, long amount, string idempotencyKey, CancellationToken ct);

    /// <summary>Gives back the consumption made with the key (a chat call that failed before any answer, a deleted file); once.</summary>
    Task<QuotaStatus> ReleaseAsync(Guid orgId, QuotaKind kind, string idempotencyKey, CancellationToken ct);

    /// <summary>Consumes, or throws a 403 ProblemException whose type names the limit (<c>urn:aihub:problem:chat-limit-exceeded</c>, …).</summary>
    Task<QuotaStatus> EnsureAsync(Guid orgId, QuotaKind kind, long amount, string idempotencyKey, CancellationToken ct);

    /// <summary>The quota leg of an AI call's hold: the ledger counts it with the credits, and gives it back if the hold is voided.</summary>
    Task<QuotaLeg> LegAsync(Guid orgId, QuotaKind kind, long amount, CancellationToken ct);

    /// <summary>After a hold counted a use of <paramref name="leg"/>: mails the org's managers once as the period crosses a warning threshold.</summary>
    Task CountedAsync(QuotaLeg leg, CancellationToken ct);
}

internal sealed class QuotaService(AppDbContext db, TimeProvider clock, LimitWarnings warnings, Mailer mailer, IOptions<PublicUrlSettings> identity) : IQuotaService
{
    public async Task<QuotaStatus> GetAsync(Guid orgId, QuotaKind kind, CancellationToken ct)
    {
        var quota = await QuotaOfAsync(orgId, kind, ct);
        return Describe(kind, quota, await UsedAsync(orgId, kind, quota.PeriodStart, ct), allowed: null);
    }

    public async Task<QuotaStatus> TryConsumeAsync(Guid orgId, QuotaKind kind, long amount, string idempotencyKey, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(amount);
        ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
        var earlier = await FindAsync(orgId, kind, idempotencyKey, ct);
        if (earlier is { ReleasedAt: null })
            return await AgainAsync(orgId, kind, earlier, ct);

        var quota = await QuotaOfAsync(orgId, kind, ct);
        await OpenCounterAsync(orgId, kind, quota.PeriodStart, ct);
        var consumption = new QuotaConsumption
        {
            Id = Guid.CreateVersion7(quota.Now), OrganizationId = orgId, Kind = kind, IdempotencyKey = idempotencyKey,
            PeriodStart = quota.PeriodStart, Amount = amount, CreatedAt = quota.Now,
        };
        bool counted;
        try
        {
            counted = await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(ct);
                var counter = db.Set<QuotaUsage>().Where(u => u.OrganizationId == orgId && u.Kind == kind && u.PeriodStart == quota.PeriodStart);
                if (quota.Limit is { } limit)
                    counter = counter.Where(u => u.Used + amount <= limit);
                if (await counter.ExecuteUpdateAsync(u => u.SetProperty(x => x.Used, x => x.Used + amount), ct) == 0)
                    return false;
                if (earlier is null)
                {
                    db.Add(consumption);
                    await db.SaveChangesAsync(ct);
                }
                // A released use asked again (a failed call retried) counts anew, once: only one retry revives it.
                else if (await db.Set<QuotaConsumption>().Where(c => c.Id == earlier.Id && c.ReleasedAt != null)
                    .ExecuteUpdateAsync(u => u.SetProperty(c => c.ReleasedAt, (DateTimeOffset?)null).SetProperty(c => c.PeriodStart, quota.PeriodStart).SetProperty(c => c.Amount, amount), ct) == 0)
                {
                    return false;
                }
                await transaction.CommitAsync(ct);
                return true;
            });
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.Entry(consumption).State = EntityState.Detached;
            // A concurrent call with the same key counted first; this one's increment was rolled back with it.
            if (await FindAsync(orgId, kind, idempotencyKey, ct) is null)
                throw;
            counted = false;
        }
        finally
        {
            db.Entry(consumption).State = EntityState.Detached;
        }
        if (!counted && await FindAsync(orgId, kind, idempotencyKey, ct) is { } winner)
            return await AgainAsync(orgId, kind, winner, ct);

        var used = await UsedAsync(orgId, kind, quota.PeriodStart, ct);
        if (counted)
            await WarnWhenCrossedAsync(orgId, kind, quota, used, ct);
        return Describe(kind, quota, used, counted);
    }

    public async Task<QuotaLeg> LegAsync(Guid orgId, QuotaKind kind, long amount, CancellationToken ct)
    {
        var quota = await QuotaOfAsync(orgId, kind, ct);
        var upgrade = new Uri(identity.Value.PublicUrl, PlanCatalog.PlansPath);
        return new QuotaLeg(orgId, kind, quota.PeriodStart, amount, quota.Limit,
            used => LimitExceeded(kind, Describe(kind, quota, used, allowed: false), amount, upgrade));
    }

    public async Task CountedAsync(QuotaLeg leg, CancellationToken ct)
    {
        // Unlimited plans have nothing to warn about: the hot path of a paying org reads nothing more here.
        if (leg.Limit is not { } limit)
            return;
        var period = leg.PeriodStart == DateTimeOffset.UnixEpoch ? QuotaPeriod.Total : QuotaPeriod.Day;
        await WarnWhenCrossedAsync(leg.OrganizationId, leg.Kind, new Quota(limit, period, leg.PeriodStart, clock.GetUtcNow()),
            await UsedAsync(leg.OrganizationId, leg.Kind, leg.PeriodStart, ct), ct);
    }

    async Task WarnWhenCrossedAsync(Guid orgId, QuotaKind kind, Quota quota, long used, CancellationToken ct)
    {
        if (kind == QuotaKind.ChatQuestions && quota.Limit is { } limit)
            await warnings.NotifyAfterCommitAsync($"quota:{orgId:N}:{kind}", PeriodName(quota), used, limit, (percent, token) => WarnAsync(orgId, percent, quota.Period, token), ct);
    }

    public async Task<QuotaStatus> ReleaseAsync(Guid orgId, QuotaKind kind, string idempotencyKey, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(idempotencyKey);
        if (await FindAsync(orgId, kind, idempotencyKey, ct) is { ReleasedAt: null } consumption)
        {
            var now = clock.GetUtcNow();
            await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
            {
                await using var transaction = await db.Database.BeginTransactionAsync(ct);
                // Released once: only the call that moves ReleasedAt from null gives back the amount it read (not a retry's since).
                var released = await db.Set<QuotaConsumption>()
                    .Where(c => c.Id == consumption.Id && c.ReleasedAt == null && c.PeriodStart == consumption.PeriodStart && c.Amount == consumption.Amount)
                    .ExecuteUpdateAsync(u => u.SetProperty(c => c.ReleasedAt, now), ct);
                if (released == 1)
                    await db.Set<QuotaUsage>()
                        .Where(u => u.OrganizationId == orgId && u.Kind == kind && u.PeriodStart == consumption.PeriodStart && u.Used >= consumption.Amount)
                        .ExecuteUpdateAsync(u => u.SetProperty(x => x.Used, x => x.Used - consumption.Amount), ct);
                await transaction.CommitAsync(ct);
            });
        }
        return await GetAsync(orgId, kind, ct);
    }

    public async Task<QuotaStatus> EnsureAsync(Guid orgId, QuotaKind kind, long amount, string idempotencyKey, CancellationToken ct)
    {
        var status = await TryConsumeAsync(orgId, kind, amount, idempotencyKey, ct);
        return status.Allowed ? status : throw LimitExceeded(kind, status, amount, new Uri(identity.Value.PublicUrl, PlanCatalog.PlansPath));
    }

    internal static ProblemException LimitExceeded(QuotaKind kind, QuotaStatus status, long amount, Uri upgradeUrl)
    {
        var (type, code, what) = kind switch
        {
            QuotaKind.ChatQuestions => (ProblemTypes.ChatLimitExceeded, "CHAT_LIMIT_EXCEEDED", "chat questions"),
            QuotaKind.StorageBytes => (ProblemTypes.StorageLimitExceeded, "STORAGE_LIMIT_EXCEEDED", "storage"),
            _ => (ProblemTypes.VideoLimitExceeded, "VIDEO_LIMIT_EXCEEDED", "videos"),
        };
        var needs = kind == QuotaKind.StorageBytes && status.Remaining > 0 ? $" This needs {Bytes(amount)}." : "";
        return new ProblemException(StatusCodes.Status403Forbidden, $"The plan's limit of {what} is reached.",
            $"{status.Message}.{needs} Change plan at {upgradeUrl.AbsoluteUri}.", type)
        {
            Extensions = new Dictionary<string, object?>
            {
                ["code"] = code,
                ["limit"] = status.Limit,
                ["used"] = status.Used,
                ["resetsAt"] = status.ResetsAt,
                ["upgradeUrl"] = upgradeUrl.AbsoluteUri,
            },
        };
    }

    /// <summary>The limit of the org's current plan and the period it counts in right now.</summary>
    async Task<Quota> QuotaOfAsync(Guid orgId, QuotaKind kind, CancellationToken ct)
    {
        var plan = await PlanCatalog.PlanOfAsync(db, orgId, ct);
        var (limit, period) = kind switch
        {
            QuotaKind.ChatQuestions => ((long?)plan.ChatQuestions, plan.ChatPeriod),
            QuotaKind.StorageBytes => (plan.StorageBytes, QuotaPeriod.Total),
            QuotaKind.Videos => (plan.Videos, QuotaPeriod.Total),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        var now = clock.GetUtcNow();
        var start = period == QuotaPeriod.Day ? new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero) : DateTimeOffset.UnixEpoch;
        return new Quota(limit, period, start, now);
    }

    async Task<long> UsedAsync(Guid orgId, QuotaKind kind, DateTimeOffset periodStart, CancellationToken ct) =>
        await db.Set<QuotaUsage>().AsNoTracking()
            .Where(u => u.OrganizationId == orgId && u.Kind == kind && u.PeriodStart == periodStart)
            .Select(u => (long?)u.Used).FirstOrDefaultAsync(ct) ?? 0;

    /// <summary>Makes the period's counter at zero, so that consuming is one conditional update; a concurrent maker wins quietly.</summary>
    async Task OpenCounterAsync(Guid orgId, QuotaKind kind, DateTimeOffset periodStart, CancellationToken ct)
    {
        if (await db.Set<QuotaUsage>().AnyAsync(u => u.OrganizationId == orgId && u.Kind == kind && u.PeriodStart == periodStart, ct))
            return;
        var counter = new QuotaUsage { OrganizationId = orgId, Kind = kind, PeriodStart = periodStart };
        db.Add(counter);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.Entry(counter).State = EntityState.Detached;
            if (!await db.Set<QuotaUsage>().AnyAsync(u => u.OrganizationId == orgId && u.Kind == kind && u.PeriodStart == periodStart, ct))
                throw;
        }
        finally
        {
            db.Entry(counter).State = EntityState.Detached;
        }
    }

    async Task<QuotaConsumption?> FindAsync(Guid orgId, QuotaKind kind, string idempotencyKey, CancellationToken ct) =>
        await db.Set<QuotaConsumption>().AsNoTracking()
            .FirstOrDefaultAsync(c => c.OrganizationId == orgId && c.Kind == kind && c.IdempotencyKey == idempotencyKey, ct);

    /// <summary>The answer to a key seen before: counted if that consumption still stands, nothing counted again.</summary>
    async Task<QuotaStatus> AgainAsync(Guid orgId, QuotaKind kind, QuotaConsumption earlier, CancellationToken ct) =>
        await GetAsync(orgId, kind, ct) with { Allowed = earlier.ReleasedAt is null };

    /// <summary>Mails the org's Owners and Admins (for a personal org, its user) that a share of the questions is used.</summary>
    async Task WarnAsync(Guid orgId, int percent, QuotaPeriod period, CancellationToken ct)
    {
        var recipients = await Orgs.ManagersToMailAsync(db, orgId, null, ct);
        var allowance = period == QuotaPeriod.Day ? "daily questions" : "questions";
        var plans = new Uri(identity.Value.PublicUrl, PlanCatalog.PlansPath);
        foreach (var recipient in recipients)
            await mailer.SendQuotaWarningAsync(recipient.Email, recipient.DisplayName, recipient.IsPersonal ? null : recipient.OrgName, percent, allowance, plans, ct);
    }

    static string PeriodName(Quota quota) =>
        quota.Period == QuotaPeriod.Day ? quota.PeriodStart.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "total";

    static QuotaStatus Describe(QuotaKind kind, Quota quota, long used, bool? allowed)
    {
        if (quota.Limit is not { } limit)
            return new QuotaStatus(allowed ?? true, null, used, null, null, "Unlimited");
        var resetsAt = quota.Period == QuotaPeriod.Day ? quota.PeriodStart.AddDays(1) : (DateTimeOffset?)null;
        var remaining = Math.Max(0, limit - used);
        var message = (kind, remaining) switch
        {
            (QuotaKind.ChatQuestions, > 0) => $"{Count(remaining, "question")} remaining",
            (QuotaKind.ChatQuestions, _) when quota.Period == QuotaPeriod.Day => "Daily limit reached; resets at 00:00 UTC",
            (QuotaKind.ChatQuestions, _) => $"All {Count(limit, "question")} of the plan are used",
            (QuotaKind.StorageBytes, > 0) => $"{Bytes(remaining)} of {Bytes(limit)} remaining",
            (QuotaKind.StorageBytes, _) => $"Storage is full ({Bytes(limit)})",
            (QuotaKind.Videos, > 0) => $"{Count(remaining, "video")} remaining",
            _ => $"All {Count(limit, "video")} of the plan are used",
        };
        return new QuotaStatus(allowed ?? remaining > 0, limit, used, remaining, resetsAt, message);
    }

    static string Count(long n, string unit) => n.ToString("N0", CultureInfo.InvariantCulture) + " " + unit + (n == 1 ? "" : "s");

    /// <summary>Bytes for people, in decimal units as the plans state them (1 GB = 10^9 bytes).</summary>
    internal static string Bytes(long bytes)
    {
        string[] units = ["bytes", "KB", "MB", "GB", "TB"];
        var value = (decimal)bytes;
        var unit = 0;
        while (value >= 1000 && unit < units.Length - 1)
        {
            value /= 1000;
            unit++;
        }
        return unit == 0 ? Count(bytes, "byte") : value.ToString("0.##", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    sealed record Quota(long? Limit, QuotaPeriod Period, DateTimeOffset PeriodStart, DateTimeOffset Now);
}
