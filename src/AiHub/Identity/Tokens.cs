using System.Security.Claims;
using System.Security.Cryptography;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.Identity;

internal sealed record TokenPair(string AccessToken, string RefreshToken, int ExpiresIn, string TokenType = "Bearer");

/// <summary>Access tokens (short JWTs) and refresh tokens (opaque, hashed, rotated on every use).</summary>
internal sealed class Tokens(
    AppDbContext db,
    SigningKeys keys,
    Sessions sessions,
    AuditLog audit,
    TimeProvider clock,
    IOptions<IdentitySettings> settings)
{
    public const string Issuer = "aihub";
    public const string Audience = "aihub-api";
    const string RefreshPrefix = "ahr_";

    /// <summary>Adds the session's next refresh token to the unit of work and returns it with a fresh access token.</summary>
    public TokenPair Issue(AppUser user, UserSession session)
    {
        var now = clock.GetUtcNow();
        var refresh = RefreshPrefix + Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        db.RefreshTokens.Add(new RefreshToken
        {
            Id = Guid.CreateVersion7(now),
            SessionId = session.Id,
            UserId = user.Id,
            TokenHash = Sessions.Hash(refresh),
            CreatedAt = now,
            ExpiresAt = now + settings.Value.RefreshTokenLifetime,
        });
        var lifetime = settings.Value.AccessTokenLifetime;
        var jwt = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + lifetime).UtcDateTime,
            SigningCredentials = new SigningCredentials(keys.Current, SecurityAlgorithms.HmacSha256),
            Subject = new ClaimsIdentity(
            [
                new Claim(JwtRegisteredClaimNames.Sub, user.Id.ToString()),
                new Claim(JwtRegisteredClaimNames.Jti, Guid.NewGuid().ToString("N")),
                new Claim(JwtRegisteredClaimNames.Sid, session.Id.ToString()),
                new Claim(JwtRegisteredClaimNames.Email, user.Email ?? ""),
            ]),
        });
        return new TokenPair(jwt, refresh, (int)lifetime.TotalSeconds);
    }

    /// <summary>
    /// Exchanges a refresh token for a new pair. A token that was already exchanged is a replay, most likely of a
    /// stolen copy, so the whole session dies with it.
    /// </summary>
    public async Task<TokenPair> RefreshAsync(string refreshToken, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var hash = Sessions.Hash(refreshToken.Trim());
        var stored = await db.RefreshTokens.AsNoTracking().FirstOrDefaultAsync(t => t.TokenHash == hash, ct)
            ?? throw Invalid("The refresh token is not known.");
        // The conditional update makes two concurrent exchanges of one token a replay, not two new pairs.
        var claimed = stored.UsedAt is null && stored.RevokedAt is null && stored.ExpiresAt > now
            && await db.RefreshTokens.Where(t => t.Id == stored.Id && t.UsedAt == null && t.RevokedAt == null)
                .ExecuteUpdateAsync(u => u.SetProperty(t => t.UsedAt, now), ct) == 1;
        if (!claimed)
        {
            if (stored.UsedAt is not null || stored.ExpiresAt > now && stored.RevokedAt is null)
            {
                await sessions.RevokeAsync(stored.UserId, stored.SessionId, "refresh-token-reused", ct);
                await audit.RecordAsync(AuditKinds.RefreshReused, stored.UserId, new { sessionId = stored.SessionId }, ct);
                throw new ProblemException(StatusCodes.Status401Unauthorized, "The refresh token was already used.",
                    "Reusing a refresh token signs out its session on every device; sign in again.", ProblemTypes.RefreshTokenReused);
            }
            throw Invalid(stored.ExpiresAt <= now ? "The refresh token has expired; sign in again." : "The refresh token was revoked; sign in again.");
        }
        var session = await db.UserSessions.FirstOrDefaultAsync(s => s.Id == stored.SessionId, ct);
        var user = await db.Users.FirstOrDefaultAsync(u => u.Id == stored.UserId, ct);
        if (session is null || !session.IsActive(now) || user is null)
            throw Invalid("The session has ended; sign in again.");
        session.LastSeenAt = now;
        session.ExpiresAt = now + settings.Value.RefreshTokenLifetime;
        var pair = Issue(user, session);
        await db.SaveChangesAsync(ct);
        return pair;
    }

    /// <summary>The session a refresh token belongs to, if it is known.</summary>
    public async Task<RefreshToken?> FindAsync(string refreshToken, CancellationToken ct)
    {
        var hash = Sessions.Hash(refreshToken.Trim());
        return await db.RefreshTokens.AsNoTracking().FirstOrDefaultAsync(t => t.TokenHash == hash, ct);
    }

    static ProblemException Invalid(string detail) =>
        new(StatusCodes.Status401Unauthorized, "The refresh token is not valid.", detail, ProblemTypes.InvalidRefreshToken);
}
