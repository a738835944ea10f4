namespace AiHub.Infrastructure.Blobs;

/// <summary>One uploaded part of a multipart upload.</summary>
internal sealed record BlobPart(int Number, string ETag, long Size);

internal sealed record BlobInfo(string Key, long Size, DateTimeOffset LastModified);

/// <summary>
/// Where files live: local disk when embedded, S3-compatible storage in a cluster. Content always streams; nothing is
/// held whole in memory. Keys are relative paths such as <c>orgs/{orgId}/sources/{sourceId}/original</c>.
/// </summary>
internal interface IBlobStore
{
    /// <summary>Stores <paramref name="content"/> under <paramref name="key"/>, replacing what was there; returns the bytes written.</summary>
    /// <exception cref="BlobTooLargeException">The content went past <paramref name="maxBytes"/>; nothing is kept.</exception>
    Task<long> PutAsync(string key, Stream content, long maxBytes, CancellationToken ct);

    /// <summary>The content, or null when there is no such blob. On disk the stream can seek (range requests need it).</summary>
    Task<Stream?> OpenReadAsync(string key, CancellationToken ct);

    Task<BlobInfo?> InfoAsync(string key, CancellationToken ct);

    /// <summary>Removes the blob; a missing blob is not an error.</summary>
    Task DeleteAsync(string key, CancellationToken ct);

    /// <summary>Removes every blob whose key starts with <paramref name="prefix"/>.</summary>
    Task DeletePrefixAsync(string prefix, CancellationToken ct);

    /// <summary>Starts a multipart upload and returns its id. Parts other than the last are at least <see cref="MinPartBytes"/>.</summary>
    Task<string> StartMultipartAsync(string key, CancellationToken ct);

    /// <summary>Stores one part (1-based); sending the same part again replaces it, so an interrupted part can be resent.</summary>
    Task<BlobPart> PutPartAsync(string key, string uploadId, int partNumber, Stream content, long length, CancellationToken ct);

    /// <summary>The parts received so far, in order: what a client resuming an upload asks for.</summary>
    Task<IReadOnlyList<BlobPart>> ListPartsAsync(string key, string uploadId, CancellationToken ct);

    /// <summary>Joins the parts into the blob; returns its size.</summary>
    Task<long> CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct);

    Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct);

    /// <summary>The smallest part the store accepts other than the last (S3: 5 MiB).</summary>
    long MinPartBytes { get; }

    /// <summary>
    /// A time-limited URL the browser can fetch the blob from directly (S3), or null when downloads go through AiHub
    /// (disk), which then serves <see cref="OpenReadAsync"/> with range support. <paramref name="inline"/> asks the
    /// browser to show the blob (a video player) rather than save it.
    /// </summary>
    Uri? PresignedGetUrl(string key, string downloadName, string contentType, TimeSpan lifetime, bool inline = false);
}

internal sealed class BlobTooLargeException(long maxBytes)
    : Exception($"The content is larger than the {maxBytes:N0} bytes allowed.")
{
    public long MaxBytes { get; } = maxBytes;
}
