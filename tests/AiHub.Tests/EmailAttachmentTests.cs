using System.Text.Json;
using AiHub.Notifications;
using MimeKit;

namespace AiHub.Tests;

public sealed class EmailAttachmentTests
{
    static readonly MailboxAddress From = MailboxAddress.Parse("AiHub <no-reply@aihub.test>");

    [Fact]
    public void A_mail_without_attachments_stays_multipart_alternative()
    {
        var mime = new EmailMessage("a@example.com", "Hi", "<p>Hi</p>", "Hi").ToMimeMessage(From);

        Assert.Equal("multipart/alternative", mime.Body?.ContentType.MimeType);
        Assert.Empty(mime.Attachments);
    }

    [Fact]
    public void An_attachment_survives_the_queued_payload_and_is_sent_as_a_file()
    {
        var pdf = new byte[] { 0x25, 0x50, 0x44, 0x46, 0x2d, 0x00, 0xff };
        var message = new EmailMessage("a@example.com", "Receipt", "<p>Receipt</p>", "Receipt", [new EmailAttachment("AIH-000042.pdf", "application/pdf", pdf)]);

        var queued = JsonSerializer.Deserialize<EmailMessage>(JsonSerializer.Serialize(message, JsonSerializerOptions.Web), JsonSerializerOptions.Web)!;
        var mime = queued.ToMimeMessage(From);

        Assert.Equal("multipart/mixed", mime.Body?.ContentType.MimeType);
        var part = Assert.IsType<MimePart>(Assert.Single(mime.Attachments));
        Assert.Equal("AIH-000042.pdf", part.FileName);
        Assert.Equal("application/pdf", part.ContentType.MimeType);
        using var bytes = new MemoryStream();
        part.Content!.DecodeTo(bytes, TestContext.Current.CancellationToken);
        Assert.Equal(pdf, bytes.ToArray());
        Assert.Equal("Receipt", mime.TextBody);
    }
}
