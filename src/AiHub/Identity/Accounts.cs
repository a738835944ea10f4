using System.ComponentModel.DataAnnotations;
using System.Text;
using AiHub.Admin;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.RateLimiting;
using AiHub.Notifications;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace AiHub.Identity;

/// <summary>
/// The account flows shared by the API and the web UI: sign-up, email verification, sign-in, password reset.
/// Failures are <see cref="ProblemException"/>s whose messages are fit to show to the user.
/// </summary>
internal sealed class Accounts(
    UserManager<AppUser> users,
    SignInManager<AppUser> signIn,
    EmailCodeTokenProvider codes,
    AppDbContext db,
    Sessions sessions,
    AuditLog audit,
    Mailer mailer,
    RateCounter rates,
    PermissionLookup permissions,
    IHttpContextAccessor http,
    TimeProvider clock,
    IOptions<IdentitySettings> settings,
    IOptions<BootstrapSettings> bootstrap,
    IEnumerable<IAccountEvents> accountEvents)
{
    const string ConfirmPurpose = UserManager<AppUser>.ConfirmEmailTokenPurpose;
    static readonly EmailAddressAttribute EmailFormat = new();

    IdentitySettings Settings => settings.Value;

    string Ip => http.HttpContext.IpAddress() ?? "unknown";

    public async Task RegisterAsync(string? email, string? password, string? displayName, CancellationToken ct)
    {
        email = RequireEmail(email);
        if (displayName?.Trim() is { Length: > 100 })
            throw ProblemException.Invalid("displayName", "The display name can be at most 100 characters.");
        var candidate = new AppUser { UserName = email, Email = email, DisplayName = Clean(displayName), CreatedAt = clock.GetUtcNow() };
        // The password is judged before the address is looked up, so the answer never depends on whether it exists.
        await RequireStrongPasswordAsync(candidate, password);
        await rates.EnforceAsync($"register:ip:{Ip}", Settings.RateLimits.RegisterPerIp, Settings.RateLimits.Window, ct);
        await rates.EnforceAsync($"register:email:{Normalize(email)}", Settings.RateLimits.RegisterPerEmail, Settings.RateLimits.Window, ct);

        if (await users.FindByEmailAsync(email) is { } existing)
        {
            users.PasswordHasher.HashPassword(existing, password!);
            if (!existing.EmailConfirmed && await rates.HitAsync($"resend:email:{Normalize(email)}", 1, Settings.ResendCooldown, ct) is null)
                await SendCodeAsync(existing, ct);
            return;
        }
        var created = await CreateAsync(candidate, password, via: "password", ct);
        if (!created.Succeeded)
        {
            // Only a concurrent sign-up with the same address gets here: answer as if it went through.
            if (created.Errors.Any(e => e.Code is "DuplicateEmail" or "DuplicateUserName"))
                return;
            throw ProblemException.Invalid("email", string.Join(" ", created.Errors.Select(e => e.Description)));
        }
        await rates.HitAsync($"resend:email:{Normalize(email)}", 1, Settings.ResendCooldown, ct);
        await SendCodeAsync(candidate, ct);
    }

    /// <summary>
    /// The one way an account comes to be (sign-up, a provider, <c>create-admin</c>): the default role, what other
    /// features attach to a new account (its personal org, its sign-up grant), and the audit event, committed together.
    /// </summary>
    /// <remarks>Identity's store saves on each call, so only a transaction keeps an account from existing without them.</remarks>
    public async Task<IdentityResult> CreateAsync(AppUser user, string? password, string via, CancellationToken ct)
    {
        await using var transaction = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(ct) : null;
        var created = password is null ? await users.CreateAsync(user) : await users.CreateAsync(user, password);
        if (!created.Succeeded)
            return created;
        var role = await users.AddToRoleAsync(user, Roles.Default);
        if (!role.Succeeded)
            return role;
        foreach (var listener in accountEvents)
            await listener.UserCreatedAsync(user, ct);
        audit.Add(AuditKinds.Registered, user.Id, new { via });
        await db.SaveChangesAsync(ct);
        if (transaction is not null)
            await transaction.CommitAsync(ct);
        return IdentityResult.Success;
    }

    public async Task VerifyEmailAsync(string? email, string? code, CancellationToken ct)
    {
        email = RequireEmail(email);
        if (string.IsNullOrWhiteSpace(code) || code.Trim().Length != 6 || !code.Trim().All(char.IsAsciiDigit))
            throw ProblemException.Invalid("code", "The code is the 6 digits from the email.");
        await rates.EnforceAsync($"verify:ip:{Ip}", Settings.RateLimits.VerifyPerIp, Settings.RateLimits.Window, ct);
        await rates.EnforceAsync($"verify:email:{Normalize(email)}", Settings.RateLimits.VerifyPerEmail, Settings.RateLimits.Window, ct);
        var user = await users.FindByEmailAsync(email);
        if (user is { EmailConfirmed: true })
            throw new ProblemException(StatusCodes.Status409Conflict, "The address is already verified.", "Sign in with it.", ProblemTypes.Conflict);
        if (user is null)
            throw CodeProblem(ProblemTypes.VerificationCodeInvalid, "The code is wrong or has expired; ask for a new one.");
        var result = await users.ConfirmEmailAsync(user, code.Trim());
        if (!result.Succeeded)
        {
            var (state, left) = await codes.DescribeAsync(ConfirmPurpose, users, user);
            throw state switch
            {
                CodeState.Expired => CodeProblem(ProblemTypes.VerificationCodeExpired, "The code has expired; ask for a new one."),
                CodeState.Exhausted => CodeProblem(ProblemTypes.VerificationCodeExhausted, "Too many wrong codes; ask for a new one."),
                CodeState.Wrong => CodeProblem(ProblemTypes.VerificationCodeInvalid, $"The code is wrong; {left} attempt(s) left."),
                _ => CodeProblem(ProblemTypes.VerificationCodeInvalid, "The code is wrong or has expired; ask for a new one."),
            };
        }
        audit.Add(AuditKinds.EmailVerified, user.Id);
        await db.SaveChangesAsync(ct);
        await GrantBootstrapAdminAsync(user, ct);
        await mailer.SendWelcomeAsync(user.Email!, user.DisplayName, Settings.PublicUrl, ct);
    }

    public async Task ResendVerificationAsync(string? email, CancellationToken ct)
    {
        email = RequireEmail(email);
        // The cooldown counts the address whether or not it has an account, so a 429 reveals nothing.
        await rates.EnforceAsync($"resend:email:{Normalize(email)}", 1, Settings.ResendCooldown, ct);
        await rates.EnforceAsync($"register:ip:{Ip}", Settings.RateLimits.RegisterPerIp, Settings.RateLimits.Window, ct);
        if (await users.FindByEmailAsync(email) is { EmailConfirmed: false } user)
            await SendCodeAsync(user, ct);
    }

    /// <summary>Checks the credentials (and the second factor) and starts a session of the given kind.</summary>
    public async Task<(AppUser User, UserSession Session)> LoginAsync(string? email, string? password, string? totpCode, SessionKind kind, CancellationToken ct)
    {
        var user = await CheckPasswordAsync(email, password, ct);
        if (user.TwoFactorEnabled)
            await CheckSecondFactorAsync(user, totpCode, ct);
        return await StartSessionAsync(user, kind, "password", ct);
    }

    /// <summary>
    /// The second step of a sign-in whose first step (a password, or a provider) has passed and whose account needs
    /// an authenticator code.
    /// </summary>
    public async Task<(AppUser User, UserSession Session)> CompleteSecondFactorAsync(AppUser user, string? code, string method, SessionKind kind, CancellationToken ct)
    {
        await rates.EnforceAsync($"login:email:{user.NormalizedEmail}", Settings.RateLimits.LoginPerEmail, Settings.RateLimits.Window, ct);
        if (await users.IsLockedOutAsync(user))
            throw await LockedAsync(user, ct);
        await CheckSecondFactorAsync(user, code, ct);
        return await StartSessionAsync(user, kind, method + "+2fa", ct);
    }

    /// <summary>The first step of a password sign-in: limits, lockout, password and verified address; not the second factor.</summary>
    public async Task<AppUser> CheckPasswordAsync(string? email, string? password, CancellationToken ct)
    {
        email = RequireEmail(email);
        if (string.IsNullOrEmpty(password))
            throw ProblemException.Invalid("password", "Enter the password.");
        await rates.EnforceAsync($"login:ip:{Ip}", Settings.RateLimits.LoginPerIp, Settings.RateLimits.Window, ct);
        await rates.EnforceAsync($"login:email:{Normalize(email)}", Settings.RateLimits.LoginPerEmail, Settings.RateLimits.Window, ct);

        var user = await users.FindByEmailAsync(email);
        if (user is null)
        {
            // Hash anyway, so that an unknown address takes as long as a wrong password.
            users.PasswordHasher.HashPassword(new AppUser(), password);
            await audit.RecordAsync(AuditKinds.LoginFailed, null, new { reason = "unknown-email" }, ct);
            throw BadCredentials();
        }
        var result = await signIn.CheckPasswordSignInAsync(user, password, lockoutOnFailure: true);
        if (result.IsLockedOut)
            throw await LockedAsync(user, ct);
        if (!result.Succeeded)
        {
            audit.Add(AuditKinds.LoginFailed, user.Id, new { reason = "wrong-password" });
            if (await users.IsLockedOutAsync(user))
                throw await LockedAsync(user, ct);
            await db.SaveChangesAsync(ct);
            throw BadCredentials();
        }
        if (!user.EmailConfirmed)
            throw new ProblemException(StatusCodes.Status403Forbidden, "The email address is not verified yet.",
                "Enter the 6-digit code we emailed, or ask for a new one.", ProblemTypes.EmailNotVerified);
        return user;
    }

    public async Task<(AppUser User, UserSession Session)> StartSessionAsync(AppUser user, SessionKind kind, string method, CancellationToken ct)
    {
        await users.ResetAccessFailedCountAsync(user);
        var lifetime = kind == SessionKind.Api ? Settings.RefreshTokenLifetime : Settings.BrowserSessionLifetime;
        var session = sessions.Start(user.Id, kind, lifetime, http.HttpContext);
        audit.Add(AuditKinds.LoginSucceeded, user.Id, new { method, session = session.Id, kind = kind.ToString() });
        await db.SaveChangesAsync(ct);
        return (user, session);
    }

    public async Task ForgotPasswordAsync(string? email, CancellationToken ct)
    {
        email = RequireEmail(email);
        await rates.EnforceAsync($"forgot:ip:{Ip}", Settings.RateLimits.ForgotPerIp, Settings.RateLimits.Window, ct);
        await rates.EnforceAsync($"forgot:email:{Normalize(email)}", Settings.RateLimits.ForgotPerEmail, Settings.RateLimits.Window, ct);
        if (await users.FindByEmailAsync(email) is not { } user)
            return;
        var link = await ResetLinkAsync(user);
        audit.Add(AuditKinds.PasswordResetRequested, user.Id);
        await mailer.SendPasswordResetAsync(user.Email!, user.DisplayName, link, ct);
    }

    public async Task<Uri> ResetLinkAsync(AppUser user)
    {
        var token = await users.GeneratePasswordResetTokenAsync(user);
        // The link carries the user's id with Identity's token, so the reset form needs nothing else.
        var carried = WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes($"{user.Id:N}:{token}"));
        return new Uri(Settings.PublicUrl, "/account/reset-password?token=" + carried);
    }

    public async Task ResetPasswordAsync(string? token, string? newPassword, CancellationToken ct)
    {
        await rates.EnforceAsync($"reset:ip:{Ip}", Settings.RateLimits.ResetPerIp, Settings.RateLimits.Window, ct);
        if (ReadResetToken(token) is not var (userId, identityToken) || await users.FindByIdAsync(userId.ToString()) is not { } user)
            throw ResetLinkInvalid();
        await rates.EnforceAsync($"reset:user:{user.Id:N}", Settings.RateLimits.ResetPerEmail, Settings.RateLimits.Window, ct);
        await RequireStrongPasswordAsync(user, newPassword);
        var result = await users.ResetPasswordAsync(user, identityToken, newPassword!);
        if (!result.Succeeded)
        {
            if (result.Errors.Any(e => e.Code == nameof(IdentityErrorDescriber.InvalidToken)))
                throw ResetLinkInvalid();
            throw WeakPassword(result);
        }
        // The link proves the mailbox, and whoever held the old password must lose every session.
        user.EmailConfirmed = true;
        await users.UpdateAsync(user);
        await users.SetLockoutEndDateAsync(user, null);
        await users.ResetAccessFailedCountAsync(user);
        await sessions.RevokeAllAsync(user.Id, "password-reset", ct);
        audit.Add(AuditKinds.PasswordReset, user.Id);
        await db.SaveChangesAsync(ct);
    }

    public async Task ChangePasswordAsync(AppUser user, string? currentPassword, string? newPassword, Guid? currentSession, CancellationToken ct)
    {
        await RequireStrongPasswordAsync(user, newPassword);
        var result = await users.ChangePasswordAsync(user, currentPassword ?? "", newPassword!);
        if (!result.Succeeded)
        {
            if (result.Errors.Any(e => e.Code == nameof(IdentityErrorDescriber.PasswordMismatch)))
                throw ProblemException.Invalid("currentPassword", "The current password is not correct.");
            throw WeakPassword(result);
        }
        await sessions.RevokeAllAsync(user.Id, "password-changed", ct, except: currentSession);
        audit.Add(AuditKinds.PasswordChanged, user.Id);
        await db.SaveChangesAsync(ct);
    }

    public async Task SetDisplayNameAsync(AppUser user, string? displayName)
    {
        var name = Clean(displayName);
        if (name is { Length: > 100 })
            throw ProblemException.Invalid("displayName", "The display name can be at most 100 characters.");
        user.DisplayName = name;
        var result = await users.UpdateAsync(user);
        if (!result.Succeeded)
            throw ProblemException.Invalid("displayName", string.Join(" ", result.Errors.Select(e => e.Description)));
    }

    /// <summary>Makes the configured bootstrap address SuperAdmin while the platform has none.</summary>
    public async Task GrantBootstrapAdminAsync(AppUser user, CancellationToken ct)
    {
        if (bootstrap.Value.AdminEmail is not { Length: > 0 } adminEmail || !user.EmailConfirmed
            || !string.Equals(users.NormalizeEmail(adminEmail), user.NormalizedEmail, StringComparison.Ordinal)
            || (await users.GetUsersInRoleAsync(Roles.SuperAdmin)).Count > 0)
            return;
        await users.AddToRoleAsync(user, Roles.SuperAdmin);
        audit.Add(AuditKinds.RoleGranted, user.Id, new { role = Roles.SuperAdmin, via = "Bootstrap:AdminEmail" });
        await db.SaveChangesAsync(ct);
        await permissions.InvalidateAsync(user.Id, ct);
    }

    async Task CheckSecondFactorAsync(AppUser user, string? totpCode, CancellationToken ct)
    {
        var code = totpCode?.Replace(" ", "", StringComparison.Ordinal).Replace("-", "", StringComparison.Ordinal);
        if (string.IsNullOrEmpty(code))
            throw new ProblemException(StatusCodes.Status401Unauthorized, "A two-factor code is required.",
                "Send the 6-digit code from the authenticator app as totpCode, or a recovery code.", ProblemTypes.TwoFactorRequired);
        if (await users.VerifyTwoFactorTokenAsync(user, users.Options.Tokens.AuthenticatorTokenProvider, code))
            return;
        if ((await users.RedeemTwoFactorRecoveryCodeAsync(user, totpCode!.Trim())).Succeeded)
        {
            audit.Add(AuditKinds.RecoveryCodeUsed, user.Id, new { left = await users.CountRecoveryCodesAsync(user) });
            return;
        }
        await users.AccessFailedAsync(user);
        audit.Add(AuditKinds.LoginFailed, user.Id, new { reason = "wrong-two-factor-code" });
        await db.SaveChangesAsync(ct);
        throw new ProblemException(StatusCodes.Status401Unauthorized, "The two-factor code is not correct.",
            "Codes change every 30 seconds; check the device's clock, or use a recovery code.", ProblemTypes.InvalidTwoFactorCode);
    }

    async Task<ProblemException> LockedAsync(AppUser user, CancellationToken ct)
    {
        var until = await users.GetLockoutEndDateAsync(user) ?? clock.GetUtcNow();
        audit.Add(AuditKinds.LockedOut, user.Id, new { until });
        await db.SaveChangesAsync(ct);
        var wait = until - clock.GetUtcNow();
        return new ProblemException(StatusCodes.Status403Forbidden, "The account is locked for a while.",
            $"Too many failed sign-ins; try again in {Math.Max(1, Math.Ceiling(wait.TotalMinutes))} minute(s), or reset the password.",
            ProblemTypes.AccountLocked) { RetryAfter = wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(1) };
    }

    async Task SendCodeAsync(AppUser user, CancellationToken ct)
    {
        var code = await users.GenerateEmailConfirmationTokenAsync(user);
        await mailer.SendVerificationCodeAsync(user.Email!, user.DisplayName, code, ct);
    }

    async Task RequireStrongPasswordAsync(AppUser user, string? password)
    {
        if (string.IsNullOrEmpty(password))
            throw ProblemException.Invalid("password", $"Choose a password of at least {PasswordPolicy.MinimumLength} characters.");
        var problems = new List<IdentityError>();
        foreach (var validator in users.PasswordValidators)
            problems.AddRange((await validator.ValidateAsync(users, user, password)).Errors);
        if (problems.Count > 0)
            throw WeakPassword(IdentityResult.Failed([.. problems]));
    }

    static (Guid, string)? ReadResetToken(string? token)
    {
        if (string.IsNullOrWhiteSpace(token))
            return null;
        try
        {
            var text = Encoding.UTF8.GetString(WebEncoders.Base64UrlDecode(token.Trim()));
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            return colon > 0 && Guid.TryParse(text[..colon], out var id) ? (id, text[(colon + 1)..]) : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The trimmed address, or a 400 on the <c>email</c> field: one rule for sign-up, invitations and the command line.</summary>
    internal static string RequireEmail(string? email) =>
        IsEmail(email) ? email!.Trim() : throw ProblemException.Invalid("email", "Enter a valid email address, like name@example.com.");

    internal static bool IsEmail([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? email)
    {
        var trimmed = email?.Trim();
        return !string.IsNullOrEmpty(trimmed) && trimmed.Length <= 254 && EmailFormat.IsValid(trimmed) && !trimmed.Contains(' ', StringComparison.Ordinal);
    }

    string Normalize(string email) => users.NormalizeEmail(email);

    static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    static ProblemException WeakPassword(IdentityResult result)
    {
        var messages = result.Errors.Select(e => e.Description).ToArray();
        return new ProblemException(StatusCodes.Status400BadRequest, "The password is too weak.", string.Join(" ", messages), ProblemTypes.WeakPassword)
        {
            Errors = new Dictionary<string, string[]> { ["password"] = messages },
        };
    }

    static ProblemException BadCredentials() =>
        new(StatusCodes.Status401Unauthorized, "The email or password is not correct.", null, ProblemTypes.InvalidCredentials);

    static ProblemException CodeProblem(string type, string detail) =>
        new(StatusCodes.Status400BadRequest, "The code is not valid.", detail, type);

    static ProblemException ResetLinkInvalid() =>
        new(StatusCodes.Status400BadRequest, "The reset link is not valid.", "It is wrong, has expired or was already used; ask for a new one.", ProblemTypes.ResetTokenInvalid);
}
