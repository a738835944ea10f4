using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;
using MimeKit;

namespace AiHub.Notifications;

internal enum SmtpSecurity
{
    /// <summary>TLS on connect for port 465, otherwise STARTTLS when the server offers it.</summary>
    Auto,
    None,
    StartTls,
    SslOnConnect,
}

internal sealed class EmailSettings : IValidatableObject
{
    public const string Section = "Email";

    /// <summary>The sender of every mail, as a mailbox: <c>AiHub &lt;no-reply@example.com&gt;</c>.</summary>
    public string From { get; set; } = "AiHub <no-reply@localhost>";

    /// <summary>Where mail is saved as <c>.eml</c> files while no SMTP server is configured; relative to the content root.</summary>
    public string PickupDirectory { get; set; } = "data/mail";

    public SmtpSettings Smtp { get; set; } = new();

    public MailboxAddress FromMailbox => MailboxAddress.Parse(From);

    public string PickupDirectoryPath(string contentRoot) => Path.GetFullPath(Path.Combine(contentRoot, PickupDirectory));

    // Everything is checked here rather than with attributes on this class: an attribute failure would hide the rest.
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!EmailAddress.TryParse(From, out _))
            yield return new ValidationResult("must be one mailbox, such as AiHub <no-reply@example.com>", [nameof(From)]);
        if (string.IsNullOrWhiteSpace(PickupDirectory))
            yield return new ValidationResult("is required (a folder for .eml files while no SMTP server is configured)", [nameof(PickupDirectory)]);
        var smtp = new List<ValidationResult>();
        Validator.TryValidateObject(Smtp, new ValidationContext(Smtp), smtp, validateAllProperties: true);
        foreach (var result in smtp)
            yield return new ValidationResult(result.ErrorMessage, result.MemberNames.Select(m => $"{nameof(Smtp)}:{m}"));
    }
}

internal sealed class SmtpSettings : IValidatableObject
{
    /// <summary>Unset: no SMTP server, mail goes to the pickup directory.</summary>
    public string? Host { get; set; }

    [Range(1, 65535)]
    public int Port { get; set; } = 587;

    public SmtpSecurity Security { get; set; } = SmtpSecurity.Auto;

    /// <summary>Authenticates only when set.</summary>
    public string? UserName { get; set; }

    public string? Password { get; set; }

    /// <summary>For connecting and for each command.</summary>
    [Duration("00:00:01", "00:10:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    public bool Enabled => !string.IsNullOrWhiteSpace(Host);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Enabled && !string.IsNullOrEmpty(UserName))
            yield return new ValidationResult("is set but Email:Smtp:Host is not", [nameof(UserName)]);
    }
}
