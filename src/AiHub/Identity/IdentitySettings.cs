using System.ComponentModel.DataAnnotations;
using AiHub.Infrastructure.Configuration;

namespace AiHub.Identity;

internal sealed class IdentitySettings : IValidatableObject
{
    public const string Section = "Identity";

    [Duration("00:01:00", "1.00:00:00")]
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromMinutes(15);

    [Duration("00:05:00", "90.00:00:00")]
    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(7);

    [Duration("00:05:00", "90.00:00:00")]
    public TimeSpan BrowserSessionLifetime { get; set; } = TimeSpan.FromDays(14);

    [Range(1, 100)]
    public int MaxFailedLogins { get; set; } = 5;

    [Duration("00:00:01", "30.00:00:00")]
    public TimeSpan LockoutDuration { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Failed sign-ins to one address from every IP together that lock it everywhere until <see cref="AccountLockoutWindow"/> ends.</summary>
    [Range(1, 100_000)]
    public int MaxFailedLoginsPerAccount { get; set; } = 100;

    [Duration("00:00:01", "30.00:00:00")]
    public TimeSpan AccountLockoutWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>The least time a sign-in failure, sign-up, verification or reset request takes, so that timing tells no address from another.</summary>
    [Duration("00:00:00", "00:00:05")]
    public TimeSpan MinimumAnswerTime { get; set; } = TimeSpan.FromMilliseconds(200);

    [Duration("00:01:00", "1.00:00:00")]
    public TimeSpan VerificationCodeLifetime { get; set; } = TimeSpan.FromMinutes(15);

    [Range(1, 20)]
    public int VerificationCodeAttempts { get; set; } = 5;

    [Duration("00:00:01", "01:00:00")]
    public TimeSpan ResendCooldown { get; set; } = TimeSpan.FromSeconds(60);

    [Duration("00:05:00", "7.00:00:00")]
    public TimeSpan PasswordResetLifetime { get; set; } = TimeSpan.FromHours(1);

    public RateLimitSettings RateLimits { get; set; } = new();

    public OAuthProviderSettings Google { get; set; } = new();

    public OAuthProviderSettings GitHub { get; set; } = new();

    public OidcProviderSettings Oidc { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, nested) in new (string, object)[] { (nameof(RateLimits), RateLimits), (nameof(Google), Google), (nameof(GitHub), GitHub), (nameof(Oidc), Oidc) })
        {
            var results = new List<ValidationResult>();
            Validator.TryValidateObject(nested, new ValidationContext(nested), results, validateAllProperties: true);
            foreach (var result in results)
                yield return new ValidationResult(result.ErrorMessage, result.MemberNames.Select(m => $"{name}:{m}").DefaultIfEmpty(name));
        }
    }
}

/// <summary>How many attempts an IP address, and separately an email address, may make in one window.</summary>
internal sealed class RateLimitSettings
{
    [Duration("00:00:01", "1.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(15);

    [Range(1, 100_000)]
    public int LoginPerIp { get; set; } = 100;

    [Range(1, 100_000)]
    public int LoginPerEmail { get; set; } = 20;

    [Range(1, 100_000)]
    public int RegisterPerIp { get; set; } = 20;

    [Range(1, 100_000)]
    public int RegisterPerEmail { get; set; } = 5;

    [Range(1, 100_000)]
    public int VerifyPerIp { get; set; } = 50;

    [Range(1, 100_000)]
    public int VerifyPerEmail { get; set; } = 20;

    [Range(1, 100_000)]
    public int ForgotPerIp { get; set; } = 20;

    [Range(1, 100_000)]
    public int ForgotPerEmail { get; set; } = 5;

    [Range(1, 100_000)]
    public int ResetPerIp { get; set; } = 20;

    /// <summary>Counted per account, which the reset link names.</summary>
    [Range(1, 100_000)]
    public int ResetPerEmail { get; set; } = 10;
}

internal class OAuthProviderSettings : IValidatableObject
{
    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    /// <summary>Overrides of the provider's endpoints, for GitHub Enterprise or a test server.</summary>
    public Uri? AuthorizationEndpoint { get; set; }

    public Uri? TokenEndpoint { get; set; }

    public Uri? UserInformationEndpoint { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(ClientId);

    public virtual IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Enabled && string.IsNullOrWhiteSpace(ClientSecret))
            yield return new ValidationResult("is required when ClientId is set", [nameof(ClientSecret)]);
    }
}

internal sealed class OidcProviderSettings : OAuthProviderSettings
{
    /// <summary>The issuer; its <c>/.well-known/openid-configuration</c> tells the rest.</summary>
    public Uri? Authority { get; set; }

    /// <summary>The label on the sign-in button, e.g. the company's name.</summary>
    [StringLength(40)]
    public string DisplayName { get; set; } = "Single sign-on";

    public bool RequireHttpsMetadata { get; set; } = true;

    public override IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var result in base.Validate(validationContext))
            yield return result;
        if (Enabled && Authority is null)
            yield return new ValidationResult("is required when ClientId is set", [nameof(Authority)]);
    }
}

internal sealed class BootstrapSettings
{
    public const string Section = "Bootstrap";

    /// <summary>This address becomes SuperAdmin once its account exists and is verified, while there is no SuperAdmin yet.</summary>
    [EmailAddress]
    public string? AdminEmail { get; set; }
}
