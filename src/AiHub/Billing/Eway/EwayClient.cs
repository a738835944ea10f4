using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Eway;

/// <summary>A transaction as eWAY's Transaction Query or a Direct payment describes it.</summary>
internal sealed record EwayTransaction(
    int TransactionId,
    bool Approved,
    string? ResponseMessage,
    int TotalAmount,
    string? InvoiceReference,
    string? TokenCustomerId,
    string? CurrencyCode,
    int? MaxRefund,
    DateTimeOffset? At);

/// <summary>eWAY Rapid API v3 over HTTP: JSON in PascalCase, HTTP Basic with the API key and password, <c>Errors</c> as comma-separated codes.</summary>
internal sealed class EwayClient(HttpClient http, IOptions<BillingSettings> settings, ILogger<EwayClient> log)
{
    public const string HttpClientName = "eway";

    /// <summary>The Rapid API version whose Transaction Query has <c>MaxRefund</c> and <c>TransactionDateTime</c>.</summary>
    const string ApiVersion = "47";

    static readonly JsonSerializerOptions Wire = new() { PropertyNamingPolicy = null };

    public Task<JsonObject> CreateAccessCodeAsync(JsonObject request, CancellationToken ct) => SendAsync(HttpMethod.Post, "AccessCodesShared", request, ct);

    public Task<JsonObject> ReadAccessCodeAsync(string accessCode, CancellationToken ct) =>
        SendAsync(HttpMethod.Get, "AccessCode/" + Uri.EscapeDataString(accessCode), null, ct);

    /// <summary>Charges a stored card (Direct, <c>TokenPayment</c>). Not retried: a lost answer is found again by its invoice reference.</summary>
    public async Task<EwayTransaction> TokenPaymentAsync(string tokenCustomerId, long amountMinor, string currency, string invoiceReference, string description,
        string transactionType, CancellationToken ct)
    {
        var answer = await SendAsync(HttpMethod.Post, "Transaction", new JsonObject
        {
            ["Customer"] = new JsonObject { ["TokenCustomerID"] = tokenCustomerId },
            ["Payment"] = Payment(amountMinor, currency, invoiceReference, description),
            ["Method"] = "TokenPayment",
            ["TransactionType"] = transactionType,
        }, ct);
        return ToTransaction(answer) ?? throw new PaymentGatewayException("eWAY answered a token payment without a transaction id.", transient: true);
    }

    public async Task<EwayTransaction?> FindAsync(string transactionId, CancellationToken ct) =>
        await QueryAsync("Transaction/" + Uri.EscapeDataString(transactionId), ct) is [var first, ..] ? first : null;

    /// <summary>Every transaction made with <paramref name="invoiceReference"/>: how a charge whose answer was lost is found again.</summary>
    public Task<IReadOnlyList<EwayTransaction>> FindByReferenceAsync(string invoiceReference, CancellationToken ct) =>
        QueryAsync("Transaction/InvoiceRef/" + Uri.EscapeDataString(invoiceReference), ct);

    public Task<JsonObject> RefundAsync(string transactionId, long amountMinor, string description, CancellationToken ct) =>
        SendAsync(HttpMethod.Post, $"Transaction/{Uri.EscapeDataString(transactionId)}/Refund", new JsonObject
        {
            ["Refund"] = new JsonObject { ["TotalAmount"] = checked((int)amountMinor), ["InvoiceDescription"] = Clip(description, 64) },
        }, ct);

    /// <summary>The stored card as <c>card •••• 1111</c>; eWAY gives only the masked number.</summary>
    public async Task<string?> CardOfAsync(string tokenCustomerId, CancellationToken ct)
    {
        var answer = await SendAsync(HttpMethod.Get, "Customer/" + Uri.EscapeDataString(tokenCustomerId), null, ct);
        var number = (answer["Customers"] as JsonArray)?.FirstOrDefault()?["CardDetails"]?["Number"]?.GetValue<string>();
        return number is { Length: >= 4 } ? $"card •••• {number[^4..]}" : null;
    }

    public static JsonObject Payment(long amountMinor, string currency, string invoiceReference, string description) => new()
    {
        ["TotalAmount"] = checked((int)amountMinor),
        ["InvoiceNumber"] = Clip(invoiceReference, 12),
        ["InvoiceDescription"] = Clip(description, 64),
        ["InvoiceReference"] = invoiceReference,
        ["CurrencyCode"] = currency.ToUpperInvariant(),
    };

    public static string? Text(JsonNode? node) => node is JsonValue value
        ? value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.Number => value.ToJsonString(),
            _ => null,
        }
        : null;

    public static EwayTransaction? ToTransaction(JsonNode? t)
    {
        if (t is null || !int.TryParse(Text(t["TransactionID"]), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            return null;
        DateTimeOffset? at = DateTimeOffset.TryParse(Text(t["TransactionDateTime"]), CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed) ? parsed : null;
        int? maxRefund = int.TryParse(Text(t["MaxRefund"]), NumberStyles.None, CultureInfo.InvariantCulture, out var max) ? max : null;
        return new EwayTransaction(id, t["TransactionStatus"] is JsonValue s && s.GetValueKind() == JsonValueKind.True, Text(t["ResponseMessage"]),
            int.TryParse(Text(t["TotalAmount"]) ?? Text(t["Payment"]?["TotalAmount"]), NumberStyles.None, CultureInfo.InvariantCulture, out var amount) ? amount : 0,
            Text(t["InvoiceReference"]) ?? Text(t["Payment"]?["InvoiceReference"]), Text(t["TokenCustomerID"]) ?? Text(t["Customer"]?["TokenCustomerID"]),
            Text(t["CurrencyCode"]) ?? Text(t["Payment"]?["CurrencyCode"]), maxRefund, at);
    }

    async Task<IReadOnlyList<EwayTransaction>> QueryAsync(string path, CancellationToken ct)
    {
        var answer = await SendAsync(HttpMethod.Get, path, null, ct);
        return [.. (answer["Transactions"] as JsonArray ?? []).Select(ToTransaction).OfType<EwayTransaction>()];
    }

    async Task<JsonObject> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken ct)
    {
        var eway = settings.Value.Eway;
        if (string.IsNullOrWhiteSpace(eway.ApiKey) || string.IsNullOrWhiteSpace(eway.Password))
            throw new PaymentGatewayException("eWAY is not set up: Billing:Eway:ApiKey and Billing:Eway:Password are required.");
        using var request = new HttpRequestMessage(method, new Uri(EndpointOf(eway), path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{eway.ApiKey}:{eway.Password}")));
        request.Headers.Add("X-EWAY-APIVERSION", ApiVersion);
        if (body is not null)
            request.Content = new StringContent(body.ToJsonString(Wire), Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException e)
        {
            throw new PaymentGatewayException("eWAY could not be reached; try again in a few minutes.", transient: true, e);
        }
        using (response)
        {
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
            {
                throw new PaymentGatewayException($"eWAY refused the API key and password (HTTP {(int)response.StatusCode}). Check Billing:Eway:ApiKey and "
                    + "Billing:Eway:Password, and that Billing:Eway:Endpoint is the sandbox for sandbox keys and the live endpoint for live keys.");
            }
            if ((int)response.StatusCode >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
                throw new PaymentGatewayException($"eWAY is not answering properly (HTTP {(int)response.StatusCode}); try again in a few minutes.", transient: true);
            JsonObject? answer;
            try
            {
                answer = await JsonNode.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct) as JsonObject;
            }
            catch (JsonException e)
            {
                throw new PaymentGatewayException($"eWAY answered {method} {path.Split('/')[0]} with something that is not JSON (HTTP {(int)response.StatusCode}).", transient: true, e);
            }
            if (answer is null)
                throw new PaymentGatewayException($"eWAY answered {method} {path.Split('/')[0]} with an empty body (HTTP {(int)response.StatusCode}).", transient: true);
            if (Text(answer["Errors"]) is { Length: > 0 } errors)
            {
                log.LogWarning("eWAY refused {Method} {Operation}: {Errors}", method, path.Split('/')[0], errors);
                throw new PaymentGatewayException(EwayCodes.Describe(errors));
            }
            return answer;
        }
    }

    static Uri EndpointOf(EwaySettings eway) =>
        eway.Endpoint.AbsoluteUri.EndsWith('/') ? eway.Endpoint : new Uri(eway.Endpoint.AbsoluteUri + "/");

    static string Clip(string text, int max) => text.Length <= max ? text : text[..max];
}

/// <summary>eWAY's response and error codes in words a customer or an operator can act on.</summary>
internal static class EwayCodes
{
    public const string Approved = "A2000";

    static readonly Dictionary<string, string> Words = new(StringComparer.OrdinalIgnoreCase)
    {
        ["A2000"] = "approved",
        ["D4401"] = "refer to the card's issuer",
        ["D4404"] = "the card is to be picked up",
        ["D4405"] = "do not honour",
        ["D4412"] = "invalid transaction",
        ["D4414"] = "invalid card number",
        ["D4451"] = "insufficient funds",
        ["D4454"] = "the card has expired",
        ["D4457"] = "not permitted for this card",
        ["D4482"] = "the CVV was wrong",
        ["S5099"] = "the payment is not finished yet",
        ["S5000"] = "eWAY had a system error",
        ["S5029"] = "too many requests to eWAY",
        ["V6000"] = "validation error",
        ["V6004"] = "invalid method",
        ["V6010"] = "invalid transaction type",
        ["V6011"] = "invalid amount",
        ["V6015"] = "invalid currency",
        ["V6016"] = "payment required",
        ["V6040"] = "the stored card (token customer) is not known to eWAY",
        ["V6042"] = "the customer's first name is required",
        ["V6043"] = "the customer's last name is required",
        ["V6044"] = "the customer's country is required",
        ["V6046"] = "a stored card (token customer) is required",
        ["V6047"] = "a redirect URL is required",
        ["V6059"] = "invalid redirect URL",
        ["V6107"] = "the access code is not known to eWAY",
        ["V6115"] = "invalid transaction id for a refund",
        ["V6136"] = "the original transaction does not exist or cannot be refunded",
        ["V6150"] = "invalid refund amount",
        ["V6151"] = "the refund is more than what is left of the payment",
        ["V6152"] = "the payment was already refunded in full",
    };

    /// <summary>Comma-separated error codes as one sentence.</summary>
    public static string Describe(string errors) =>
        "eWAY refused the request: " + string.Join("; ", errors.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(c => Words.TryGetValue(c, out var w) ? $"{w} ({c})" : c)) + ".";

    /// <summary>A declined card's response message (<c>D4451</c>) in words.</summary>
    public static string Declined(string? responseMessage)
    {
        var codes = (responseMessage ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var words = codes.Select(c => Words.TryGetValue(c, out var w) ? $"{w} ({c})" : c).ToList();
        return words.Count == 0 ? "The card was declined." : $"The card was declined: {string.Join("; ", words)}.";
    }
}
