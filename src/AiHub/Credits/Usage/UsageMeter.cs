using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Usage;

/// <summary>What a feature reports after an AI call.</summary>
/// <param name="Id">The caller's id for this call (e.g. <c>chat:{messageId}</c>); the same id again writes nothing.</param>
/// <param name="CostMicros">What was charged; when null it is priced from the catalog (zero tokens cost nothing).</param>
/// <param name="OccurredAt">When the call happened; now when null. A time in an hour already aggregated is still counted.</param>
internal sealed record UsageEntry(
    string Id,
    Guid OrganizationId,
    Guid UserId,
    string Provider,
    string Model,
    long InputTokens,
    long OutputTokens,
    long LatencyMs,
    UsageStatus Status,
    Guid? ApiKeyId = null,
    Guid? WorkspaceId = null,
    Guid? ReservationId = null,
    long? CostMicros = null,
    DateTimeOffset? OccurredAt = null,
    string? Channel = null,
    string? ClientId = null);

/// <summary>Writes one usage record per AI call; Chat, the gateway and Knowledge call it after every call.</summary>
/// <remarks>It writes through a DbContext of its own, so the caller's unsaved changes are neither saved nor cleared by it.</remarks>
internal sealed class UsageMeter(IServiceScopeFactory scopes, TimeProvider clock)
{
    public const int MaxIdLength = 200;

    /// <summary>Records the call once: a retry with the same <see cref="UsageEntry.Id"/> returns the first record.</summary>
    /// <exception cref="Infrastructure.Errors.ProblemException">503 <c>model-not-priced</c> when no cost is given and the model has no price.</exception>
    public async Task<UsageRecord> RecordAsync(UsageEntry e, CancellationToken ct)
    {
        Validate(e);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        if (await FindAsync(db, e.Id, ct) is { } earlier)
            return earlier;
        var prices = scope.ServiceProvider.GetRequiredService<PriceCatalog>();
        var cost = e.CostMicros ?? (e.InputTokens == 0 && e.OutputTokens == 0 ? 0 : await prices.CostAsync(e.Provider, e.Model, e.InputTokens, e.OutputTokens, ct));
        var record = ToRecord(e, cost, clock.GetUtcNow());
        db.Add(record);
        try
        {
            await db.SaveChangesAsync(ct);
            return record;
        }
        catch (DbUpdateException ex) when (UniqueViolation.Is(ex))
        {
            db.ChangeTracker.Clear();
            // A concurrent retry with the same id got there first: its record is ours.
            return await FindAsync(db, e.Id, ct) ?? throw new InvalidOperationException($"Usage record {e.Id} could not be written.");
        }
    }

    /// <summary>The row of one call: names normalized, a time in the future taken as now, and the hour it counts in.</summary>
    internal static UsageRecord ToRecord(UsageEntry e, long cost, DateTimeOffset now)
    {
        var at = (e.OccurredAt is { } given && given < now ? given : now).ToUniversalTime();
        return new UsageRecord
        {
            Id = Guid.CreateVersion7(now),
            IdempotencyKey = e.Id,
            OrganizationId = e.OrganizationId,
            UserId = e.UserId,
            ApiKeyId = e.ApiKeyId,
            WorkspaceId = e.WorkspaceId,
            Provider = PriceCatalog.Normalize(e.Provider),
            Model = PriceCatalog.Normalize(e.Model),
            InputTokens = e.InputTokens,
            OutputTokens = e.OutputTokens,
            CostMicros = cost,
            LatencyMs = e.LatencyMs,
            Status = e.Status,
            ReservationId = e.ReservationId,
            Channel = e.Channel,
            ClientId = e.ClientId,
            CreatedAt = at,
            HourStart = UsageTime.HourOf(at),
        };
    }

    static async Task<UsageRecord?> FindAsync(AppDbContext db, string id, CancellationToken ct) =>
        await db.Set<UsageRecord>().AsNoTracking().FirstOrDefaultAsync(r => r.IdempotencyKey == id, ct);

    internal static void Validate(UsageEntry e)
    {
        if (string.IsNullOrWhiteSpace(e.Id) || e.Id.Length > MaxIdLength)
            throw new ArgumentException($"A usage id is 1 to {MaxIdLength} characters.", nameof(e));
        if (string.IsNullOrWhiteSpace(e.Provider) || e.Provider.Trim().Length > UsageModelConfiguration.ProviderLength)
            throw new ArgumentException($"A provider name is 1 to {UsageModelConfiguration.ProviderLength} characters.", nameof(e));
        if (string.IsNullOrWhiteSpace(e.Model) || e.Model.Trim().Length > UsageModelConfiguration.ModelLength)
            throw new ArgumentException($"A model name is 1 to {UsageModelConfiguration.ModelLength} characters.", nameof(e));
        if (e.InputTokens < 0 || e.OutputTokens < 0 || e.LatencyMs < 0 || e.CostMicros < 0)
            throw new ArgumentOutOfRangeException(nameof(e), "Tokens, latency and cost are never negative.");
    }
}

internal static class UsageTime
{
    /// <summary>The start of the UTC hour that holds <paramref name="at"/>.</summary>
    public static DateTimeOffset HourOf(DateTimeOffset at)
    {
        var utc = at.ToUniversalTime();
        return new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, TimeSpan.Zero);
    }

    public static DateTimeOffset StartOf(DateOnly day) => new(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
}
