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

    public static string BudgetWarningSubject(int percent, string keyName) => $"API key {keyName} has spent {percent}% of its monthly budget";

    public static string BudgetWarningAdvice(int percent, DateTimeOffset resetsAt) => percent >= 100
        ? $"Calls made with it are refused until the budget resets on {Day(resetsAt)} (UTC)."
        : $"When it is spent, calls made with it are refused until the budget resets on {Day(resetsAt)} (UTC).";

    public static string BudgetWarning(string? displayName, string keyName, string orgName, int percent, string budget, DateTimeOffset resetsAt, Uri keysLink) => Compose(
        Greeting(displayName),
        $"The API key {keyName} of {orgName} has spent {percent}% of its monthly budget of {budget} credits in {ProductName}.",
        BudgetWarningAdvice(percent, resetsAt),
        $"See the API keys: {keysLink.AbsoluteUri}");

    static string Day(DateTimeOffset at) => at.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
}
