using AiHub.Data;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Credits.Plans;

/// <summary>
/// Warns once when a use crosses 80, 90 and 100 percent of a limit (a plan's questions, an API key's monthly budget).
/// Each (subject, period, threshold) is a row whose insert decides who sends: concurrent callers cannot both warn.
/// </summary>
internal sealed partial class LimitWarnings(AppDbContext db, TimeProvider clock, ILogger<LimitWarnings> log)
{
    public static readonly IReadOnlyList<int> Thresholds = [80, 90, 100];

    /// <param name="subject">What is limited, e.g. <c>quota:{orgId}:ChatQuestions</c> or <c>api-key:{keyId}:budget</c>.</param>
    /// <param name="period">The period the use counts in, e.g. <c>2026-11-23</c> or <c>2026-11</c>; a new period warns again.</param>
    /// <param name="send">Sends the warning for one threshold (in percent); if it throws, the threshold is free to warn again.</param>
    public async Task NotifyAsync(string subject, string period, long used, long limit, Func<int, CancellationToken, Task> send, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentException.ThrowIfNullOrWhiteSpace(period);
        ArgumentNullException.ThrowIfNull(send);
        if (limit <= 0)
            return;
        foreach (var threshold in Thresholds)
        {
            // Int128: a budget in micro-credits times 100 must not overflow.
            if ((Int128)used * 100 < (Int128)limit * threshold)
                break;
            if (!await ClaimAsync(subject, period, threshold, ct))
                continue;
            try
            {
                await send(threshold, ct);
            }
            catch
            {
                await db.Set<LimitWarning>().Where(w => w.Subject == subject && w.Period == period && w.Threshold == threshold).ExecuteDeleteAsync(CancellationToken.None);
                throw;
            }
        }
    }

    /// <summary>
    /// <see cref="NotifyAsync"/> for a caller whose own work is already committed (a counted question, a settled call):
    /// a warning that cannot go out is logged and tried again at the next use, never turned into that caller's error.
    /// </summary>
    public async Task NotifyAfterCommitAsync(string subject, string period, long used, long limit, Func<int, CancellationToken, Task> send, CancellationToken ct)
    {
        try
        {
            await NotifyAsync(subject, period, used, limit, send, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogNotSent(e, subject);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The limit warning for {Subject} could not be sent; the next use tries again")]
    partial void LogNotSent(Exception e, string subject);

    async Task<bool> ClaimAsync(string subject, string period, int threshold, CancellationToken ct)
    {
        if (await db.Set<LimitWarning>().AnyAsync(w => w.Subject == subject && w.Period == period && w.Threshold == threshold, ct))
            return false;
        return await UniqueViolation.TryInsertAsync(db, new LimitWarning { Subject = subject, Period = period, Threshold = threshold, SentAt = clock.GetUtcNow() }, ct);
    }
}
