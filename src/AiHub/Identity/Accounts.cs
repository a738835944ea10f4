using System.ComponentModel.DataAnnotations;
using System.Text;
using AiHub.Infrastructure.Audit;
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
    AppDbContext db,
    Sessions sessions,
    AuditLog audit,
    Mailer mailer,
    RateCounter rates,
    PermissionLookup permissions,
    IHttpContextAccessor http,
    TimeProvider clock,
    IOptions<IdentitySettings> settings,
    IOptions<PublicUrlSettings> publicUrl,
    IOptions<BootstrapSettings> bootstrap,
    IEnumerable<IAccountEvents> accountEvents,
    IEnumerable<IUserCredentials> credentials)
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
        var started = clock.GetTimestamp();
        try
        {
            // Counted for every address, so that a resend right after answers the same whatever the address is.
            var mayMail = await rates.HitAsync($"resend:email:{Normalize(email)}", 1, Settings.ResendCooldown, ct) is null;
            if (await users.FindByEmailAsync(email) is { } existing)
            {
                await RegisterAgainAsync(existing, password!, candidate.DisplayName, mayMail, ct);
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
            await SendCodeAsync(candidate, ct);
        }
        finally
        {
            await PadAsync(started, ct);
        }
    }

    /// <summary>
    /// A second sign-up for an address nobody has proved: the password set last wins and the mailbox decides by verifying,
    /// so that whoever typed the address first holds nothing over its owner. A verified account is left as it is.
    /// </summary>
    async Task RegisterAgainAsync(AppUser existing, string password, string? displayName, bool mayMail, CancellationToken ct)
    {
        var hash = users.PasswordHasher.HashPassword(existing, password);
        if (existing.EmailConfirmed)
            return;
        existing.PasswordHash = hash;
        existing.DisplayName = displayName;
        if (!(await users.UpdateSecurityStampAsync(existing)).Succeeded)
            return;
        // Codes mailed before this sign-up stop working; the next one is mailed when the cooldown allows.
        await EmailCodeTokenProvider.ForgetAsync(ConfirmPurpose, users, existing);
        audit.Add(AuditKinds.Registered, existing.Id, new { via = "password", again = true });
        await db.SaveChangesAsync(ct);
        if (mayMail)
            await SendCodeAsync(existing, ct);
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

    /// <remarks>Every failure gets one answer, so that the endpoint tells nobody whether an address has an account or is verified.</remarks>
    public async Task VerifyEmailAsync(string? email, string? code, CancellationToken ct)
    {
        email = RequireEmail(email);
        if (string.IsNullOrWhiteSpace(code) || code.Trim().Length != 6 || !code.Trim().All(char.IsAsciiDigit))
            throw ProblemException.Invalid("code", "The code is the 6 digits from the email.");
        await rates.EnforceAsync($"verify:ip:{Ip}", Settings.RateLimits.VerifyPerIp, Settings.RateLimits.Window, ct);
        await rates.EnforceAsync($"verify:email:{Normalize(email)}", Settings.RateLimits.VerifyPerEmail, Settings.RateLimits.Window, ct);
        var started = clock.GetTimestamp();
        var user = await users.FindByEmailAsync(email);
        if (user is null || !(await users.ConfirmEmailAsync(user, code.Trim())).Succeeded)
        {
            await PadAsync(started, ct);
            throw CodeProblem(ProblemTypes.VerificationCodeInvalid, "The code is wrong or has expired; ask for a new one.");
        }
        audit.Add(AuditKinds.EmailVerified, user.Id);
        await db.SaveChangesAsync(ct);
        await GrantBootstrapAdminAsync(user, ct);
        await mailer.SendWelcomeAsync(user.Email!, user.DisplayName, publicUrl.Value.PublicUrl, ct);
    }

    public async Task ResendVerificationAsync(string? email, CancellationToken ct)
    {
        email = RequireEmail(email);
        // The cooldown counts the address whether or not it has an account, so a 429 reveals nothing.
        await rates.EnforceAsync($"resend:email:{Normalize(email)}", 1, Settings.ResendCooldown, ct);
        await rates.EnforceAsync($"register:ip:{Ip}", Settings.RateLimits.RegisterPerIp, Settings.RateLimits.Window, ct);
        var started = clock.GetTimestamp();
        if (await users.FindByEmailAsync(email) is { EmailConfirmed: false } user)
            await SendCodeAsync(user, ct);
        await PadAsync(started, ct);
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
        if (await LockedForAsync(user.NormalizedEmail!, ct) is { } wait)
            throw await LockedAsync(user.Id, wait, ct);
        if (await users.IsLockedOutAsync(user))
            throw await LockedAsync(user.Id, await UntilUnlockedAsync(user), ct);
        await CheckSecondFactorAsync(user, code, ct);
        return await StartSessionAsync(user, kind, method + "+2fa", ct);
    }

    /// <summary>The first step of a password sign-in: limits, lockout, password and verified address; not the second factor.</summary>
    /// <remarks>
    /// Failures are counted per address and client IP (see ADR 0011), outside the user's row: a stranger's guesses do not lock
    /// the owner out of their own device, and parallel guesses do not race on one row. Unknown addresses are counted alike,
    /// so that the lockout answer tells nobody whether an address has an account.
    /// </remarks>
    public async Task<AppUser> CheckPasswordAsync(string? email, string? password, CancellationToken ct)
    {
        email = RequireEmail(email);
        if (string.IsNullOrEmpty(password))
            throw ProblemException.Invalid("password", "Enter the password.");
        await rates.EnforceAsync($"login:ip:{Ip}", Settings.RateLimits.LoginPerIp, Settings.RateLimits.Window, ct);
        await rates.EnforceAsync($"login:email:{Normalize(email)}", Settings.RateLimits.LoginPerEmail, Settings.RateLimits.Window, ct);
        var normalized = Normalize(email);
        var started = clock.GetTimestamp();

        var user = await users.FindByEmailAsync(email);
        if (await LockedForAsync(normalized, ct) is { } wait)
        {
            await PadAsync(started, ct);
            throw await LockedAsync(user?.Id, wait, ct);
        }
        if (user is null)
        {
            // Hash anyway, so that an unknown address takes as long as a wrong password.
            users.PasswordHasher.HashPassword(new AppUser(), password);
            throw await FailedAsync(normalized, null, "unknown-email", started, ct);
        }
        if (await users.IsLockedOutAsync(user))
        {
            await PadAsync(started, ct);
            throw await LockedAsync(user.Id, await UntilUnlockedAsync(user), ct);
        }
        if (!await users.CheckPasswordAsync(user, password))
            throw await FailedAsync(normalized, user.Id, "wrong-password", started, ct);
        if (!user.EmailConfirmed)
            throw new ProblemException(StatusCodes.Status403Forbidden, "The email address is not verified yet.",
                "Enter the 6-digit code we emailed, or ask for a new one.", ProblemTypes.EmailNotVerified);
        return user;
    }

    public async Task<(AppUser User, UserSession Session)> StartSessionAsync(AppUser user, SessionKind kind, string method, CancellationToken ct)
    {
        await users.ResetAccessFailedCountAsync(user);
        await rates.ForgetAsync(PairKey(user.NormalizedEmail!), ct);
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
        var started = clock.GetTimestamp();
        if (await users.FindByEmailAsync(email) is { } user)
        {
            var link = await ResetLinkAsync(user);
            audit.Add(AuditKinds.PasswordResetRequested, user.Id);
            await mailer.SendPasswordResetAsync(user.Email!, user.DisplayName, link, ct);
        }
        await PadAsync(started, ct);
    }

    public async Task<Uri> ResetLinkAsync(AppUser user)
    {
        var token = await users.GeneratePasswordResetTokenAsync(user);
        // The link carries the user's id with Identity's token, so the reset form needs nothing else.
        var carried = WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes($"{user.Id:N}:{token}"));
        return new Uri(publicUrl.Value.PublicUrl, "/account/reset-password?token=" + carried);
    }

    /// <param name="turnOffTwoFactor">The link proves the mailbox, which is enough to turn off an authenticator its owner lost (or a stranger set).</param>
    public async Task ResetPasswordAsync(string? token, string? newPassword, bool turnOffTwoFactor, CancellationToken ct)
    {
        await rates.EnforceAsync($"reset:ip:{Ip}", Settings.RateLimits.ResetPerIp, Settings.RateLimits.Window, ct);
        if (ReadResetToken(token) is not var (userId, identityToken) || await users.FindByIdAsync(userId.ToString()) is not { } user)
            throw ResetLinkInvalid();
        await rates.EnforceAsync($"reset:user:{user.Id:N}", Settings.RateLimits.ResetPerEmail, Settings.RateLimits.Window, ct);
        await RequireStrongPasswordAsync(user, newPassword);
        if (!await users.VerifyUserTokenAsync(user, users.Options.Tokens.PasswordResetTokenProvider, UserManager<AppUser>.ResetPasswordTokenPurpose, identityToken))
            throw ResetLinkInvalid();
        await RequireNewPasswordAsync(user, newPassword!, "newPassword");
        var result = await users.ResetPasswordAsync(user, identityToken, newPassword!);
        if (!result.Succeeded)
        {
            if (result.Errors.Any(e => e.Code == nameof(IdentityErrorDescriber.InvalidToken)))
                throw ResetLinkInvalid();
            throw WeakPassword(result);
        }
        // The link proves the mailbox, and whoever held the old password must lose every session and every key made with it.
        user.EmailConfirmed = true;
        await users.UpdateAsync(user);
        await users.SetLockoutEndDateAsync(user, null);
        await users.ResetAccessFailedCountAsync(user);
        await rates.ForgetAsync(AccountKey(user.NormalizedEmail!), ct);
        await sessions.RevokeAllAsync(user.Id, "password-reset", ct);
        var keys = await RevokeCredentialsAsync(user.Id, "password-reset", ct);
        audit.Add(AuditKinds.PasswordReset, user.Id, new { apiKeysRevoked = keys });
        if (turnOffTwoFactor && user.TwoFactorEnabled)
        {
            await DropSecondFactorAsync(user);
            audit.Add(AuditKinds.TwoFactorDisabled, user.Id, new { via = "password-reset" });
        }
        await db.SaveChangesAsync(ct);
    }

    public async Task ChangePasswordAsync(AppUser user, string? currentPassword, string? newPassword, Guid? currentSession, CancellationToken ct)
    {
        await RequireStrongPasswordAsync(user, newPassword);
        // Only once the current password is proved, so that the answer is no oracle for someone holding just a session.
        if (currentPassword is not null && string.Equals(currentPassword, newPassword, StringComparison.Ordinal) && await users.CheckPasswordAsync(user, currentPassword))
            throw SamePassword("newPassword");
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

    /// <summary>
    /// A provider has proved the mailbox of an account that nobody had verified. What the account got before that proof
    /// (a password, a second factor, sessions, API keys, other providers) came from whoever typed the address, so it goes.
    /// </summary>
    public async Task ReclaimUnverifiedAsync(AppUser user, string provider, CancellationToken ct)
    {
        await using var transaction = db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(ct) : null;
        var dropped = new
        {
            provider,
            password = user.PasswordHash is not null,
            twoFactor = user.TwoFactorEnabled,
            logins = (await users.GetLoginsAsync(user)).Select(l => l.LoginProvider).ToList(),
        };
        foreach (var login in await users.GetLoginsAsync(user))
            await users.RemoveLoginAsync(user, login.LoginProvider, login.ProviderKey);
        await DropSecondFactorAsync(user);
        await EmailCodeTokenProvider.ForgetAsync(ConfirmPurpose, users, user);
        user.PasswordHash = null;
        user.EmailConfirmed = true;
        await users.UpdateSecurityStampAsync(user);
        var revokedSessions = await sessions.RevokeAllAsync(user.Id, "account-reclaimed", ct);
        var revokedKeys = await RevokeCredentialsAsync(user.Id, "account-reclaimed", ct);
        audit.Add(AuditKinds.AccountReclaimed, user.Id, new { dropped.provider, dropped.password, dropped.twoFactor, dropped.logins, sessions = revokedSessions, apiKeys = revokedKeys });
        await db.SaveChangesAsync(ct);
        if (transaction is not null)
            await transaction.CommitAsync(ct);
    }

    /// <summary>The authenticator key, the recovery codes and the switch itself; the caller saves.</summary>
    async Task DropSecondFactorAsync(AppUser user)
    {
        await users.RemoveAuthenticationTokenAsync(user, ProtectedUserStore.InternalLoginProvider, ProtectedUserStore.AuthenticatorKeyName);
        await users.RemoveAuthenticationTokenAsync(user, ProtectedUserStore.InternalLoginProvider, ProtectedUserStore.RecoveryCodesName);
        user.TwoFactorEnabled = false;
        user.LastTotpStep = null;
        await users.UpdateAsync(user);
    }

    async Task<int> RevokeCredentialsAsync(Guid userId, string reason, CancellationToken ct)
    {
        var count = 0;
        foreach (var holder in credentials)
            count += await holder.RevokeForUserAsync(userId, reason, ct);
        return count;
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
        var failure = await FailedAsync(user.NormalizedEmail!, user.Id, "wrong-two-factor-code", clock.GetTimestamp(), ct);
        if (failure.Type == ProblemTypes.AccountLocked)
            throw failure;
        throw new ProblemException(StatusCodes.Status401Unauthorized, "The two-factor code is not correct.",
            "Codes change every 30 seconds; check the device's clock, or use a recovery code.", ProblemTypes.InvalidTwoFactorCode);
    }

    string PairKey(string normalizedEmail) => $"login-failed:{normalizedEmail}:{Ip}";

    static string AccountKey(string normalizedEmail) => $"login-failed:{normalizedEmail}";

    /// <summary>How long sign-ins to the address stay refused from this IP, or from everywhere; null while they are not.</summary>
    async Task<TimeSpan?> LockedForAsync(string normalizedEmail, CancellationToken ct) =>
        await rates.PeekAsync(PairKey(normalizedEmail), Settings.MaxFailedLogins - 1, ct)
        ?? await rates.PeekAsync(AccountKey(normalizedEmail), Settings.MaxFailedLoginsPerAccount - 1, ct);

    /// <summary>Counts a failed sign-in; the answer is the lockout once this one reaches a limit, otherwise bad credentials.</summary>
    async Task<ProblemException> FailedAsync(string normalizedEmail, Guid? userId, string reason, long started, CancellationToken ct)
    {
        var pair = await rates.HitAsync(PairKey(normalizedEmail), Settings.MaxFailedLogins - 1, Settings.LockoutDuration, ct);
        var account = await rates.HitAsync(AccountKey(normalizedEmail), Settings.MaxFailedLoginsPerAccount - 1, Settings.AccountLockoutWindow, ct);
        await PadAsync(started, ct);
        if ((pair ?? account) is { } wait)
            return await LockedAsync(userId, wait, ct);
        await audit.RecordAsync(AuditKinds.LoginFailed, userId, new { reason }, ct);
        return BadCredentials();
    }

    async Task<TimeSpan> UntilUnlockedAsync(AppUser user) => (await users.GetLockoutEndDateAsync(user) ?? clock.GetUtcNow()) - clock.GetUtcNow();

    async Task<ProblemException> LockedAsync(Guid? userId, TimeSpan wait, CancellationToken ct)
    {
        await audit.RecordAsync(AuditKinds.LockedOut, userId, new { until = clock.GetUtcNow() + wait }, ct);
        return new ProblemException(StatusCodes.Status403Forbidden, "Sign-in is locked for a while.",
            $"Too many failed sign-ins; try again in {Math.Max(1, Math.Ceiling(wait.TotalMinutes))} minute(s), or reset the password.",
            ProblemTypes.AccountLocked) { RetryAfter = wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(1) };
    }

    /// <summary>Answers that must not tell one address from another take at least the same time, whatever work was done.</summary>
    async Task PadAsync(long started, CancellationToken ct)
    {
        var left = Settings.MinimumAnswerTime - clock.GetElapsedTime(started);
        if (left > TimeSpan.Zero)
            await Task.Delay(left, clock, ct);
    }

    async Task RequireNewPasswordAsync(AppUser user, string password, string field)
    {
        if (user.PasswordHash is not null && await users.CheckPasswordAsync(user, password))
            throw SamePassword(field);
    }

    static ProblemException SamePassword(string field) => ProblemException.Invalid(field, "Choose a password different from the current one.");

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
