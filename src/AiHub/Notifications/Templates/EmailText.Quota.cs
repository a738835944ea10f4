namespace AiHub.Notifications.Templates;

internal static partial class EmailText
{
    public static string QuotaWarningSubject(int percent, string allowance) => $"You have used {percent}% of your {allowance}";

    /// <summary>Whose allowance it is: the reader's own, or an organisation's they run.</summary>
    public static string QuotaWarningWhose(string? orgName) => orgName is null ? "your plan" : $"the plan of {orgName}";

    public static string QuotaWarningAdvice(int percent) => percent >= 100
        ? "Further questions are refused until the allowance resets or the plan changes."
        : "When the allowance is used up, further questions are refused until it resets or the plan changes.";

    public static string QuotaWarning(string? displayName, string? orgName, int percent, string allowance, Uri plansLink) => Compose(
        Greeting(displayName),
        $"You have used {percent}% of your {allowance} on {QuotaWarningWhose(orgName)} in {ProductName}.",
        QuotaWarningAdvice(percent),
        $"See the plans and what is left: {plansLink.AbsoluteUri}");
}
