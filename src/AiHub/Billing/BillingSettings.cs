using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace AiHub.Billing;

/// <summary>The <c>Billing</c> section: which gateway takes money, the packages on sale, the seller on invoices and the rules of renewal.</summary>
internal sealed partial class BillingSettings : IValidatableObject
{
    public const string Section = "Billing";

    /// <summary><c>stripe</c>, <c>eway</c>, or empty: no online payment, and the plans page names <c>Plans:UpgradeContact</c> as before.</summary>
    public string? Gateway { get; set; }

    public bool Enabled => !string.IsNullOrWhiteSpace(Gateway);

    /// <summary>How long a plan whose renewal failed is kept before the organisation falls back to FREE.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Trial days per plan code (<c>Billing:TrialDays:PRO = 14</c>); a plan not named has no trial.</summary>
    public Dictionary<string, int> TrialDays { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Credit packages on sale, bought once; unset, <see cref="DefaultPackages"/>.</summary>
    /// <remarks>Empty by default: the configuration binder adds configured items to a list it finds filled.</remarks>
    public List<CreditPackage> Packages { get; set; } = [];

    public static readonly IReadOnlyList<CreditPackage> DefaultPackages =
    [
        new() { Code = "CREDITS_10", Name = "Starter pack", Credits = 10, PriceMinor = 1_000, Currency = "USD" },
        new() { Code = "CREDITS_50", Name = "Team pack", Credits = 50, PriceMinor = 4_500, Currency = "USD" },
        new() { Code = "CREDITS_200", Name = "Bulk pack", Credits = 200, PriceMinor = 16_000, Currency = "USD" },
    ];

    /// <summary>The packages customers can buy: the configured ones, else the defaults.</summary>
    public IReadOnlyList<CreditPackage> OnSale => Packages.Count > 0 ? Packages : DefaultPackages;

    /// <summary>Printed before the invoice sequence: <c>AIH-000042</c>.</summary>
    public string InvoicePrefix { get; set; } = "AIH-";

    public SellerDetails Seller { get; set; } = new();

    /// <summary>How many days back the nightly reconciliation compares the gateway's payments with AiHub's.</summary>
    public int ReconcileDays { get; set; } = 3;

    /// <summary>Where the reconciliation report and billing alerts are mailed; unset, only the admin page shows them.</summary>
    public string? AlertEmail { get; set; }

    /// <summary>How long a hosted payment page stays valid before its checkout is swept as expired.</summary>
    public TimeSpan CheckoutLifetime { get; set; } = TimeSpan.FromHours(1);

    public StripeSettings Stripe { get; set; } = new();

    public EwaySettings Eway { get; set; } = new();

    public CreditPackage? Package(string? code) =>
        OnSale.FirstOrDefault(p => string.Equals(p.Code, code?.Trim(), StringComparison.OrdinalIgnoreCase));

    public int TrialDaysOf(string planCode) => TrialDays.TryGetValue(planCode, out var days) ? days : 0;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Enabled && Gateway!.Trim().ToLowerInvariant() is not ("stripe" or "eway"))
            yield return new ValidationResult("must be stripe, eway or empty", [nameof(Gateway)]);
        if (GracePeriod < TimeSpan.Zero || GracePeriod > TimeSpan.FromDays(90))
            yield return new ValidationResult("must be from 0 to 90 days", [nameof(GracePeriod)]);
        if (ReconcileDays is < 1 or > 90)
            yield return new ValidationResult("must be from 1 to 90", [nameof(ReconcileDays)]);
        foreach (var (plan, days) in TrialDays)
        {
            if (days is < 0 or > 365)
                yield return new ValidationResult($"{plan}: must be from 0 to 365 days", [nameof(TrialDays)]);
        }
        var codes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < Packages.Count; i++)
        {
            var p = Packages[i];
            if (p.Code is null || !PackageCode().IsMatch(p.Code) || !codes.Add(p.Code))
                yield return new ValidationResult($"{i}: Code must be 2 to 32 letters, digits, '_' or '-', unique", [nameof(Packages)]);
            if (p.Credits is < 1 or > 1_000_000_000)
                yield return new ValidationResult($"{i}: Credits must be from 1 to 1000000000", [nameof(Packages)]);
            if (p.PriceMinor is < 1 or > 100_000_000)
                yield return new ValidationResult($"{i}: PriceMinor must be from 1 to 100000000 (the currency's smallest unit)", [nameof(Packages)]);
            if (p.Currency is null || !CurrencyCode().IsMatch(p.Currency))
                yield return new ValidationResult($"{i}: Currency must be a three-letter ISO 4217 code", [nameof(Packages)]);
        }
        if (string.IsNullOrWhiteSpace(InvoicePrefix) || InvoicePrefix.Length > 20)
            yield return new ValidationResult("must be 1 to 20 characters", [nameof(InvoicePrefix)]);
        if (string.Equals(Gateway?.Trim(), "stripe", StringComparison.OrdinalIgnoreCase))
        {
            if (string.IsNullOrWhiteSpace(Stripe.SecretKey))
                yield return new ValidationResult("Stripe:SecretKey is required when Gateway is stripe", [nameof(Stripe)]);
            if (string.IsNullOrWhiteSpace(Stripe.WebhookSecret))
                yield return new ValidationResult("Stripe:WebhookSecret is required when Gateway is stripe (whsec_…, from the webhook endpoint's page)", [nameof(Stripe)]);
        }
        if (string.Equals(Gateway?.Trim(), "eway", StringComparison.OrdinalIgnoreCase) && (string.IsNullOrWhiteSpace(Eway.ApiKey) || string.IsNullOrWhiteSpace(Eway.Password)))
            yield return new ValidationResult("Eway:ApiKey and Eway:Password are required when Gateway is eway", [nameof(Eway)]);
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]{1,31}$")]
    private static partial Regex PackageCode();

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyCode();
}

/// <summary>Credits sold once at a price; the price is an integer of the currency's smallest unit.</summary>
internal sealed class CreditPackage
{
    public string Code { get; set; } = "";

    public string Name { get; set; } = "";

    /// <summary>Whole credits.</summary>
    public long Credits { get; set; }

    public long PriceMinor { get; set; }

    public string Currency { get; set; } = "USD";
}

/// <summary>Who sells: printed on every invoice.</summary>
internal sealed class SellerDetails
{
    public string Name { get; set; } = "AiHub";

    /// <summary>Lines of the postal address, as printed.</summary>
    public List<string> Address { get; set; } = [];

    public string? TaxId { get; set; }

    public string? Email { get; set; }

    /// <summary>Tax added to eWAY payments (which has no tax engine), in basis points: 1000 is 10 % (Australian GST).</summary>
    public int TaxRateBasisPoints { get; set; }

    /// <summary>The tax's name on invoices: GST, VAT, Sales tax.</summary>
    public string TaxName { get; set; } = "Tax";
}

internal sealed class StripeSettings
{
    public string? SecretKey { get; set; }

    public string? WebhookSecret { get; set; }

    /// <summary>The API's base address; only a test or a proxy changes it.</summary>
    public Uri ApiBase { get; set; } = new("https://api.stripe.com");

    /// <summary>How old a webhook's signed timestamp may be before it is refused as a replay.</summary>
    public TimeSpan WebhookTolerance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Stripe Tax's automatic calculation on Checkout and subscriptions (needs Stripe Tax set up on the account).</summary>
    public bool AutomaticTax { get; set; }

    /// <summary>Lets customers enter a promotion code on Checkout.</summary>
    public bool AllowPromotionCodes { get; set; } = true;
}

internal sealed class EwaySettings
{
    public string? ApiKey { get; set; }

    public string? Password { get; set; }

    /// <summary>Rapid API's base address: <c>https://api.ewaypayments.com</c> live, the sandbox by default.</summary>
    public Uri Endpoint { get; set; } = new("https://api.sandbox.ewaypayments.com");

    /// <summary>How many times a failed renewal is tried before the period counts as unpaid (the grace period still applies).</summary>
    public int MaxChargeAttempts { get; set; } = 4;

    /// <summary>The wait before the first retry of a failed renewal; each retry waits twice as long as the one before.</summary>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromDays(1);
}
