using System.Globalization;
using System.Text;

namespace AiHub.Notifications.Templates;

/// <summary>Subjects, shared wording and the plain-text alternative of each template, which carries the same information as its HTML.</summary>
internal static partial class EmailText
{
    public const string ProductName = "AiHub";
    public const string VerificationCodeSubject = "Your AiHub verification code";
    public const string PasswordResetSubject = "Reset your AiHub password";
    public const string WelcomeSubject = "Welcome to AiHub";
    public static string InvitationSubject(string orgName) => $"You are invited to {orgName} on AiHub";
    public const string NotYou = "If you did not ask for this, you can ignore this email.";
    public const string Footer = "You receive this email because of an action on your AiHub account.";

    public static readonly TimeSpan VerificationCodeLifetime = TimeSpan.FromMinutes(15);
    public static readonly TimeSpan PasswordResetLifetime = TimeSpan.FromHours(1);

    public static string Greeting(string? displayName) =>
        string.IsNullOrWhiteSpace(displayName) ? "Hello," : $"Hello {displayName.Trim()},";

    public static string Describe(TimeSpan duration) => duration switch
    {
        { TotalDays: >= 1 } when duration.TotalDays % 1 == 0 => Plural((int)duration.TotalDays, "day"),
        { TotalHours: >= 1 } when duration.TotalHours % 1 == 0 => Plural((int)duration.TotalHours, "hour"),
        _ => Plural((int)Math.Ceiling(duration.TotalMinutes), "minute"),
    };

    public static string VerificationCode(string? displayName, string code) => Compose(
        Greeting(displayName),
        "Enter this code to verify your email address:",
        code,
        $"The code expires in {Describe(VerificationCodeLifetime)}.",
        NotYou);

    public static string PasswordReset(string? displayName, Uri resetLink) => Compose(
        Greeting(displayName),
        $"Someone asked to reset the password of your {ProductName} account. To choose a new one, open this address:",
        resetLink.AbsoluteUri,
        $"The link works once and expires in {Describe(PasswordResetLifetime)}.",
        PasswordResetRevokes,
        NotYou + " Your password stays as it is.");

    public const string PasswordResetRevokes = "Choosing a new password signs out every device and revokes every API key you made.";

    public static string Welcome(string? displayName, Uri appLink) => Compose(
        Greeting(displayName),
        $"Welcome to {ProductName}. Your account is ready: chat with your models, build knowledge bases from your documents and get answers that cite their sources.",
        $"Open {ProductName}: {appLink.AbsoluteUri}");

    public static string Invitation(string inviter, string orgName, string role, Uri link, TimeSpan expiresIn) => Compose(
        "Hello,",
        $"{inviter} invited you to join {orgName} on {ProductName} as {role}. To accept or decline, open this address (you can create an account there):",
        link.AbsoluteUri,
        $"The invitation expires in {Describe(expiresIn)}.",
        NotYou);

    /// <summary>The plain-text body every mail shares: paragraphs, then the footer.</summary>
    internal static string Compose(params string[] paragraphs)
    {
        var text = new StringBuilder();
        foreach (var paragraph in paragraphs)
            text.Append(paragraph).Append("\n\n");
        return text.Append("-- \n").Append(Footer).Append('\n').ToString();
    }

    static string Plural(int count, string unit) =>
        count.ToString(CultureInfo.InvariantCulture) + " " + unit + (count == 1 ? "" : "s");
}
