using AiHub.Notifications.Templates;

namespace AiHub.Credits.Pools.Emails;

/// <summary>Subjects and plain-text bodies of the credit request mails; each text carries what its HTML says.</summary>
internal static class PoolEmailText
{
    public const string WhyManagers = "You receive this email because you are an Owner or Admin of the organisation.";

    public static string RequestSubject(string orgName) => $"A credit request in {orgName}";

    public static string DecisionSubject(bool approved, string orgName) =>
        approved ? $"Your credit request in {orgName} is approved" : $"Your credit request in {orgName} is denied";

    public static string DecisionLine(bool approved, string orgName, string asked, string? granted) => approved
        ? granted is null || granted == asked
            ? $"Your request for {asked} credits in {orgName} is approved: your allowance grew by {asked} credits."
            : $"Your request for {asked} credits in {orgName} is approved for {granted} credits: your allowance grew by {granted} credits."
        : $"Your request for {asked} credits in {orgName} is denied.";

    public static string Request(string requester, string orgName, string credits, string reason, Uri link) => EmailText.Compose(
        "Hello,",
        $"{requester} asks for {credits} credits of allowance in {orgName} on {EmailText.ProductName}.",
        $"Their reason: \"{reason}\"",
        "To approve or deny, open this address:",
        link.AbsoluteUri,
        WhyManagers);

    public static string Decision(string? displayName, string orgName, bool approved, string asked, string? granted, string? reason, Uri link) => EmailText.Compose(
        [
            EmailText.Greeting(displayName),
            DecisionLine(approved, orgName, asked, granted),
            .. string.IsNullOrWhiteSpace(reason) ? Array.Empty<string>() : [$"{(approved ? "Note" : "Reason")}: \"{reason}\""],
            $"See your allowance: {link.AbsoluteUri}",
        ]);
}
