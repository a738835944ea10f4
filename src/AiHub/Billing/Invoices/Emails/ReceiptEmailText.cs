using AiHub.Notifications.Templates;

namespace AiHub.Billing.Invoices.Emails;

/// <summary>Subject and plain-text body of the receipt mail; the text carries what its HTML says.</summary>
internal static class ReceiptEmailText
{
    public const string Why = "You receive this email because you manage billing for the organisation.";

    public static string Subject(bool creditNote, string number, string orgName) =>
        creditNote ? $"Credit note {number} for {orgName}" : $"Your receipt {number} for {orgName}";

    public static string Line(bool creditNote, string number, string total, string orgName) => creditNote
        ? $"A refund of {Positive(total)} was issued to {orgName} (credit note {number})."
        : $"Thank you: we received {total} from {orgName} (invoice {number}).";

    public static string Attached(bool creditNote, string number) =>
        $"The {(creditNote ? "credit note" : "invoice")} {number} is attached as a PDF.";

    public static string Text(bool creditNote, string number, string total, string orgName, Uri link) => EmailText.Compose(
        "Hello,",
        Line(creditNote, number, total, orgName),
        Attached(creditNote, number),
        $"See your invoices: {link.AbsoluteUri}",
        Why);

    static string Positive(string total) => total.Replace(" -", " ", StringComparison.Ordinal);
}
