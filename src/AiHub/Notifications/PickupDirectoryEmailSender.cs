using AiHub.Infrastructure.Hosting;
using Microsoft.Extensions.Options;

namespace AiHub.Notifications;

/// <summary>Used while no SMTP server is configured: each mail becomes an <c>.eml</c> file that any mail client opens.</summary>
internal sealed partial class PickupDirectoryEmailSender(
    IOptions<EmailSettings> settings,
    IHostEnvironment environment,
    TimeProvider clock,
    ILogger<PickupDirectoryEmailSender> logger) : IEmailSender
{
    public async Task SendAsync(EmailMessage message, CancellationToken ct)
    {
        var directory = settings.Value.PickupDirectoryPath(environment.ContentRootPath);
        // The mails hold verification codes and reset links: the owner alone reads them.
        if (!Directory.Exists(directory))
            OwnerOnly.CreateDirectory(directory);
        var now = clock.GetUtcNow();
        var path = Path.Combine(directory, $"{now:yyyyMMdd'T'HHmmss'.'fff'Z'}-{Guid.CreateVersion7(now):N}.eml");
        var temporary = path + ".tmp";
        var mime = message.ToMimeMessage(settings.Value.FromMailbox);
        try
        {
            await using (var file = OwnerOnly.CreateFile(temporary))
            {
                await mime.WriteToAsync(file, ct);
                await file.FlushAsync(ct);
            }
            // A reader polling the folder never sees half a message.
            File.Move(temporary, path);
        }
        finally
        {
            File.Delete(temporary);
        }
        LogSaved(EmailAddress.Mask(message.To), DisplayPath(path));
    }

    string DisplayPath(string path)
    {
        var relative = Path.GetRelativePath(environment.ContentRootPath, path);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? path : relative;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Email to {Recipient} saved to {Path} (no SMTP server is configured)")]
    partial void LogSaved(string recipient, string path);
}
