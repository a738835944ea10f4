using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace AiHub.Organizations.ApiKeys;

/// <summary>Marks an endpoint that only an API key may call (credits spent by outside services); a user's token is refused there.</summary>
internal sealed class ApiKeysOnlyMetadata
{
    public static readonly ApiKeysOnlyMetadata Instance = new();
}

/// <summary>
/// Tells API clients (a Custom GPT action, a generated client) which operations take an organisation API key: the ones
/// <see cref="ApiKeyEndpointGuard"/> lets a key into, beside the user's bearer token, or alone where only keys may call.
/// </summary>
internal static partial class ApiKeyOpenApi
{
    public const string Scheme = "ApiKey";

    const string UserScheme = "Bearer";

    public static void AddApiKeySecurity(this OpenApiOptions options) =>
        // A document transformer runs after every operation transformer, so it sees the user's requirement already set.
        options.AddDocumentTransformer((document, context, _) =>
        {
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[Scheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "ahk_…",
                Description = "An organisation API key (ahk_…), made on the organisation's API keys page, sent as Authorization: Bearer ahk_…. It acts in its own organisation with its permissions.",
            };
            foreach (var description in context.DescriptionGroups.SelectMany(g => g.Items))
            {
                var metadata = description.ActionDescriptor.EndpointMetadata;
                if (!metadata.OfType<IAuthorizeData>().Any() || metadata.OfType<IAllowAnonymous>().Any() || !ApiKeyEndpointGuard.Admits(metadata))
                    continue;
                if (document.Paths?.GetValueOrDefault(PathOf(description.RelativePath)) is not { Operations: { } operations }
                    || operations.GetValueOrDefault(new HttpMethod(description.HttpMethod ?? "GET")) is not { } operation)
                    continue;
                var key = new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Scheme, document)] = [] };
                operation.Security = metadata.OfType<ApiKeysOnlyMetadata>().Any()
                    ? [key]
                    : [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(UserScheme, document)] = [] }, key];
            }
            return Task.CompletedTask;
        });

    /// <summary>The document's path of a route: <c>api/credits/holds/{id:guid}</c> is <c>/api/credits/holds/{id}</c>, and a group's own route has no trailing slash.</summary>
    static string PathOf(string? relativePath) => "/" + RouteConstraint().Replace(relativePath ?? "", "{$1}").TrimEnd('/');

    [System.Text.RegularExpressions.GeneratedRegex(@"\{\*{0,2}([^}:=?]+)[^}]*\}")]
    private static partial System.Text.RegularExpressions.Regex RouteConstraint();
}
