using System.Security.Cryptography;
using AiHub.Data;
using AiHub.Identity;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.IdentityModel.Tokens;

namespace AiHub.Mcp.OAuth;

/// <summary>
/// The authorization server's RSA signing key and AES encryption key: made once, kept in <c>signing_keys</c> protected by
/// Data Protection, so every node issues and reads the same tokens and a restart keeps them valid.
/// </summary>
internal sealed class OAuthKeys(IServiceScopeFactory scopes, IDataProtectionProvider protection, TimeProvider clock) : IHostedService
{
    const string SigningKeyId = "mcp-oauth-rs256";
    const string EncryptionKeyId = "mcp-oauth-a256";
    RsaSecurityKey? _signing;
    SymmetricSecurityKey? _encryption;

    public SecurityKey Signing => _signing ?? throw new InvalidOperationException("The OAuth keys are read at start-up; the host has not started.");

    public SecurityKey Encryption => _encryption ?? throw new InvalidOperationException("The OAuth keys are read at start-up; the host has not started.");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var rsa = RSA.Create();
        rsa.ImportPkcs8PrivateKey(await LoadOrCreateAsync(SigningKeyId, () => RSA.Create(2048).ExportPkcs8PrivateKey(), cancellationToken), out _);
        _signing = new RsaSecurityKey(rsa) { KeyId = SigningKeyId };
        _encryption = new SymmetricSecurityKey(await LoadOrCreateAsync(EncryptionKeyId, () => RandomNumberGenerator.GetBytes(32), cancellationToken)) { KeyId = EncryptionKeyId };
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    async Task<byte[]> LoadOrCreateAsync(string id, Func<byte[]> create, CancellationToken ct)
    {
        var protector = protection.CreateProtector("AiHub.Mcp.OAuth.Keys");
        for (var attempt = 0; ; attempt++)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            if (await db.SigningKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == id, ct) is { } stored)
                return protector.Unprotect(Convert.FromBase64String(stored.ProtectedKey));
            var material = create();
            db.SigningKeys.Add(new SigningKey { Id = id, ProtectedKey = Convert.ToBase64String(protector.Protect(material)), CreatedAt = clock.GetUtcNow() });
            try
            {
                await db.SaveChangesAsync(ct);
                return material;
            }
            catch (DbUpdateException e) when (attempt == 0 && UniqueViolation.Is(e))
            {
                // Another node made the key first; read theirs.
            }
        }
    }
}
