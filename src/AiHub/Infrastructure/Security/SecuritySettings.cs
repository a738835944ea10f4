using System.ComponentModel.DataAnnotations;
using System.Net;
using System.Text.RegularExpressions;

namespace AiHub.Infrastructure.Security;

/// <summary>Response headers, request body limits and the reverse proxy in front of AiHub.</summary>
internal sealed partial class SecuritySettings : IValidatableObject
{
    public const string Section = "Security";

    /// <summary>Where else pages may load images from, as Content-Security-Policy sources (<c>https://images.example.com</c>); by default only AiHub itself and <c>data:</c>.</summary>
    public List<string> ImageSources { get; set; } = [];

    /// <summary>Trust <c>X-Forwarded-For</c>, <c>-Proto</c> and <c>-Host</c> from <see cref="TrustedProxies"/>, so HTTPS and client addresses are seen behind a proxy.</summary>
    public bool ForwardedHeaders { get; set; }

    /// <summary>Proxy addresses or networks (<c>10.0.0.0/8</c>) whose forwarded headers count; empty means loopback only, <c>*</c> any sender.</summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>The largest body of a request that needs no sign-in, or that signs in (<c>/api/auth</c>, <c>/account</c>).</summary>
    [Range(1024, 16L * 1024 * 1024)]
    public long AnonymousMaxBodyBytes { get; set; } = 64 * 1024;

    /// <summary>The largest body of any other request, unless its endpoint sets its own (the bulk credit upload).</summary>
    [Range(64 * 1024, 1024L * 1024 * 1024)]
    public long MaxBodyBytes { get; set; } = 4 * 1024 * 1024;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var source in ImageSources.Where(s => !SourceExpression().IsMatch(s)))
            yield return new ValidationResult($"'{source}' is not a Content-Security-Policy source such as https://images.example.com", [nameof(ImageSources)]);
        foreach (var proxy in TrustedProxies.Where(p => p != "*" && !IPAddress.TryParse(p, out _) && !IPNetwork.TryParse(p, out _)))
            yield return new ValidationResult($"'{proxy}' is not an IP address or network", [nameof(TrustedProxies)]);
    }

    // A scheme (https:), or a host with an optional scheme, wildcard, port and path; nothing that could end the directive.
    [GeneratedRegex(@"^([a-z][a-z0-9+.-]*:|([a-z][a-z0-9+.-]*://)?(\*\.)?[a-z0-9.-]+(:(\d+|\*))?(/[A-Za-z0-9._~/%-]*)?)$", RegexOptions.IgnoreCase)]
    private static partial Regex SourceExpression();
}
