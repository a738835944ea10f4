using System.ClientModel;
using System.Text.RegularExpressions;
using AiHub.Chat.Providers;
using AiHub.Generation.Jobs;
using AiHub.Infrastructure.Outbound;
using OpenAI;
using OpenAI.Images;

// The SDK marks the gpt-image fields (edit quality, the answer's size and quality) experimental; they are OpenAI's published API.
#pragma warning disable OPENAI001

namespace AiHub.Generation.Providers;

/// <summary>
/// OpenAI's and OpenAI-compatible images APIs through the SDK's <see cref="ImageClient"/>: generations, and edits when the
/// job starts from an image. gpt-image models answer with the files inline; DALL·E with links, downloaded afterwards.
/// </summary>
internal sealed partial class OpenAiImageProvider(IHttpClientFactory clients, ILogger<OpenAiImageProvider> log) : IGenerationProvider
{
    public bool Serves(GenerationEndpoint endpoint, GenerationKind kind) =>
        kind == GenerationKind.Image && endpoint.Kind is ProviderKinds.OpenAI or ProviderKinds.OpenAICompatible;

    public async Task<ProviderJob> StartAsync(GenerationEndpoint endpoint, GenerationCall call, CancellationToken ct)
    {
        var client = new ImageClient(call.Model, ProviderCalls.Credential(endpoint),
            ProviderCalls.Options(new OpenAIClientOptions { Endpoint = endpoint.BaseUrl }, endpoint, clients));
        // Typed nulls: a bare null would go through the SDK's implicit conversion from string, which throws.
        var size = ProviderCalls.Size(call.Size) is var (width, height) ? new GeneratedImageSize(width, height) : default(GeneratedImageSize?);
        var quality = call.Quality is { Length: > 0 } q ? new GeneratedImageQuality(q) : default(GeneratedImageQuality?);
        GeneratedImageCollection images;
        try
        {
            if (call.InputImage is { } input)
            {
                await using var image = await input.OpenAsync(ct);
                images = await client.GenerateImageEditsAsync(image, input.FileName, call.Prompt, call.Count,
                    new ImageEditOptions { Size = size, Quality = quality }, ct);
            }
            else
                images = await client.GenerateImagesAsync(call.Prompt, call.Count, new ImageGenerationOptions { Size = size, Quality = quality }, ct);
        }
        catch (ClientResultException e) when (e.Status == 0)
        {
            throw ProviderCalls.Transport(e);
        }
        catch (ClientResultException e)
        {
            LogFailed(endpoint.Name, call.InputImage is null ? "generation" : "edit", e.Status);
            return ProviderCalls.Failed(e.Status, e.GetRawResponse()?.Content, null);
        }

        var outputs = new List<ProviderOutput>();
        foreach (var image in images)
        {
            if (image.ImageBytes is { } bytes && !bytes.IsEmpty)
                outputs.Add(new ProviderOutput(outputs.Count, ProviderCalls.ImageType(bytes.ToMemory().Span), Bytes: bytes.ToArray()));
            else if (image.ImageUri is { IsAbsoluteUri: true } url && (url.Scheme == Uri.UriSchemeHttps || url.Scheme == Uri.UriSchemeHttp))
                outputs.Add(new ProviderOutput(outputs.Count, "image/png", Url: url));
        }
        if (outputs.Count == 0)
            return new(null, ProviderJobState.Failed, 0, [], new("The provider answered without an image.", false));
        var made = images.Size?.ToString() is { } said && SizePattern().IsMatch(said) ? said : null;
        return new(null, ProviderJobState.Completed, 100, outputs, null, Size: made, Quality: images.Quality?.ToString());
    }

    public Task<ProviderJob> GetAsync(GenerationEndpoint endpoint, string providerJobId, CancellationToken ct) =>
        throw new InvalidOperationException("An image call answers at once; there is no job to poll.");

    /// <remarks>
    /// A link on the provider's own host comes through its client; any other host goes through the outbound policy, so a
    /// provider (or whoever answers in its name) cannot make this deployment fetch an internal address.
    /// </remarks>
    public async Task<Stream> OpenOutputAsync(GenerationEndpoint endpoint, string? providerJobId, ProviderOutput output, CancellationToken ct)
    {
        var url = output.Url ?? throw new InvalidOperationException("The image came inline; there is nothing to download.");
        var own = string.Equals(url.IdnHost, endpoint.BaseUrl.IdnHost, StringComparison.OrdinalIgnoreCase) && url.Port == endpoint.BaseUrl.Port;
        var http = clients.CreateClient(own ? ProviderCalls.ClientName(endpoint) : OutboundPolicy.ClientName);
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e) when (OutboundRefusedException.Caused(e))
        {
            throw new GenerationFailure(GenerationErrors.ProviderFailed,
                "The provider's image link points to an address this deployment does not fetch (a private or reserved network).");
        }
        if (response.IsSuccessStatusCode)
            return await response.Content.ReadAsStreamAsync(ct);
        var status = (int)response.StatusCode;
        response.Dispose();
        if (status is 408 or 429 or >= 500)
            throw new HttpRequestException($"The provider's image link answered {status}.", null, response.StatusCode);
        throw new GenerationFailure(GenerationErrors.ProviderFailed, $"The provider's image link answered {status}; the image is gone or the link expired.");
    }

    public Task CancelAsync(GenerationEndpoint endpoint, string providerJobId, CancellationToken ct) => Task.CompletedTask;

    [GeneratedRegex(@"^\d+x\d+$")]
    private static partial Regex SizePattern();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Image provider {Provider}: the {Call} answered {Status}")]
    partial void LogFailed(string provider, string call, int status);
}
