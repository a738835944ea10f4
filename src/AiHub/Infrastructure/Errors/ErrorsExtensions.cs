using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;

namespace AiHub.Infrastructure.Errors;

internal static class ErrorsExtensions
{
    public static IServiceCollection AddProblemResponses(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            context.ProblemDetails.Instance ??= context.HttpContext.Request.Path;
            context.ProblemDetails.Extensions["traceId"] = Activity.Current?.TraceId.ToString() ?? context.HttpContext.TraceIdentifier;
            context.ProblemDetails.Extensions["requestId"] = context.HttpContext.TraceIdentifier;
        });
        // After the default writer, which keeps JSON clients' answers as they were; this one answers the rest.
        services.AddSingleton<IProblemDetailsWriter, ApiProblemWriter>();
        services.AddExceptionHandler<ProblemDetailsExceptionHandler>();
        // Minimal APIs then report a malformed body as an exception with its reason instead of a bare 400.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        return services;
    }

    public static IApplicationBuilder UseProblemResponses(this IApplicationBuilder app)
    {
        app.UseExceptionHandler();
        // A browser asking for a page gets the UI's page for the status; every other bodiless error becomes a ProblemDetails.
        app.UseWhen(http => WantsPage(http.Request), page => page.UseStatusCodePagesWithReExecute(StatusPagePath, createScopeForStatusCodePages: true));
        app.UseWhen(http => !WantsPage(http.Request), api => api.UseStatusCodePages(WriteProblem));
        return app;
    }

    static async Task WriteProblem(StatusCodeContext status)
    {
        var http = status.HttpContext;
        var problems = http.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = { Status = http.Response.StatusCode, Detail = DetailFor(http), Type = TypeFor(http.Response.StatusCode) },
        });
    }

    const string StatusPagePath = "/status/{0}";

    static readonly string[] ApiPrefixes = ["/api", "/v1", "/ws", "/health", "/openapi", "/mcp", "/metrics", "/_blazor", "/_framework", "/_content"];

    /// <summary>A browser asking for a page of the UI: it gets a page for an error, every other request a ProblemDetails.</summary>
    public static bool WantsPage(HttpRequest request) =>
        HttpMethods.IsGet(request.Method)
        && !request.HttpContext.WebSockets.IsWebSocketRequest
        && !ApiPrefixes.Any(p => request.Path.StartsWithSegments(p, StringComparison.OrdinalIgnoreCase))
        && request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase));

    // A bodiless 403 is the authorization middleware refusing a permission.
    static string? TypeFor(int status) => status == StatusCodes.Status403Forbidden ? ProblemTypes.Forbidden : null;

    static string? DetailFor(HttpContext http) => http.Response.StatusCode switch
    {
        StatusCodes.Status401Unauthorized => "This needs credentials: send a valid access token as Authorization: Bearer …, or an API key.",
        StatusCodes.Status403Forbidden => "You do not have the permission this needs.",
        StatusCodes.Status404NotFound => $"No resource matches {http.Request.Method} {http.Request.Path}.",
        StatusCodes.Status405MethodNotAllowed => $"{http.Request.Method} is not allowed on {http.Request.Path}.",
        StatusCodes.Status415UnsupportedMediaType => "The request's Content-Type is not supported here; send application/json.",
        _ => null,
    };
}
