using System.Text.RegularExpressions;
using MimeKit;

namespace AiHub.EndToEndTests;

/// <summary>Reads the .eml files that AiHub drops into its pickup directory when it has no SMTP server.</summary>
static partial class Mailbox
{
    /// <summary>The 6-digit code in the newest mail to <paramref name="address"/>, waiting a while for it to be written.</summary>
    public static async Task<string> ReadCodeAsync(string directory, string address, DateTimeOffset sentAfter, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(15);
        while (true)
        {
            if (await NewestToAsync(directory, address, sentAfter, ct) is { } message
                && SixDigits().Match(message.TextBody ?? StripTags(message.HtmlBody ?? "")) is { Success: true } match)
                return match.Groups[1].Value;
            if (DateTimeOffset.UtcNow > deadline)
                throw new TimeoutException($"No mail with a 6-digit code reached {address} in {directory}; files there: "
                    + string.Join(", ", Directory.Exists(directory) ? Directory.GetFiles(directory, "*.eml", SearchOption.AllDirectories).Select(Path.GetFileName) : ["(no directory)"]));
            await Task.Delay(200, ct);
        }
    }

    static async Task<MimeMessage?> NewestToAsync(string directory, string address, DateTimeOffset sentAfter, CancellationToken ct)
    {
        if (!Directory.Exists(directory))
            return null;
        var files = new DirectoryInfo(directory).GetFiles("*.eml", SearchOption.AllDirectories)
            .Where(f => f.LastWriteTimeUtc >= sentAfter.UtcDateTime.AddSeconds(-1))
            .OrderByDescending(f => f.LastWriteTimeUtc);
        foreach (var file in files)
        {
            MimeMessage message;
            try
            {
                message = await MimeMessage.LoadAsync(file.FullName, ct);
            }
            catch (IOException)
            {
                continue;   // still being written
            }
            if (message.To.Mailboxes.Any(m => string.Equals(m.Address, address, StringComparison.OrdinalIgnoreCase)))
                return message;
        }
        return null;
    }

    static string StripTags(string html) => Tags().Replace(html, " ");

    [GeneratedRegex(@"(?<!\d)(\d{6})(?!\d)")]
    private static partial Regex SixDigits();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex Tags();
}
