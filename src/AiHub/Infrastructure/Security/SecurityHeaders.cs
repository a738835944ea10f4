using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Security;

/// <summary>The headers every response carries, whatever wrote it: pages, API answers and errors alike.</summary>
internal static class SecurityHeaders
{
    /// <summary>The reference UI at <c>/docs</c> configures itself with an inline script.</summary>
    const string ApiReferencePath = "/docs";

    const string MachineApiPath = "/v1";
    const string MachineApiPolicy = "default-src 'none'; frame-ancestors 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app)
    {
        var settings = app.ApplicationServices.GetRequiredService<IOptions<SecuritySettings>>().Value;
        var images = string.Join(' ', ["'self'", "data:", .. settings.ImageSources]);
        // A recording plays from a presigned URL of the bucket when files live on S3; read at the first response, after start-up has validated the settings.
        var blobOptions = app.ApplicationServices.GetRequiredService<IOptions<Blobs.BlobSettings>>();
        var media = new Lazy<string>(() =>
        {
            var blobs = blobOptions.Value;
            return string.Join(' ', ["'self'", .. blobs.Provider == Blobs.BlobProvider.S3 ? blobs.S3.DownloadOrigins() : []]);
        });
        return app.Use((http, next) =>
        {
            http.Response.OnStarting(() =>
            {
                var headers = http.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                headers.XFrameOptions = "DENY";
                headers["Referrer-Policy"] = "strict-origin-when-cross-origin";
                // The machine API's answers are never pages: the strictest policy, the same for every answer.
                headers.ContentSecurityPolicy = http.Request.Path.StartsWithSegments(MachineApiPath) ? MachineApiPolicy : Policy(http.Request, images, media.Value);
                return Task.CompletedTask;
            });
            return next(http);
        });
    }

    /// <remarks>
    /// Scripts only from AiHub itself, so injected markup cannot run; images only from AiHub and data: URLs, so a chat
    /// answer cannot make the browser call another host. MudBlazor sets inline styles, and the Blazor circuit is a
    /// WebSocket to this same host.
    /// </remarks>
    static string Policy(HttpRequest request, string images, string media)
    {
        var scripts = request.Path.StartsWithSegments(ApiReferencePath, StringComparison.OrdinalIgnoreCase) ? "'self' 'unsafe-inline'" : "'self'";
        var socket = (request.IsHttps ? "wss://" : "ws://") + request.Host.ToUriComponent();
        var connect = Uri.IsWellFormedUriString(socket, UriKind.Absolute) && request.Host.HasValue ? "'self' " + socket : "'self'";
        return $"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src {images}; media-src {media}; font-src 'self' data:; " +
               $"connect-src {connect}; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";
    }

    /// <summary>Behind a reverse proxy, takes the client's address, scheme and host from the proxy's headers, when the operator says so.</summary>
    public static IApplicationBuilder UseForwardedHeadersWhenEnabled(this IApplicationBuilder app)
    {
        var settings = app.ApplicationServices.GetRequiredService<IOptions<SecuritySettings>>().Value;
        if (!settings.ForwardedHeaders)
            return app;
        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor
                | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedProto
                | Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedHost,
        };
        if (settings.TrustedProxies.Contains("*"))
        {
            options.KnownIPNetworks.Clear();
            options.KnownProxies.Clear();
        }
        else
        {
            foreach (var proxy in settings.TrustedProxies)
            {
                if (IPAddress.TryParse(proxy, out var address))
                    options.KnownProxies.Add(address);
                else
                    options.KnownIPNetworks.Add(System.Net.IPNetwork.Parse(proxy));
            }
        }
        return app.UseForwardedHeaders(options);
    }
}
