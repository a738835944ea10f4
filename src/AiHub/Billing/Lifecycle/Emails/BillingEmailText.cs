using System.Globalization;
using AiHub.Notifications.Templates;

namespace AiHub.Billing.Lifecycle.Emails;

/// <summary>What a billing notice says: one subject, paragraphs and action per kind, shared by the HTML and the plain text.</summary>
internal sealed record BillingNoticeText(string Subject, IReadOnlyList<string> Lines, string Action);

/// <summary>Subjects and bodies of the billing mails; each plain-text body carries what its HTML says.</summary>
internal static class BillingEmailText
{
    public const string WhyBilling = "You receive this email because it is the billing address of the organisation, or you are one of its Owners.";

    public const string WhyAlert = "You receive this email because it is the deployment's Billing:AlertEmail.";

    public static string Date(DateTimeOffset at) => at.UtcDateTime.ToString("d MMMM yyyy, HH:mm 'UTC'", CultureInfo.InvariantCulture);

    /// <param name="at">The grace period's end for a failed payment and its reminder; when it ended for the others.</param>
    /// <param name="reason">Why an ended subscription ended (<c>refunded</c>, <c>disputed</c>), when it was not cancelled.</param>
    public static BillingNoticeText Notice(BillingNoticeKind kind, string orgName, string planName, DateTimeOffset at, string? reason) => kind switch
    {
        BillingNoticeKind.PaymentFailed => new(
            $"Payment failed: update your card for {orgName} by {Date(at)}",
            [
                $"The payment for the {planName} plan of {orgName} on {EmailText.ProductName} did not go through.",
                $"Update your card by {Date(at)} to keep the plan. After that date {orgName} moves to the FREE plan; its data is kept.",
            ],
            "Update your card"),
        BillingNoticeKind.GraceReminder => new(
            $"Reminder: {orgName} moves to FREE on {Date(at)} unless its card is updated",
            [
                $"The payment for the {planName} plan of {orgName} is still missing.",
                $"Update your card by {Date(at)} to keep the plan. After that date {orgName} moves to the FREE plan; its data is kept.",
            ],
            "Update your card"),
        BillingNoticeKind.Downgraded => new(
            $"{orgName} is now on the FREE plan",
            [
                $"The payment for the {planName} plan of {orgName} was not made within the grace period, so the subscription ended on {Date(at)} and {orgName} moved to the FREE plan.",
                "Its data is kept. Choose a plan again whenever you like.",
            ],
            "Choose a plan"),
        BillingNoticeKind.Ended => new(
            $"The {planName} subscription of {orgName} has ended",
            [
                reason switch
                {
                    "refunded" => $"The {planName} subscription of {orgName} ended on {Date(at)} because its payment was refunded.",
                    "disputed" => $"The {planName} subscription of {orgName} ended on {Date(at)} because its payment is disputed with the card's bank.",
                    _ => $"The {planName} subscription of {orgName} was cancelled and ended on {Date(at)}.",
                },
                $"{orgName} is on the FREE plan now; its data is kept. Choose a plan again whenever you like.",
            ],
            "Choose a plan"),
        BillingNoticeKind.Recovered => new(
            $"Payment received: {orgName} keeps the {planName} plan",
            [
                $"Thank you: the payment for the {planName} plan of {orgName} came through, and the plan continues as before.",
            ],
            "See billing"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static string Text(string? displayName, BillingNoticeText notice, Uri link) => EmailText.Compose(
        [EmailText.Greeting(displayName), .. notice.Lines, $"{notice.Action}: {link.AbsoluteUri}", WhyBilling]);

    public static string ReconciliationSubject(string gateway, int repaired, int differences) =>
        differences > 0
            ? $"Billing reconciliation ({gateway}): {differences} difference(s) need a look"
            : $"Billing reconciliation ({gateway}): {repaired} missed payment(s) recorded";

    public static string ReconciliationSummary(string gateway, DateTimeOffset from, DateTimeOffset to, int checkedCount, int repaired, int differences) =>
        $"The nightly comparison of {gateway}'s payments from {Date(from)} to {Date(to)} checked {checkedCount} payment(s): " +
        $"{repaired} that AiHub had missed are now recorded, and {differences} difference(s) need a person.";

    public static string Reconciliation(string summary, IReadOnlyList<string> lines) => EmailText.Compose(
        ["Hello,", summary, .. lines, WhyAlert]);
}
