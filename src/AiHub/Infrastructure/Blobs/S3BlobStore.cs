using System.Buffers;
using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Net.Http.Headers;

namespace AiHub.Infrastructure.Blobs;

/// <summary>Blobs in one bucket of an S3-compatible service, through AWSSDK.S3 (path-style by default, as MinIO and s3rver expect).</summary>
internal sealed class S3BlobStore : IBlobStore, IDisposable
{
    /// <summary>Each part of an upload of unknown length is gathered in one buffer of this size, so memory stays bounded.</summary>
    internal const int PutPartBytes = 8 * 1024 * 1024;

    readonly BlobS3Settings _settings;
    readonly TimeProvider _clock;
    readonly AmazonS3Client _client;
    readonly string _bucket;
    readonly SemaphoreSlim _bucketGate = new(1, 1);
    volatile bool _bucketReady;

    public S3BlobStore(BlobS3Settings settings, TimeProvider clock)
    {
        _settings = settings;
        _clock = clock;
        _bucket = settings.Bucket!;
        var config = new AmazonS3Config
        {
            ForcePathStyle = settings.ForcePathStyle,
            AuthenticationRegion = settings.Region,
            // Checksums only where S3 requires them: most S3-compatible services do not decode the trailing-checksum encoding.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (string.IsNullOrWhiteSpace(settings.ServiceUrl))
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(settings.Region);
        else
            config.ServiceURL = settings.ServiceUrl;
        _client = string.IsNullOrEmpty(settings.AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(settings.AccessKey, settings.SecretKey), config);
    }

    public long MinPartBytes => 5L * 1024 * 1024;

    public async Task<long> PutAsync(string key, Stream content, long maxBytes, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        await EnsureBucketAsync(ct);
        var buffer = ArrayPool<byte>.Shared.Rent(PutPartBytes);
        string? uploadId = null;
        try
        {
            var filled = await FillAsync(content, buffer, ct);
            if (filled > maxBytes)
                throw new BlobTooLargeException(maxBytes);
            if (filled < PutPartBytes)
            {
                using var single = new MemoryStream(buffer, 0, filled, writable: false);
                await _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = key, InputStream = single, AutoCloseStream = false, UseChunkEncoding = false }, ct);
                return filled;
            }
            // Bigger than one buffer: a multipart upload, one buffer at a time, so the whole never sits in memory.
            uploadId = (await _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key }, ct)).UploadId;
            var etags = new List<PartETag>();
            long total = 0;
            while (filled > 0)
            {
                total += filled;
                if (total > maxBytes)
                    throw new BlobTooLargeException(maxBytes);
                using var part = new MemoryStream(buffer, 0, filled, writable: false);
                var response = await _client.UploadPartAsync(new UploadPartRequest
                {
                    BucketName = _bucket, Key = key, UploadId = uploadId, PartNumber = etags.Count + 1,
                    InputStream = part, PartSize = filled, UseChunkEncoding = false,
                }, ct);
                etags.Add(new PartETag(etags.Count + 1, response.ETag));
                filled = await FillAsync(content, buffer, ct);
            }
            await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = uploadId, PartETags = etags }, ct);
            uploadId = null;
            return total;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (uploadId is not null)
                await AbortQuietlyAsync(key, uploadId);
        }
    }

    public async Task<Stream?> OpenReadAsync(string key, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        try
        {
            var response = await _client.GetObjectAsync(_bucket, key, ct);
            return response.ResponseStream;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task<BlobInfo?> InfoAsync(string key, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        try
        {
            var metadata = await _client.GetObjectMetadataAsync(_bucket, key, ct);
            return new BlobInfo(key, metadata.ContentLength, metadata.LastModified is { } modified ? new DateTimeOffset(modified.ToUniversalTime()) : _clock.GetUtcNow());
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public async Task DeleteAsync(string key, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        await _client.DeleteObjectAsync(_bucket, key, ct);
    }

    public async Task DeletePrefixAsync(string prefix, CancellationToken ct)
    {
        BlobKeys.ValidatePrefix(prefix);
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = prefix };
        ListObjectsV2Response page;
        do
        {
            page = await _client.ListObjectsV2Async(request, ct);
            foreach (var item in page.S3Objects ?? [])
                await _client.DeleteObjectAsync(_bucket, item.Key, ct);
            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);
    }

    public async Task<string> StartMultipartAsync(string key, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        await EnsureBucketAsync(ct);
        var response = await _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = key }, ct);
        return response.UploadId;
    }

    public async Task<BlobPart> PutPartAsync(string key, string uploadId, int partNumber, Stream content, long length, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        if (partNumber is < 1 or > 10_000)
            throw new BlobUploadException($"Part numbers go from 1 to 10,000; {partNumber} is out of range.");
        // The SDK sends a part only from a seekable stream (a request body is not): such a part waits in a temporary file, not in memory.
        await using var spooled = content.CanSeek ? null : await SpoolAsync(content, partNumber, length, ct);
        var source = spooled ?? content;
        if (spooled is null && source.Length - source.Position != length)
            throw new BlobUploadException($"Part {partNumber} has {source.Length - source.Position:N0} bytes, not the {length:N0} announced.");
        try
        {
            var response = await _client.UploadPartAsync(new UploadPartRequest
            {
                BucketName = _bucket, Key = key, UploadId = uploadId, PartNumber = partNumber,
                InputStream = source, UseChunkEncoding = false,
            }, ct);
            return new BlobPart(partNumber, response.ETag, length);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload")
        {
            throw new BlobUploadException("No such upload for this key: it was completed, aborted or never started.");
        }
    }

    public async Task<IReadOnlyList<BlobPart>> ListPartsAsync(string key, string uploadId, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        var parts = new List<BlobPart>();
        var request = new ListPartsRequest { BucketName = _bucket, Key = key, UploadId = uploadId };
        try
        {
            ListPartsResponse page;
            do
            {
                page = await _client.ListPartsAsync(request, ct);
                parts.AddRange((page.Parts ?? []).Select(p => new BlobPart(p.PartNumber ?? 0, p.ETag, p.Size ?? 0)));
                request.PartNumberMarker = page.NextPartNumberMarker?.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            while (page.IsTruncated == true);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload" || e.StatusCode == HttpStatusCode.NotFound)
        {
            throw new BlobUploadException("No such upload for this key: it was completed, aborted or never started.");
        }
        return parts.OrderBy(p => p.Number).ToList();
    }

    public async Task<long> CompleteMultipartAsync(string key, string uploadId, IReadOnlyList<BlobPart> parts, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        if (parts.Count == 0)
            throw new BlobUploadException("An upload completes with at least one part.");
        var stored = (await ListPartsAsync(key, uploadId, ct)).ToDictionary(p => p.Number);
        for (var i = 0; i < parts.Count; i++)
        {
            if (!stored.TryGetValue(parts[i].Number, out var have) || have.ETag.Trim('"') != parts[i].ETag.Trim('"'))
                throw new BlobUploadException($"Part {parts[i].Number} was not received, or was received with other content.");
            // S3 refuses this too, but not every S3-compatible service does: the same answer everywhere.
            if (i < parts.Count - 1 && have.Size < MinPartBytes)
                throw new BlobUploadException($"Part {have.Number} has {have.Size:N0} bytes; every part but the last needs at least {MinPartBytes:N0}.");
        }
        try
        {
            await _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
            {
                BucketName = _bucket, Key = key, UploadId = uploadId,
                PartETags = parts.Select(p => new PartETag(p.Number, p.ETag)).ToList(),
            }, ct);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode is "NoSuchUpload" or "InvalidPart" or "InvalidPartOrder" or "EntityTooSmall")
        {
            throw new BlobUploadException($"The upload cannot complete: {e.ErrorCode}.");
        }
        return (await InfoAsync(key, ct))?.Size ?? throw new BlobUploadException("The completed upload is not in the bucket.");
    }

    public async Task AbortMultipartAsync(string key, string uploadId, CancellationToken ct)
    {
        BlobKeys.Validate(key);
        try
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = uploadId }, ct);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == "NoSuchUpload" || e.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    public Uri? PresignedGetUrl(string key, string downloadName, string contentType, TimeSpan lifetime, bool inline = false)
    {
        BlobKeys.Validate(key);
        var disposition = new ContentDispositionHeaderValue(inline ? "inline" : "attachment");
        disposition.SetHttpFileName(downloadName);
        var request = new GetPreSignedUrlRequest
        {
            BucketName = _bucket,
            Key = key,
            Verb = HttpVerb.GET,
            Expires = _clock.GetUtcNow().Add(lifetime).UtcDateTime,
            Protocol = _settings.ServiceUrl?.StartsWith("http://", StringComparison.OrdinalIgnoreCase) == true ? Protocol.HTTP : Protocol.HTTPS,
        };
        request.ResponseHeaderOverrides.ContentType = contentType;
        request.ResponseHeaderOverrides.ContentDisposition = disposition.ToString();
        return new Uri(_client.GetPreSignedURL(request));
    }

    /// <summary>Whether the bucket answers: what the readiness check asks.</summary>
    public async Task<bool> BucketAnswersAsync(CancellationToken ct)
    {
        await EnsureBucketAsync(ct);
        await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, MaxKeys = 1 }, ct);
        return true;
    }

    public void Dispose()
    {
        _client.Dispose();
        _bucketGate.Dispose();
    }

    async Task EnsureBucketAsync(CancellationToken ct)
    {
        if (_bucketReady || !_settings.CreateBucket)
            return;
        await _bucketGate.WaitAsync(ct);
        try
        {
            if (_bucketReady)
                return;
            try
            {
                await _client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket }, ct);
            }
            catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
            {
            }
            _bucketReady = true;
        }
        finally
        {
            _bucketGate.Release();
        }
    }

    async Task AbortQuietlyAsync(string key, string uploadId)
    {
        try
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = key, UploadId = uploadId }, CancellationToken.None);
        }
        catch (Exception e) when (e is AmazonServiceException or AmazonClientException or HttpRequestException)
        {
            // The upload was failing already; an unaborted one only costs storage until the bucket's lifecycle rule removes it.
        }
    }

    static async Task<FileStream> SpoolAsync(Stream content, int partNumber, long length, CancellationToken ct)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.None,
            Options = FileOptions.DeleteOnClose | FileOptions.Asynchronous,
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var file = new FileStream(Path.Combine(Path.GetTempPath(), "aihub-part-" + Guid.NewGuid().ToString("N")), options);
        try
        {
            var buffer = ArrayPool<byte>.Shared.Rent(81_920);
            try
            {
                long total = 0;
                int read;
                while ((read = await content.ReadAsync(buffer, ct)) > 0)
                {
                    total += read;
                    if (total > length)
                        break;
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                if (total != length)
                    throw new BlobUploadException($"Part {partNumber} has {(total > length ? "more" : total.ToString("N0", System.Globalization.CultureInfo.InvariantCulture))} bytes, not the {length:N0} announced.");
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            file.Position = 0;
            return file;
        }
        catch
        {
            await file.DisposeAsync();
            throw;
        }
    }

    static async Task<int> FillAsync(Stream content, byte[] buffer, CancellationToken ct)
    {
        var filled = 0;
        int read;
        while (filled < PutPartBytes && (read = await content.ReadAsync(buffer.AsMemory(filled, PutPartBytes - filled), ct)) > 0)
            filled += read;
        return filled;
    }
}
