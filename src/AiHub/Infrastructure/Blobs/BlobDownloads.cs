using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace AiHub.Infrastructure.Blobs;

/// <summary>How an endpoint serves a blob: a redirect to a short-lived presigned URL on S3, a range-capable stream from disk.</summary>
internal static class BlobDownloads
{
    /// <summary>Long enough to start a large download or a video; short enough that a leaked link soon stops working.</summary>
    public static readonly TimeSpan UrlLifetime = TimeSpan.FromMinutes(15);

    public static async Task<IResult> ServeAsync(IBlobStore store, string key, string downloadName, string contentType, bool inline, CancellationToken ct)
    {
        if (store.PresignedGetUrl(key, downloadName, contentType, UrlLifetime, inline) is { } url)
            return await store.InfoAsync(key, ct) is null ? Gone() : TypedResults.Redirect(url.AbsoluteUri);
        var info = await store.InfoAsync(key, ct);
        var stream = info is null ? null : await store.OpenReadAsync(key, ct);
        if (info is null || stream is null)
            return Gone();
        var file = TypedResults.Stream(stream, contentType, fileDownloadName: null, lastModified: info.LastModified, enableRangeProcessing: true);
        return new WithDisposition(file, Disposition(downloadName, inline));
    }

    static string Disposition(string downloadName, bool inline)
    {
        var disposition = new ContentDispositionHeaderValue(inline ? "inline" : "attachment");
        disposition.SetHttpFileName(downloadName);
        return disposition.ToString();
    }

    static ProblemHttpResult Gone() => TypedResults.Problem(
        statusCode: StatusCodes.Status404NotFound,
        title: "No such file.",
        detail: "The file is no longer stored.",
        type: ProblemTypes.NotFound);

    /// <summary>The file result sets <c>attachment</c> only; a video shown in the page needs <c>inline</c> with its name.</summary>
    sealed class WithDisposition(IResult inner, string disposition) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers.ContentDisposition = disposition;
            return inner.ExecuteAsync(http);
        }
    }
}
