using System.Runtime.CompilerServices;
using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Jobs;
using AiHub.Notifications.Templates;
using Microsoft.AspNetCore.DataProtection;

namespace AiHub.Notifications;

/// <summary>
/// Renders the mails AiHub sends and queues them as durable work, so that an SMTP outage delays a mail but never loses it.
/// Each call saves the scope's DbContext (the work item is written before it is queued).
/// </summary>
internal sealed class Mailer(EmailRenderer renderer, WorkQueue queue, IDataProtectionProvider protection, AppDbContext db)
{
    public Task SendVerificationCodeAsync(string to, string? displayName, string code, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(code);
        return SendAsync<VerificationCodeEmail>(
            to,
            EmailText.VerificationCodeSubject,
            new() { [nameof(VerificationCodeEmail.DisplayName)] = displayName, [nameof(VerificationCodeEmail.Code)] = code },
            EmailText.VerificationCode(displayName, code),
            ct);
    }

    public Task SendPasswordResetAsync(string to, string? displayName, Uri resetLink, CancellationToken ct)
    {
        RequireAbsolute(resetLink);
        return SendAsync<PasswordResetEmail>(
            to,
            EmailText.PasswordResetSubject,
            new() { [nameof(PasswordResetEmail.DisplayName)] = displayName, [nameof(PasswordResetEmail.ResetLink)] = resetLink },
            EmailText.PasswordReset(displayName, resetLink),
            ct);
    }

    public Task SendWelcomeAsync(string to, string? displayName, Uri appLink, CancellationToken ct)
    {
        RequireAbsolute(appLink);
        return SendAsync<WelcomeEmail>(
            to,
            EmailText.WelcomeSubject,
            new() { [nameof(WelcomeEmail.DisplayName)] = displayName, [nameof(WelcomeEmail.AppLink)] = appLink },
            EmailText.Welcome(displayName, appLink),
            ct);
    }

    public Task SendInvitationAsync(string to, string inviter, string orgName, string role, Uri link, TimeSpan expiresIn, CancellationToken ct)
    {
        RequireAbsolute(link);
        return SendAsync<InvitationEmail>(
            to,
            EmailText.InvitationSubject(orgName),
            new()
            {
                [nameof(InvitationEmail.Inviter)] = inviter,
                [nameof(InvitationEmail.OrgName)] = orgName,
                [nameof(InvitationEmail.Role)] = role,
                [nameof(InvitationEmail.Link)] = link,
                [nameof(InvitationEmail.ExpiresIn)] = expiresIn,
            },
            EmailText.Invitation(inviter, orgName, role, link, expiresIn),
            ct);
    }

    /// <param name="orgName">Null for a personal organisation, whose plan is the user's own.</param>
    public Task SendQuotaWarningAsync(string to, string? displayName, string? orgName, int percent, string allowance, Uri plansLink, CancellationToken ct)
    {
        RequireAbsolute(plansLink);
        return SendAsync<QuotaWarningEmail>(
            to,
            EmailText.QuotaWarningSubject(percent, allowance),
            new()
            {
                [nameof(QuotaWarningEmail.DisplayName)] = displayName,
                [nameof(QuotaWarningEmail.OrgName)] = orgName,
                [nameof(QuotaWarningEmail.Percent)] = percent,
                [nameof(QuotaWarningEmail.Allowance)] = allowance,
                [nameof(QuotaWarningEmail.PlansLink)] = plansLink,
            },
            EmailText.QuotaWarning(displayName, orgName, percent, allowance, plansLink),
            ct);
    }

    public Task SendBudgetWarningAsync(string to, string? displayName, string keyName, string orgName, int percent, string budget, DateTimeOffset resetsAt, Uri keysLink, CancellationToken ct)
    {
        RequireAbsolute(keysLink);
        return SendAsync<BudgetWarningEmail>(
            to,
            EmailText.BudgetWarningSubject(percent, keyName),
            new()
            {
                [nameof(BudgetWarningEmail.DisplayName)] = displayName,
                [nameof(BudgetWarningEmail.KeyName)] = keyName,
                [nameof(BudgetWarningEmail.OrgName)] = orgName,
                [nameof(BudgetWarningEmail.Percent)] = percent,
                [nameof(BudgetWarningEmail.Budget)] = budget,
                [nameof(BudgetWarningEmail.ResetsAt)] = resetsAt,
                [nameof(BudgetWarningEmail.KeysLink)] = keysLink,
            },
            EmailText.BudgetWarning(displayName, keyName, orgName, percent, budget, resetsAt, keysLink),
            ct);
    }

    /// <summary>Renders <typeparamref name="TTemplate"/> and queues the mail; the feature that owns a template adds its own Send method.</summary>
    public async Task SendAsync<TTemplate>(string to, string subject, Dictionary<string, object?> parameters, string text, CancellationToken ct,
        IReadOnlyList<EmailAttachment>? attachments = null)
        where TTemplate : Microsoft.AspNetCore.Components.IComponent
    {
        await AddAsync<TTemplate>(to, subject, parameters, text, attachments);
        await db.SaveChangesAsync(ct);
        queue.DispatchAdded();
    }

    /// <summary>
    /// Renders the mail and adds it to the caller's unit of work, so it is sent exactly when the state that needs it
    /// commits; the caller saves, then calls <see cref="WorkQueue.DispatchAdded"/>.
    /// </summary>
    public async Task AddAsync<TTemplate>(string to, string subject, Dictionary<string, object?> parameters, string text, IReadOnlyList<EmailAttachment>? attachments = null)
        where TTemplate : Microsoft.AspNetCore.Components.IComponent
    {
        // A bad address is the caller's mistake; better to fail here than as a work item that can never succeed.
        if (!EmailAddress.TryParse(to, out var mailbox))
            throw new ArgumentException("Not an email address.", nameof(to));
        var html = await renderer.RenderAsync<TTemplate>(parameters);
        var message = new EmailMessage(mailbox.Address, subject, html, text, attachments is { Count: > 0 } ? attachments : null);
        queue.Add(EmailSendHandler.KindName, ProtectedEmail.Protect(protection, message));
    }

    public static void RequireAbsolute(Uri link, [CallerArgumentExpression(nameof(link))] string? name = null)
    {
        ArgumentNullException.ThrowIfNull(link, name);
        if (!link.IsAbsoluteUri || (link.Scheme != Uri.UriSchemeHttps && link.Scheme != Uri.UriSchemeHttp))
            throw new ArgumentException("A link in an email must be an absolute http(s) URL.", name);
    }
}

/// <summary>The work item's payload: the whole rendered message, encrypted with Data Protection.</summary>
internal sealed record ProtectedEmail(string Message)
{
    // The work item outlives the request: codes and links must not sit readable in the database meanwhile.
    public static ProtectedEmail Protect(IDataProtectionProvider protection, EmailMessage message) =>
        new(Protector(protection).Protect(JsonSerializer.Serialize(message, JsonSerializerOptions.Web)));

    /// <exception cref="System.Security.Cryptography.CryptographicException">Protected with a key this node does not have.</exception>
    public EmailMessage Unprotect(IDataProtectionProvider protection) =>
        JsonSerializer.Deserialize<EmailMessage>(Protector(protection).Unprotect(Message), JsonSerializerOptions.Web)
        ?? throw new JsonException("The protected email is empty.");

    static IDataProtector Protector(IDataProtectionProvider protection) => protection.CreateProtector("AiHub.Notifications.Email");
}
