using System.ComponentModel.DataAnnotations;

namespace AiHub.Infrastructure.Blobs;

internal enum BlobProvider
{
    Disk,
    S3,
}

internal sealed class BlobSettings : IValidatableObject
{
    public const string Section = "Blobs";

    /// <summary><c>Disk</c> when embedded; <c>S3</c> for any S3-compatible storage (AWS S3, DigitalOcean Spaces, Supabase, MinIO, R2).</summary>
    public BlobProvider Provider { get; set; } = BlobProvider.Disk;

    /// <summary>The disk store's folder. Unset: <c>blobs</c> beside the embedded database (<c>data/blobs</c>).</summary>
    public string? Path { get; set; }

    public BlobS3Settings S3 { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Provider != BlobProvider.S3)
            yield break;
        if (string.IsNullOrWhiteSpace(S3.Bucket))
            yield return new ValidationResult("is required when Blobs:Provider is S3", ["S3:Bucket"]);
        if (S3.ServiceUrl is { Length: > 0 } url
            && !(Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            yield return new ValidationResult("must be an absolute http or https URL (e.g. https://nyc3.digitaloceanspaces.com)", ["S3:ServiceUrl"]);
        if (string.IsNullOrWhiteSpace(S3.Region))
            yield return new ValidationResult("must not be empty (e.g. us-east-1)", ["S3:Region"]);
        if (string.IsNullOrEmpty(S3.AccessKey) != string.IsNullOrEmpty(S3.SecretKey))
            yield return new ValidationResult("AccessKey and SecretKey are set together, or neither (then the AWS default credentials apply)",
                [string.IsNullOrEmpty(S3.AccessKey) ? "S3:AccessKey" : "S3:SecretKey"]);
    }
}

internal sealed class BlobS3Settings
{
    /// <summary>The endpoint of an S3-compatible service; unset for AWS S3 itself, which the region then decides.</summary>
    public string? ServiceUrl { get; set; }

    public string? Bucket { get; set; }

    public string Region { get; set; } = "us-east-1";

    public string? AccessKey { get; set; }

    public string? SecretKey { get; set; }

    /// <summary>Bucket in the path rather than the host name: what MinIO and most self-hosted services expect.</summary>
    public bool ForcePathStyle { get; set; } = true;

    /// <summary>Creates the bucket on first use when it does not exist (for test servers and fresh MinIO installs).</summary>
    public bool CreateBucket { get; set; }

    /// <summary>Where a presigned download points, for the page's content policy: the service (and its bucket sub-domains), or AWS S3's hosts.</summary>
    public IReadOnlyList<string> DownloadOrigins()
    {
        if (!Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var service))
            return ["https://*.amazonaws.com"];
        var origin = service.GetLeftPart(UriPartial.Authority);
        return ForcePathStyle ? [origin] : [origin, $"{service.Scheme}://*.{service.Authority}"];
    }
}
