using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;

namespace AiHub.Infrastructure.Errors;

/// <summary>
/// A path no endpoint has answers 404 for every method. Routing answers 405 whenever any candidate for the path takes
/// another method, and catch-all routes (the static files' fallback, which takes GET for any path) are candidates for
/// every path; so a 405 stands only when a route that names the path takes another method.
/// </summary>
internal static class UnknownPaths
{
    // The endpoint routing puts on a request whose path matched but whose method did not.
    const string MethodNotAllowedEndpoint = "405 HTTP Method Not Supported";

    public static IApplicationBuilder UseNotFoundForUnknownPaths(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        if (http.GetEndpoint() is { DisplayName: MethodNotAllowedEndpoint })
        {
            var allowed = Routes.Of(http.RequestServices).MethodsFor(http);
            http.SetEndpoint(allowed.Count == 0 ? null : MethodNotAllowed(allowed));
        }
        await next(http);
    });

    // Routing's own 405 lists the catch-all's methods too; the Allow header names only the methods the path takes.
    static Endpoint MethodNotAllowed(IReadOnlyCollection<string> allowed) => new(http =>
    {
        http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
        http.Response.Headers.Allow = string.Join(", ", allowed);
        return Task.CompletedTask;
    }, EndpointMetadataCollection.Empty, MethodNotAllowedEndpoint);

    /// <summary>The routes that name their path (not a bare catch-all), built once per application.</summary>
    sealed class Routes
    {
        static readonly ConditionalWeakTable<EndpointDataSource, Routes> BySource = new();

        readonly IReadOnlyList<(TemplateMatcher Matcher, RoutePattern Pattern, IReadOnlyList<string> Methods)> _routes;
        readonly ParameterPolicyFactory _policies;

        Routes(IServiceProvider services)
        {
            _policies = services.GetRequiredService<ParameterPolicyFactory>();
            _routes = services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
                .Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>() is { HttpMethods.Count: > 0 } && !StartsWithCatchAll(e.RoutePattern))
                .Select(e => (new TemplateMatcher(new RouteTemplate(e.RoutePattern), new RouteValueDictionary(e.RoutePattern.Defaults)), e.RoutePattern,
                    e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods))
                .ToList();
        }

        public static Routes Of(IServiceProvider services) =>
            BySource.GetValue(services.GetRequiredService<EndpointDataSource>(), _ => new Routes(services));

        // "{**path}" names no path; "/api/admin/models/{provider}/{**model}" names everything under its prefix.
        static bool StartsWithCatchAll(RoutePattern pattern) =>
            pattern.PathSegments is [{ Parts: [RoutePatternParameterPart { IsCatchAll: true }] }, ..];

        /// <summary>The methods of the routes that name this request's path; none when no route does.</summary>
        public List<string> MethodsFor(HttpContext http) =>
            _routes.Where(r => Matches(r.Matcher, r.Pattern, http)).SelectMany(r => r.Methods).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal).ToList();

        bool Matches(TemplateMatcher matcher, RoutePattern pattern, HttpContext http)
        {
            var values = new RouteValueDictionary();
            if (!matcher.TryMatch(http.Request.Path, values))
                return false;
            foreach (var (name, references) in pattern.ParameterPolicies)
            {
                var parameter = pattern.GetParameter(name);
                foreach (var reference in references)
                    if (_policies.Create(parameter, reference) is IRouteConstraint constraint
                        && !constraint.Match(http, null, name, values, RouteDirection.IncomingRequest))
                        return false;
            }
            return true;
        }
    }
}
