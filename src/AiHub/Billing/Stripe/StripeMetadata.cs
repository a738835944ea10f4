namespace AiHub.Billing.Stripe;

/// <summary>The metadata keys every AiHub object at Stripe carries, so any of them names its organisation and purpose.</summary>
internal static class StripeMetadata
{
    public const string Org = "aihub_org";
    public const string Kind = "aihub_kind";
    public const string Plan = "aihub_plan";
    public const string Package = "aihub_package";
    public const string ToPool = "aihub_to_pool";
    public const string Buyer = "aihub_buyer";
    public const string Checkout = "aihub_checkout";

    /// <summary>A downgrade's plan before it, kept until <see cref="PreviousUntil"/> (unix seconds), the end of the paid period.</summary>
    public const string PreviousPlan = "aihub_previous_plan";
    public const string PreviousUntil = "aihub_previous_until";

    public const string KindPlan = "plan";
    public const string KindCredits = "credits";

    public static string? Get(IDictionary<string, string>? metadata, string key) =>
        metadata is not null && metadata.TryGetValue(key, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null;

    public static Guid? GetGuid(IDictionary<string, string>? metadata, string key) =>
        Guid.TryParse(Get(metadata, key), out var id) ? id : null;
}
