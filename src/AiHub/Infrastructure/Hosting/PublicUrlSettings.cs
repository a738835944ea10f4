using System.ComponentModel.DataAnnotations;

namespace AiHub.Infrastructure.Hosting;

/// <summary>
/// Where users reach the web UI. Links in mail and share links point here, never at the request's Host header, and
/// the cross-site check takes its origin as AiHub's own.
/// </summary>
/// <remarks>Read from <c>Identity:PublicUrl</c>, the key operators already set, though every feature uses it.</remarks>
internal sealed class PublicUrlSettings : IValidatableObject
{
    public const string Section = "Identity";

    public Uri PublicUrl { get; set; } = new("http://localhost:5080");

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!PublicUrl.IsAbsoluteUri || PublicUrl.Scheme is not ("http" or "https"))
            yield return new ValidationResult("must be an absolute http(s) URL", [nameof(PublicUrl)]);
    }
}
