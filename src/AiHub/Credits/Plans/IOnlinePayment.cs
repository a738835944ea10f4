namespace AiHub.Credits.Plans;

/// <summary>
/// Lets the plans page and the upgrade prompts (this layer and Chat) send a customer to online payment, which the
/// Billing feature, a layer above, provides.
/// </summary>
internal interface IOnlinePayment
{
    /// <summary>A gateway is configured: plans and credits can be bought online.</summary>
    bool Enabled { get; }

    /// <summary>The page where an organisation's plan and credits are bought; <paramref name="plan"/> offers that plan's checkout.</summary>
    string BillingPath(Guid orgId, string? plan = null);
}
