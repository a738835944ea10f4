using System.ComponentModel.DataAnnotations;
using System.Net.Mail;

namespace AiHub.Credits.Plans;

/// <summary>The <c>Plans</c> section: who a user asks for another plan until plans can be bought online.</summary>
internal sealed class PlanSettings : IValidatableObject
{
    public const string Section = "Plans";

    /// <summary>An email address (<c>sales@example.com</c>) or an http(s) page; unset, the plans page says to ask the deployment's administrator.</summary>
    public string? UpgradeContact { get; set; }

    /// <summary>The contact as a link target (<c>mailto:</c> for an address); null when none is configured.</summary>
    public string? ContactHref => Contact() switch
    {
        (string address, null) => "mailto:" + address,
        (null, Uri page) => page.AbsoluteUri,
        _ => null,
    };

    /// <summary>The contact as shown: the address, or the page's address.</summary>
    public string? ContactText => UpgradeContact?.Trim() is { Length: > 0 } text ? text : null;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ContactText is not null && Contact() is (null, null))
            yield return new ValidationResult("must be an email address (sales@example.com) or an absolute http or https URL", [nameof(UpgradeContact)]);
    }

    (string? Address, Uri? Page) Contact()
    {
        if (ContactText is not { } text)
            return (null, null);
        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0)
            return (null, uri);
        // A bare address only: a display name or a second address would not survive a mailto: link.
        if (!text.Contains("://", StringComparison.Ordinal) && MailAddress.TryCreate(text, out var mail) && mail.Address == text && mail.DisplayName.Length == 0)
            return (mail.Address, null);
        return (null, null);
    }
}
