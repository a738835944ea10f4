using System.Globalization;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Identity;
using QRCoder;

namespace AiHub.Identity;

/// <summary>Sign-in with an authenticator app: enrolment, confirmation and turning it off, for the API and the account pages alike.</summary>
internal sealed class TwoFactor(UserManager<AppUser> users, AuditLog audit, AppDbContext db)
{
    const int RecoveryCodeCount = 10;

    public async Task<TwoFactorStatus> StatusAsync(AppUser user) =>
        new(user.TwoFactorEnabled, user.TwoFactorEnabled ? await users.CountRecoveryCodesAsync(user) : 0);

    /// <summary>A new key and new recovery codes; nothing changes at sign-in until <see cref="ConfirmAsync"/> proves the app has the key.</summary>
    public async Task<TwoFactorSetup> StartAsync(AppUser user)
    {
        if (user.TwoFactorEnabled)
            throw new ProblemException(StatusCodes.Status409Conflict, "Two-factor sign-in is already on.",
                "Turn it off first to enrol a new authenticator.", ProblemTypes.Conflict);
        await users.ResetAuthenticatorKeyAsync(user);
        var key = (await users.GetAuthenticatorKeyAsync(user))!;
        var codes = (await users.GenerateNewTwoFactorRecoveryCodesAsync(user, RecoveryCodeCount))!.ToList();
        return new TwoFactorSetup(FormatKey(key), OtpauthUri(user.Email!, key), codes);
    }

    public async Task<TwoFactorStatus> ConfirmAsync(AppUser user, string? code, CancellationToken ct)
    {
        if (await users.GetAuthenticatorKeyAsync(user) is null)
            throw new ProblemException(StatusCodes.Status409Conflict, "There is no enrolment to confirm.", "Start the set-up first.", ProblemTypes.Conflict);
        if (!await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, Digits(code)))
            throw InvalidCode();
        await users.SetTwoFactorEnabledAsync(user, true);
        audit.Add(AuditKinds.TwoFactorEnabled, user.Id);
        await db.SaveChangesAsync(ct);
        return await StatusAsync(user);
    }

    public async Task<TwoFactorStatus> DisableAsync(AppUser user, string? code, CancellationToken ct)
    {
        if (!user.TwoFactorEnabled)
            return new TwoFactorStatus(false, 0);
        // A current code (or a recovery code) proves the person at the keyboard still holds the second factor.
        var ok = await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, Digits(code))
            || (!string.IsNullOrWhiteSpace(code) && (await users.RedeemTwoFactorRecoveryCodeAsync(user, code.Trim())).Succeeded);
        if (!ok)
            throw InvalidCode();
        await users.SetTwoFactorEnabledAsync(user, false);
        await users.ResetAuthenticatorKeyAsync(user);
        audit.Add(AuditKinds.TwoFactorDisabled, user.Id);
        await db.SaveChangesAsync(ct);
        return new TwoFactorStatus(false, 0);
    }

    /// <summary>The otpauth URI as an SVG QR code, drawn here so that the key never leaves the server for a third-party renderer.</summary>
    public static string QrCodeSvg(string otpauthUri)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(otpauthUri, QRCodeGenerator.ECCLevel.M);
        using var svg = new SvgQRCode(data);
        return svg.GetGraphic(4, "#000000", "#ffffff", drawQuietZones: true, sizingMode: SvgQRCode.SizingMode.ViewBoxAttribute);
    }

    public static string FormatKey(string key) =>
        string.Join(' ', Enumerable.Range(0, (key.Length + 3) / 4).Select(i => key.Substring(i * 4, Math.Min(4, key.Length - i * 4)))).ToLowerInvariant();

    public static string OtpauthUri(string email, string key) => string.Create(CultureInfo.InvariantCulture,
        $"otpauth://totp/{Uri.EscapeDataString("AiHub")}:{Uri.EscapeDataString(email)}?secret={key}&issuer=AiHub&digits=6&period=30");

    static string Digits(string? code) => code?.Replace(" ", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal) ?? "";

    static ProblemException InvalidCode() => new(StatusCodes.Status400BadRequest, "The code is not correct.",
        "Enter the current 6-digit code from the authenticator app.", ProblemTypes.InvalidTwoFactorCode);
}
