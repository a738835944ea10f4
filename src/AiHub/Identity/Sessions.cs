using System.Security.Cryptography;
using System.Text;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Distributed;

namespace AiHub.Identity;

/// <summary>Signed-in devices, and the access tokens refused before they expire.</summary>
internal sealed class Sessions(AppDbContext db, TimeProvider clock, IDistributedCache cache, AuditLog audit)
{
    public UserSession Start(Guid userId, SessionKind kind, TimeSpan lifetime, HttpContext? http)
    {
        var now = clock.GetUtcNow();
        var session = new UserSession
        {
            Id = Guid.CreateVersion7(now),
            UserId = userId,
            Kind = kind,
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = now + lifetime,
            IpAddress = http.IpAddress(),
            UserAgent = http.UserAgent(),
        };
        db.UserSessions.Add(session);
        return session;
    }

    /// <summary>One primary-key read per authenticated request: revocation takes effect at once, on every node, across restarts.</summary>
    public async Task<bool> IsActiveAsync(Guid sessionId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var lastSeen = await db.UserSessions.AsNoTracking()
            .Where(s => s.Id == sessionId && s.RevokedAt == null && s.ExpiresAt > now)
            .Select(s => (DateTimeOffset?)s.LastSeenAt)
            .FirstOrDefaultAsync(ct);
        if (lastSeen is null)
            return false;
        // "Last seen" for the sessions page, written at most every few minutes so that reads stay reads.
        if (lastSeen < now - SeenGranularity)
            await db.UserSessions.Where(s => s.Id == sessionId).ExecuteUpdateAsync(u => u.SetProperty(s => s.LastSeenAt, now), ct);
        return true;
    }

    static readonly TimeSpan SeenGranularity = TimeSpan.FromMinutes(5);

    /// <summary>The user's sessions that can still be used, most recently used first.</summary>
    public async Task<List<UserSession>> ListActiveAsync(Guid userId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        return await db.UserSessions.AsNoTracking()
            .Where(s => s.UserId == userId && s.RevokedAt == null && s.ExpiresAt > now)
            .OrderByDescending(s => s.LastSeenAt)
            .ToListAsync(ct);
    }

    public async Task<int> RevokeAsync(Guid userId, Guid sessionId, string reason, CancellationToken ct) =>
        await RevokeWhereAsync(db.UserSessions.Where(s => s.UserId == userId && s.Id == sessionId), reason, ct);

    public async Task<int> RevokeAllAsync(Guid userId, string reason, CancellationToken ct, Guid? except = null) =>
        await RevokeWhereAsync(db.UserSessions.Where(s => s.UserId == userId && s.Id != except), reason, ct);

    /// <summary>The user signs out one of their sessions; false when they have no such active session.</summary>
    public async Task<bool> RevokeByUserAsync(Guid userId, Guid sessionId, CancellationToken ct)
    {
        if (await RevokeAsync(userId, sessionId, RevokedByUser, ct) == 0)
            return false;
        await audit.RecordAsync(AuditKinds.SessionRevoked, userId, new { session = sessionId }, ct);
        return true;
    }

    /// <summary>The user signs out every session but the one they use; returns how many.</summary>
    public async Task<int> RevokeOthersByUserAsync(Guid userId, Guid? current, CancellationToken ct)
    {
        var count = await RevokeAllAsync(userId, RevokedByUser, ct, except: current);
        if (count > 0)
            await audit.RecordAsync(AuditKinds.SessionRevoked, userId, new { allExcept = current, count }, ct);
        return count;
    }

    const string RevokedByUser = "revoked-by-user";

    async Task<int> RevokeWhereAsync(IQueryable<UserSession> sessions, string reason, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var active = sessions.Where(s => s.RevokedAt == null);
        var ids = await active.Select(s => s.Id).ToListAsync(ct);
        if (ids.Count == 0)
            return 0;
        await db.RefreshTokens.Where(t => ids.Contains(t.SessionId) && t.RevokedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(t => t.RevokedAt, now), ct);
        return await db.UserSessions.Where(s => ids.Contains(s.Id) && s.RevokedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.RevokedAt, now).SetProperty(s => s.RevokedReason, reason), ct);
    }

    public async Task DenyAccessTokenAsync(string jti, DateTimeOffset expires, CancellationToken ct)
    {
        if (expires <= clock.GetUtcNow())
            return;
        await cache.SetAsync(DenyKey(jti), [1], new DistributedCacheEntryOptions { AbsoluteExpiration = expires }, ct);
    }

    public async Task<bool> IsDeniedAsync(string jti, CancellationToken ct) => await cache.GetAsync(DenyKey(jti), ct) is not null;

    static string DenyKey(string jti) => "jti-denied:" + jti;

    public static string Hash(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
