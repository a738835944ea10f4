using System.Security.Cryptography;
using AiHub.Data;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.Identity;

/// <summary>
/// The key that signs access tokens. It is made once, stored protected in the database so that every node of a
/// cluster signs and validates alike, and held in memory from start-up on.
/// </summary>
internal sealed class SigningKeys(IServiceScopeFactory scopes, IDataProtectionProvider protection, TimeProvider clock) : IHostedService
{
    const string JwtKeyId = "jwt-hs256";
    SymmetricSecurityKey? _current;

    public SymmetricSecurityKey Current => _current ?? throw new InvalidOperationException("The signing key is read at start-up; the host has not started.");

    public async Task StartAsync(CancellationToken cancellationToken) => _current = await LoadOrCreateAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    async Task<SymmetricSecurityKey> LoadOrCreateAsync(CancellationToken ct)
    {
        var protector = protection.CreateProtector("AiHub.Identity.SigningKeys");
        for (var attempt = 0; ; attempt++)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            if (await db.SigningKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == JwtKeyId, ct) is { } stored)
                return new SymmetricSecurityKey(protector.Unprotect(Convert.FromBase64String(stored.ProtectedKey))) { KeyId = JwtKeyId };
            var material = RandomNumberGenerator.GetBytes(64);
            db.SigningKeys.Add(new SigningKey { Id = JwtKeyId, ProtectedKey = Convert.ToBase64String(protector.Protect(material)), CreatedAt = clock.GetUtcNow() });
            try
            {
                await db.SaveChangesAsync(ct);
                return new SymmetricSecurityKey(material) { KeyId = JwtKeyId };
            }
            catch (DbUpdateException e) when (attempt == 0 && UniqueViolation.Is(e))
            {
                // Another node made the key first; read theirs.
            }
        }
    }
}
