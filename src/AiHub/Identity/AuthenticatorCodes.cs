using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using AiHub.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Identity;

/// <summary>
/// Authenticator (RFC 6238) codes as Identity checks them (30-second steps, two steps either side), except that a code is
/// accepted once: the step it belongs to is remembered per user, and a code of that step or an earlier one is refused.
/// </summary>
internal sealed class AuthenticatorCodes(AppDbContext db, TimeProvider clock) : IUserTwoFactorTokenProvider<AppUser>
{
    public const string Name = "AiHubAuthenticator";
    const int Window = 2;

    public Task<string> GenerateAsync(string purpose, UserManager<AppUser> manager, AppUser user) => Task.FromResult(string.Empty);

    public async Task<bool> CanGenerateTwoFactorTokenAsync(UserManager<AppUser> manager, AppUser user) =>
        !string.IsNullOrWhiteSpace(await manager.GetAuthenticatorKeyAsync(user));

    public async Task<bool> ValidateAsync(string purpose, string token, UserManager<AppUser> manager, AppUser user)
    {
        if (token.Length != 6 || !int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
            return false;
        if (await manager.GetAuthenticatorKeyAsync(user) is not { Length: > 0 } key || Base32Decode(key) is not { } secret)
            return false;
        var now = clock.GetUtcNow().ToUnixTimeSeconds() / 30;
        for (var step = now + Window; step >= now - Window; step--)
        {
            if (Code(secret, step) != code)
                continue;
            return await ClaimStepAsync(user, step);
        }
        return false;
    }

    /// <summary>Records the step unless it (or a later one) was used already; one conditional update, so two requests cannot both win.</summary>
    async Task<bool> ClaimStepAsync(AppUser user, long step)
    {
        var claimed = await db.Users
            .Where(u => u.Id == user.Id && (u.LastTotpStep == null || u.LastTotpStep < step))
            .ExecuteUpdateAsync(u => u.SetProperty(x => x.LastTotpStep, step));
        if (claimed == 0)
            return false;
        var entry = db.Entry(user);
        if (entry.State != EntityState.Detached)
            entry.Property(u => u.LastTotpStep).OriginalValue = step;
        user.LastTotpStep = step;
        return true;
    }

    static int Code(byte[] secret, long step)
    {
        Span<byte> counter = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(counter, step);
        Span<byte> hash = stackalloc byte[20];
#pragma warning disable CA5350 // RFC 6238 authenticators use HMAC-SHA1.
        HMACSHA1.HashData(secret, counter, hash);
#pragma warning restore CA5350
        var offset = hash[^1] & 0x0f;
        var binary = (BinaryPrimitives.ReadInt32BigEndian(hash[offset..]) & 0x7fffffff);
        return binary % 1_000_000;
    }

    static byte[]? Base32Decode(string text)
    {
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var input = text.Trim().TrimEnd('=').Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        var output = new byte[input.Length * 5 / 8];
        int buffer = 0, bits = 0, index = 0;
        foreach (var c in input)
        {
            var value = Alphabet.IndexOf(c, StringComparison.Ordinal);
            if (value < 0)
                return null;
            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                output[index++] = (byte)(buffer >> bits);
                buffer &= (1 << bits) - 1;
            }
        }
        return output;
    }
}
