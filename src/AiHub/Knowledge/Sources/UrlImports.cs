using AiHub.Credits.Plans;
using System.Net;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Outbound;
using AiHub.Knowledge.Ingestion;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Sources;

/// <summary>
/// Fetches a page or file a member asked to import, through the outbound policy: every connection's resolved address
/// is checked (so a redirect or a DNS answer that turns inward is refused), redirects stay on the same host, and the
/// body is streamed to the blob store under a size limit within a time limit.
/// </summary>
internal sealed class UrlImports(IHttpClientFactory clients, OutboundPolicy policy, IOptions<KnowledgeSettings> settings)
{
    const int MaxRedirects = 5;

    /// <summary>Refuses at once an address that could never be fetched (not http(s), a literal closed address); names are checked at fetch.</summary>
    public Uri Validate(string? url)
    {
        var uri = Parse(url);
        if (policy.Refuse(uri) is { } why)
            throw new ProblemException(StatusCodes.Status400BadRequest, "The address cannot be imported.", "The address " + why, ProblemTypes.ImportRefused);
        return uri;
    }

    static Uri Parse(string? url)
    {
        if (string.IsNullOrWhiteSpace(url))
            throw ProblemException.Invalid("url", "Give the address of the page or file to import.");
        if (url.Length > KnowledgeModelConfiguration.UrlLength
            || !Uri.TryCreate(url.Trim(), UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw ProblemException.Invalid("url", "The address is an absolute http or https URL of at most 2,048 characters.");
        return uri;
    }

    /// <summary>Streams the resource into <paramref name="blobKey"/>; returns its size. Failures are <see cref="IngestionException"/>s in words for the member.</summary>
    public async Task<long> FetchAsync(Uri url, IBlobStore blobs, string blobKey, long maxBytes, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(settings.Value.ImportTimeout);
        var client = clients.CreateClient(OutboundPolicy.ClientName);
        var limit = Math.Min(maxBytes, settings.Value.ImportMaxBytes);
        var current = url;
        try
        {
            for (var hop = 0; ; hop++)
            {
                if (policy.Refuse(current) is { } why)
                    throw new IngestionException($"The address {why}");
                using var request = new HttpRequestMessage(HttpMethod.Get, current);
                request.Headers.UserAgent.ParseAdd("AiHub-Import/1.0");
                request.Headers.Accept.ParseAdd("text/html,application/pdf,text/plain,text/markdown,text/csv,*/*;q=0.5");
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    var next = location.IsAbsoluteUri ? location : new Uri(current, location);
                    if (hop >= MaxRedirects)
                        throw new IngestionException("The address redirects too many times.");
                    if (!string.Equals(next.IdnHost, current.IdnHost, StringComparison.OrdinalIgnoreCase))
                        throw new IngestionException($"The address redirects to another site ({next.IdnHost}); import that address instead.");
                    current = next;
                    continue;
                }
                if (response.StatusCode is HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError)
                    throw new IngestionException($"The site answered {(int)response.StatusCode}; the import will be tried again.", transient: true);
                if (!response.IsSuccessStatusCode)
                    throw new IngestionException($"The site answered {(int)response.StatusCode} {response.ReasonPhrase}.");
                if (response.Content.Headers.ContentLength > limit)
                    throw new IngestionException($"The file is {QuotaService.Bytes(response.Content.Headers.ContentLength.Value)}; imports can be at most {QuotaService.Bytes(limit)}.");
                await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                try
                {
                    return await blobs.PutAsync(blobKey, body, limit, timeout.Token);
                }
                catch (BlobTooLargeException)
                {
                    throw new IngestionException($"The file is larger than the {QuotaService.Bytes(limit)} an import can be.");
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new IngestionException($"The site did not send the file within {settings.Value.ImportTimeout.TotalSeconds:N0} seconds.", transient: true);
        }
        catch (HttpRequestException e) when (OutboundRefusedException.Caused(e))
        {
            throw new IngestionException("The address points to a network this deployment does not let organisations reach.");
        }
        catch (HttpRequestException)
        {
            throw new IngestionException("The site could not be reached; the import will be tried again.", transient: true);
        }
    }
}
