using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.Options;

namespace AiHub.Billing;

/// <summary>The gateways this deployment knows, by name: new payments go to the configured one, earlier ones stay with theirs.</summary>
internal sealed class PaymentGateways(IEnumerable<IPaymentGateway> all, IOptions<BillingSettings> settings)
{
    /// <summary>The gateway new checkouts use, or a 409 that says online payment is not set up.</summary>
    public IPaymentGateway Current =>
        settings.Value.Enabled ? Of(settings.Value.Gateway!.Trim().ToLowerInvariant())
        : throw new ProblemException(StatusCodes.Status409Conflict, "Online payment is not set up on this deployment.",
            "An administrator sets Billing:Gateway (stripe or eway) and its keys; until then plans are changed by an administrator.", ProblemTypes.Conflict);

    /// <summary>The gateway that made a row (a subscription, a payment), even when the deployment has switched since.</summary>
    public IPaymentGateway Of(string name) =>
        all.FirstOrDefault(g => g.Name == name) ?? throw new InvalidOperationException($"No payment gateway named '{name}' is registered.");
}
