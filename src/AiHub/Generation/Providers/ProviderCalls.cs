using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Text.Json;
using AiHub.Infrastructure.Outbound;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AiHub.Generation.Providers;

/// <summary>The HTTP side shared by the generation providers: one named client per provider, and how a provider's error becomes a job state.</summary>
internal static class ProviderCalls
{
    public const string ClientPrefix = "generation-provider:";

    public static string ClientName(GenerationEndpoint endpoint) => ClientPrefix + endpoint.Name;

    /// <summary>SDK options over the provider's named client; retries are the job's, so the SDK makes none.</summary>
    public static T Options<T>(T options, GenerationEndpoint endpoint, IHttpClientFactory clients) where T : ClientPipelineOptions
    {
        options.Transport = new HttpClientPipelineTransport(clients.CreateClient(ClientName(endpoint)));
        options.RetryPolicy = new ClientRetryPolicy(0);
        // The named client's timeout (Generation:RequestTimeout) bounds each call; the SDK's own 100 s would cut an image call short.
        options.NetworkTimeout = Timeout.InfiniteTimeSpan;
        return options;
    }

    public static ApiKeyCredential Credential(GenerationEndpoint endpoint) => new(endpoint.ApiKey ?? "none");

    /// <summary>
    /// A provider's error answer as a job state: a moderation refusal, or another final 4xx, fails the job; a 408, 409,
    /// 429 or 5xx throws so that the job tries again.
    /// </summary>
    /// <exception cref="HttpRequestException">The answer is one a later attempt may not get.</exception>
    public static ProviderJob Failed(int status, BinaryData? body, string? providerJobId)
    {
        if (status is 408 or 409 or 429 or >= 500 or < 400)
            throw new HttpRequestException($"The provider answered {status}.", null, (HttpStatusCode)status);
        var (code, message) = ReadError(body);
        // The provider's own words for a bad key may echo part of it.
        if (status is 401 or 403 && !IsRefusal(code, message))
            return new(providerJobId, ProviderJobState.Failed, 0, [], new($"The provider refused this deployment's API key ({status}).", false));
        return new(providerJobId, ProviderJobState.Failed, 0, [], new(message ?? $"The provider answered {status}.", IsRefusal(code, message)));
    }

    public static bool IsRefusal(string? code, string? message) =>
        code is "moderation_blocked" or "content_policy_violation" or "content_filter"
        || message?.Contains("safety system", StringComparison.OrdinalIgnoreCase) == true
        || message?.Contains("moderation system", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>OpenAI's <c>{"error": {"code", "message"}}</c>, or a bare <c>{"code", "message"}</c> (a video's error).</summary>
    public static (string? Code, string? Message) ReadError(BinaryData? body)
    {
        if (body is null || body.ToMemory().IsEmpty)
            return (null, null);
        try
        {
            using var document = JsonDocument.Parse(body);
            var error = document.RootElement;
            if (error.ValueKind == JsonValueKind.Array && error.GetArrayLength() > 0)
                error = error[0];
            if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("error", out var inner))
                error = inner;
            if (error.ValueKind == JsonValueKind.String)
                return (null, error.GetString());
            if (error.ValueKind != JsonValueKind.Object)
                return (null, null);
            return (String(error, "code"), String(error, "message"));
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    public static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number => value.GetRawText(),
            _ => null,
        } : null;

    /// <summary>A transport failure inside the SDK (status 0) as the <see cref="HttpRequestException"/> the job retries.</summary>
    public static HttpRequestException Transport(ClientResultException e) =>
        e.InnerException as HttpRequestException ?? new HttpRequestException("The provider could not be reached.", e);

    public static (int Width, int Height)? Size(string? size) =>
        size?.Split('x') is [var w, var h] && int.TryParse(w, out var width) && int.TryParse(h, out var height) && width > 0 && height > 0
            ? (width, height)
            : null;

    /// <summary>An image's type from its first bytes; PNG when it cannot tell (what every OpenAI image model makes by default).</summary>
    public static string ImageType(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]) ? "image/jpeg"
        : bytes.Length >= 12 && bytes[..4].SequenceEqual("RIFF"u8) && bytes.Slice(8, 4).SequenceEqual("WEBP"u8) ? "image/webp"
        : "image/png";
}

/// <summary>The named clients of generation providers: a deployment's trusted base URL, each call bounded by <see cref="GenerationSettings.RequestTimeout"/>.</summary>
internal sealed class GenerationHttpClients(IOptions<GenerationSettings> settings) : IConfigureNamedOptions<HttpClientFactoryOptions>
{
    public void Configure(HttpClientFactoryOptions options) { }

    public void Configure(string? name, HttpClientFactoryOptions options)
    {
        if (name is null || !name.StartsWith(ProviderCalls.ClientPrefix, StringComparison.Ordinal))
            return;
        options.HttpClientActions.Add(client => client.Timeout = settings.Value.RequestTimeout);
        options.HttpMessageHandlerBuilderActions.Add(builder => builder.PrimaryHandler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            // A provider API does not redirect; following one would carry the request somewhere the deployment never named.
            AllowAutoRedirect = false,
        });
    }
}
