using System.Security.Cryptography;
using System.Text;
using AiHub.Data;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;

namespace AiHub.Identity;

/// <summary>
/// Identity's EF store, except that the authenticator key is kept encrypted with Data Protection and recovery codes
/// only as hashes, so that a copy of the database signs nobody in. Rows written in plain text before are still read,
/// and written protected at their next use.
/// </summary>
internal sealed class ProtectedUserStore(AppDbContext context, IDataProtectionProvider protection, IdentityErrorDescriber? describer = null)
    : UserStore<AppUser, AppRole, AppDbContext, Guid>(context, describer)
{
    /// <summary>The token names Identity's own store uses, so that rows written before stay where they were.</summary>
    public const string InternalLoginProvider = "[AspNetUserStore]";
    public const string AuthenticatorKeyName = "AuthenticatorKey";
    public const string RecoveryCodesName = "RecoveryCodes";

    const string ProtectedPrefix = "dp1:";
    const string HashedPrefix = "h1:";

    readonly IDataProtector _protector = protection.CreateProtector("AiHub.Identity.AuthenticatorKey");

    public override Task SetAuthenticatorKeyAsync(AppUser user, string key, CancellationToken cancellationToken) =>
        SetTokenAsync(user, InternalLoginProvider, AuthenticatorKeyName, ProtectedPrefix + _protector.Protect(key), cancellationToken);

    public override async Task<string?> GetAuthenticatorKeyAsync(AppUser user, CancellationToken cancellationToken)
    {
        var stored = await GetTokenAsync(user, InternalLoginProvider, AuthenticatorKeyName, cancellationToken);
        if (string.IsNullOrEmpty(stored))
            return stored;
        if (stored.StartsWith(ProtectedPrefix, StringComparison.Ordinal))
            return _protector.Unprotect(stored[ProtectedPrefix.Length..]);
        await SetAuthenticatorKeyAsync(user, stored, cancellationToken);
        await SaveAsync(cancellationToken);
        return stored;
    }

    public override Task ReplaceCodesAsync(AppUser user, IEnumerable<string> recoveryCodes, CancellationToken cancellationToken) =>
        WriteHashesAsync(user, recoveryCodes.Select(code => Hash(user, code)), cancellationToken);

    public override async Task<bool> RedeemCodeAsync(AppUser user, string code, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(code);
        var hashes = await ReadHashesAsync(user, cancellationToken);
        var wanted = Encoding.ASCII.GetBytes(Hash(user, code));
        var match = hashes.FindIndex(h => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(h), wanted));
        if (match < 0)
            return false;
        hashes.RemoveAt(match);
        await WriteHashesAsync(user, hashes, cancellationToken);
        return true;
    }

    public override async Task<int> CountCodesAsync(AppUser user, CancellationToken cancellationToken) =>
        (await ReadHashesAsync(user, cancellationToken)).Count;

    /// <summary>The stored hashes; codes stored in plain text before are hashed as they are read.</summary>
    async Task<List<string>> ReadHashesAsync(AppUser user, CancellationToken ct)
    {
        var stored = await GetTokenAsync(user, InternalLoginProvider, RecoveryCodesName, ct) ?? "";
        var hashed = stored.StartsWith(HashedPrefix, StringComparison.Ordinal);
        var entries = (hashed ? stored[HashedPrefix.Length..] : stored).Split(';', StringSplitOptions.RemoveEmptyEntries);
        return hashed ? [.. entries] : [.. entries.Select(code => Hash(user, code))];
    }

    Task WriteHashesAsync(AppUser user, IEnumerable<string> hashes, CancellationToken ct) =>
        SetTokenAsync(user, InternalLoginProvider, RecoveryCodesName, HashedPrefix + string.Join(';', hashes), ct);

    async Task SaveAsync(CancellationToken ct)
    {
        if (AutoSaveChanges)
            await Context.SaveChangesAsync(ct);
    }

    // Recovery codes are random enough that a salted SHA-256 suffices; the user's id keeps equal codes of two users apart.
    static string Hash(AppUser user, string code) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{user.Id:N}:{code}")));
}
