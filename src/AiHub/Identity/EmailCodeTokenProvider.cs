using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace AiHub.Identity;

/// <summary>
/// Six-digit email codes for Identity's email confirmation. Unlike Identity's TOTP email provider, a code lives a
/// fixed time, dies after a few wrong tries and cannot be used twice; only its hash is kept, in the user tokens table.
/// </summary>
internal sealed class EmailCodeTokenProvider(IOptions<IdentitySettings> settings, TimeProvider clock) : IUserTwoFactorTokenProvider<AppUser>
{
    public const string Name = "EmailCode";
    const string Store = "[AiHub]";

    public async Task<string> GenerateAsync(string purpose, UserManager<AppUser> manager, AppUser user)
    {
        var code = RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
        var expires = clock.GetUtcNow() + settings.Value.VerificationCodeLifetime;
        await manager.SetAuthenticationTokenAsync(user, Store, purpose, Format(Hash(user, code), expires, attempts: 0));
        return code;
    }

    public async Task<bool> ValidateAsync(string purpose, string token, UserManager<AppUser> manager, AppUser user)
    {
        if (await ReadAsync(purpose, manager, user) is not { } stored)
            return false;
        if (stored.Expires <= clock.GetUtcNow() || stored.Attempts >= settings.Value.VerificationCodeAttempts)
            return false;
        if (CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(stored.Hash), Encoding.ASCII.GetBytes(Hash(user, token.Trim()))))
        {
            await manager.RemoveAuthenticationTokenAsync(user, Store, purpose);
            return true;
        }
        await manager.SetAuthenticationTokenAsync(user, Store, purpose, Format(stored.Hash, stored.Expires, stored.Attempts + 1));
        return false;
    }

    public Task<bool> CanGenerateTwoFactorTokenAsync(UserManager<AppUser> manager, AppUser user) => Task.FromResult(false);

    /// <summary>Codes of <paramref name="purpose"/> mailed so far stop working.</summary>
    public static async Task ForgetAsync(string purpose, UserManager<AppUser> manager, AppUser user) =>
        await manager.RemoveAuthenticationTokenAsync(user, Store, purpose);

    sealed record StoredCode(string Hash, DateTimeOffset Expires, int Attempts);

    static async Task<StoredCode?> ReadAsync(string purpose, UserManager<AppUser> manager, AppUser user)
    {
        var value = await manager.GetAuthenticationTokenAsync(user, Store, purpose);
        var parts = value?.Split('|');
        if (parts is not { Length: 3 })
            return null;
        return new StoredCode(parts[0], DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(parts[1], CultureInfo.InvariantCulture)), int.Parse(parts[2], CultureInfo.InvariantCulture));
    }

    static string Format(string hash, DateTimeOffset expires, int attempts) =>
        string.Create(CultureInfo.InvariantCulture, $"{hash}|{expires.ToUnixTimeMilliseconds()}|{attempts}");

    // The user's id salts the hash, so equal codes of two users do not hash alike.
    static string Hash(AppUser user, string code) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{user.Id:N}:{code}")));
}
