using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using AiHub.Infrastructure.Jobs;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.AspNetCore.DataProtection;

namespace AiHub.Notifications;

/// <summary>Sends one queued mail. A server that is down or says "try later" means a retry; one that refuses the mail for good does not.</summary>
internal sealed partial class EmailSendHandler(
    IDataProtectionProvider protection,
    IEmailSender sender,
    ILogger<EmailSendHandler> logger) : IWorkHandler
{
    public const string KindName = "email.send";

    public string Kind => KindName;

    public async Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct)
    {
        EmailMessage message;
        try
        {
            var payload = JsonSerializer.Deserialize<ProtectedEmail>(item.Payload, JsonSerializerOptions.Web)
                ?? throw new JsonException("The payload is empty.");
            message = payload.Unprotect(protection);
        }
        catch (Exception e) when (e is JsonException or CryptographicException or FormatException or ArgumentException)
        {
            LogUnreadable(item.Id, e.GetType().Name);
            return WorkResult.Fatal;
        }

        var recipient = EmailAddress.Mask(message.To);
        try
        {
            await sender.SendAsync(message, ct);
            return WorkResult.Success;
        }
        catch (SmtpCommandException e) when ((int)e.StatusCode >= 500)
        {
            LogRejected(item.Id, recipient, (int)e.StatusCode, e.ErrorCode);
            return WorkResult.Fatal;
        }
        catch (Exception e) when (IsTransient(e, ct))
        {
            LogWillRetry(item.Id, recipient, item.Attempts, Describe(e));
            return WorkResult.Transient;
        }
    }

    static bool IsTransient(Exception e, CancellationToken ct) => e switch
    {
        SmtpCommandException => true, // 4xx: mailbox busy, greylisting, too many connections
        SmtpProtocolException or IOException or SocketException or TimeoutException => true,
        // Wrong credentials or TLS setup are fixed in configuration; the mail must still be there when they are.
        AuthenticationException or SslHandshakeException or ServiceNotConnectedException => true,
        OperationCanceledException => !ct.IsCancellationRequested,
        _ => false,
    };

    // Never the server's text: it often quotes the address, and the message itself is secret.
    static string Describe(Exception e) => e switch
    {
        SmtpCommandException smtp => $"SMTP {(int)smtp.StatusCode} {smtp.ErrorCode}",
        SocketException socket => $"{nameof(SocketException)} {socket.SocketErrorCode}",
        _ => e.GetType().Name,
    };

    [LoggerMessage(Level = LogLevel.Error, Message = "Email {WorkItemId} cannot be read ({Error}); it is dropped")]
    partial void LogUnreadable(Guid workItemId, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Email {WorkItemId} to {Recipient} was refused by the SMTP server (SMTP {Status} {Reason}); it is not retried")]
    partial void LogRejected(Guid workItemId, string recipient, int status, SmtpErrorCode reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Email {WorkItemId} to {Recipient} could not be sent on attempt {Attempt} ({Error}); it will be retried")]
    partial void LogWillRetry(Guid workItemId, string recipient, int attempt, string error);
}
