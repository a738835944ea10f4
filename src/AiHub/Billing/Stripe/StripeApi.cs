using Microsoft.Extensions.Options;
using S = global::Stripe;

namespace AiHub.Billing.Stripe;

/// <summary>The one Stripe.net client of the process, over a named HttpClient; built on first use so a deployment without Stripe never needs its key.</summary>
internal sealed class StripeApi(IHttpClientFactory http, IOptions<BillingSettings> settings)
{
    public const string HttpClientName = "stripe";

    readonly Lazy<S.IStripeClient> _client = new(() =>
    {
        var stripe = settings.Value.Stripe;
        if (string.IsNullOrWhiteSpace(stripe.SecretKey))
            throw new PaymentGatewayException("Stripe is not set up on this deployment (Billing:Stripe:SecretKey).");
        // Stripe.net retries with an Idempotency-Key of its own, so a retried POST cannot charge twice; the HttpClient adds no retries on POSTs.
        var transport = new S.SystemNetHttpClient(http.CreateClient(HttpClientName), maxNetworkRetries: 2);
        return new S.StripeClient(stripe.SecretKey, apiBase: stripe.ApiBase.ToString().TrimEnd('/'), httpClient: transport);
    });

    public S.IStripeClient Client => _client.Value;

    /// <summary>Whether trying again later may succeed: a network failure, a timeout, Stripe's 5xx, 429 or a lock conflict.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        S.StripeException s => s.HttpStatusCode is System.Net.HttpStatusCode.TooManyRequests or System.Net.HttpStatusCode.Conflict
            || (int)s.HttpStatusCode >= 500 || (int)s.HttpStatusCode == 0 || s.StripeError?.Code == "lock_timeout",
        HttpRequestException or TimeoutException or IOException => true,
        TaskCanceledException => true,
        _ => false,
    };

    /// <summary>Stripe's message is about the request (a declined card, an amount), never the key: safe to show.</summary>
    public static PaymentGatewayException Wrap(Exception e, string doing) => e switch
    {
        PaymentGatewayException p => p,
        S.StripeException s when IsTransient(s) => new PaymentGatewayException($"Stripe could not be reached while {doing}; try again shortly.", transient: true, s),
        S.StripeException s => new PaymentGatewayException($"Stripe refused {doing}: {s.StripeError?.Message ?? s.Message}", inner: s),
        _ when IsTransient(e) => new PaymentGatewayException($"Stripe could not be reached while {doing}; try again shortly.", transient: true, e),
        _ => new PaymentGatewayException($"Stripe failed while {doing}.", inner: e),
    };
}
