using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Security;

/// <summary>
/// Caps every request body before anyone reads it: small where no sign-in is needed (or where one happens), larger
/// for signed-in callers, and an endpoint's own limit where it declares one.
/// </summary>
internal static class RequestBodyLimits
{
    static readonly string[] SignInPrefixes = ["/api/auth", "/account"];

    /// <summary>The Blazor circuit is its own protocol with its own message limit.</summary>
    const string CircuitPrefix = "/_blazor";

    public static IApplicationBuilder UseRequestBodyLimits(this IApplicationBuilder app)
    {
        var settings = app.ApplicationServices.GetRequiredService<IOptions<SecuritySettings>>().Value;
        return app.Use((http, next) =>
        {
            if (LimitFor(http, settings) is { } limit)
                Apply(http, limit);
            return next(http);
        });
    }

    static long? LimitFor(HttpContext http, SecuritySettings settings)
    {
        var path = http.Request.Path;
        if (SignInPrefixes.Any(p => path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase)))
            return settings.AnonymousMaxBodyBytes;
        var endpoint = http.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<IRequestSizeLimitMetadata>() is { } own)
            return own.MaxRequestBodySize;
        if (path.StartsWithSegments(CircuitPrefix, StringComparison.OrdinalIgnoreCase))
            return settings.MaxBodyBytes;
        var anonymous = endpoint is null
            || endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null
            || endpoint.Metadata.GetMetadata<IAuthorizeData>() is null;
        return anonymous ? settings.AnonymousMaxBodyBytes : settings.MaxBodyBytes;
    }

    static void Apply(HttpContext http, long limit)
    {
        if (http.Request.ContentLength > limit)
            throw TooLarge(limit);
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            feature.MaxRequestBodySize = limit;
        else
            // Hosts without the feature (a test server) still stop reading at the limit.
            http.Request.Body = new LimitedStream(http.Request.Body, limit);
    }

    public static ProblemException TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, "The request body is too large.", $"Send at most {limit / 1024:N0} KB here.");

    /// <summary>Reads through to the body and fails, as the server would, once more than the limit has come.</summary>
    sealed class LimitedStream(Stream inner, long limit) : Stream
    {
        long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        int Count(int read)
        {
            _read += read;
            if (_read > limit)
                throw new BadHttpRequestException($"The request body is larger than {limit / 1024:N0} KB.", StatusCodes.Status413PayloadTooLarge);
            return read;
        }

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
