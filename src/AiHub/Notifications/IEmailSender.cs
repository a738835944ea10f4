using System.Diagnostics.CodeAnalysis;
using MimeKit;

namespace AiHub.Notifications;

/// <summary>A file sent with a mail (an invoice's PDF).</summary>
internal sealed record EmailAttachment(string FileName, string ContentType, byte[] Content);

/// <summary>One rendered mail: the HTML and a plain-text alternative with the same information, and any files attached.</summary>
internal sealed record EmailMessage(string To, string Subject, string Html, string Text, IReadOnlyList<EmailAttachment>? Attachments = null)
{
    public MimeMessage ToMimeMessage(MailboxAddress from)
    {
        var message = new MimeMessage();
        message.From.Add(from);
        message.To.Add(MailboxAddress.Parse(To));
        message.Subject = Subject;
        var body = new BodyBuilder { TextBody = Text, HtmlBody = Html };
        // Without attachments the body stays multipart/alternative, as every mail before them.
        foreach (var file in Attachments ?? [])
            body.Attachments.Add(file.FileName, file.Content, ContentType.Parse(file.ContentType));
        message.Body = body.ToMessageBody();
        return message;
    }
}

/// <summary>Hands a mail to whatever delivers it. Throws on failure; the caller decides whether to retry.</summary>
internal interface IEmailSender
{
    Task SendAsync(EmailMessage message, CancellationToken ct);
}

internal static class EmailAddress
{
    /// <summary>One mailbox with a local part and a domain; MimeKit alone also accepts a bare name.</summary>
    public static bool TryParse(string? value, [NotNullWhen(true)] out MailboxAddress? mailbox)
    {
        if (MailboxAddress.TryParse(value, out var parsed) && parsed.Address.IndexOf('@', StringComparison.Ordinal) is var at && at > 0 && at < parsed.Address.Length - 1)
        {
            mailbox = parsed;
            return true;
        }
        mailbox = null;
        return false;
    }

    /// <summary>Keeps the first letter and the domain, for log lines: <c>a***@example.com</c>.</summary>
    public static string Mask(string address)
    {
        var at = address.LastIndexOf('@');
        if (at <= 0)
            return "***";
        return address[0] + "***" + address[at..];
    }
}
