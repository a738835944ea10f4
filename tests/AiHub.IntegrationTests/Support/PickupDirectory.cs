using MimeKit;

namespace AiHub.IntegrationTests.Support;

/// <summary>Reads the <c>.eml</c> files that AiHub saves while no SMTP server is configured.</summary>
public static class PickupDirectory
{
    /// <summary>The newest mail to <paramref name="to"/> that <paramref name="match"/> accepts, waiting for one to appear.</summary>
    public static async Task<MimeMessage> WaitForMessageAsync(string directory, string to, TimeSpan timeout, Func<MimeMessage, bool>? match = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var messages = await MessagesToAsync(directory, to);
            if (messages.LastOrDefault(m => match?.Invoke(m) ?? true) is { } message)
                return message;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"No mail to {to} appeared in {directory} within {timeout.TotalSeconds:0.#} s.");
            await Task.Delay(50);
        }
    }

    /// <summary>Every mail to <paramref name="to"/> in the directory, oldest first (the file names sort by time).</summary>
    public static async Task<IReadOnlyList<MimeMessage>> MessagesToAsync(string directory, string to)
    {
        if (!Directory.Exists(directory))
            return [];
        var messages = new List<MimeMessage>();
        // Only finished files: AiHub writes to a .tmp name and renames it when it is complete.
        foreach (var file in Directory.GetFiles(directory, "*.eml").Order(StringComparer.Ordinal))
        {
            var message = await MimeMessage.LoadAsync(file);
            if (message.To.Mailboxes.Any(m => string.Equals(m.Address, to, StringComparison.OrdinalIgnoreCase)))
                messages.Add(message);
        }
        return messages;
    }
}
