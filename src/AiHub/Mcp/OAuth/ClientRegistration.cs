using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.RateLimiting;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AiHub.Mcp.OAuth;

/// <summary>Dynamic client registration (RFC 7591): what a connector sends about itself.</summary>
internal sealed class ClientMetadata
{
    [JsonPropertyName("redirect_uris")]
    public List<string>? RedirectUris { get; set; }

    [JsonPropertyName("token_endpoint_auth_method")]
    public string? TokenEndpointAuthMethod { get; set; }

    [JsonPropertyName("grant_types")]
    public List<string>? GrantTypes { get; set; }

    [JsonPropertyName("response_types")]
    public List<string>? ResponseTypes { get; set; }

    [JsonPropertyName("client_name")]
    public string? ClientName { get; set; }

    [JsonPropertyName("client_uri")]
    public string? ClientUri { get; set; }

    [JsonPropertyName("scope")]
    public string? Scope { get; set; }
}

/// <summary>Registers MCP connectors as OpenIddict applications: public ones (PKCE, no secret) and confidential ones (a generated secret).</summary>
internal static class ClientRegistration
{
    /// <summary>A registration is a few hundred bytes; anything near this is not one.</summary>
    public const int MaxBodyBytes = 16 * 1024;

    public const int PerIpPerHour = 30;

    const int MaxRedirectUris = 10;
    const int MaxNameLength = 100;

    static readonly string[] AuthMethods = [ClientAuthenticationMethods.ClientSecretBasic, ClientAuthenticationMethods.ClientSecretPost, ClientAuthenticationMethods.None];

    public static async Task<IResult> RegisterAsync(HttpContext http, IOpenIddictApplicationManager applications, RateCounter limits, TimeProvider clock, CancellationToken ct)
    {
        await limits.EnforceAsync($"mcp-oauth-register:{http.IpAddress() ?? "unknown"}", PerIpPerHour, TimeSpan.FromHours(1), ct);
        if (http.Request.ContentLength > MaxBodyBytes)
            return Error("invalid_client_metadata", $"The registration is larger than {MaxBodyBytes / 1024} KB.", StatusCodes.Status413PayloadTooLarge);
        if (!http.Request.HasJsonContentType())
            return Error("invalid_client_metadata", "Send the client metadata as application/json.");
        ClientMetadata? metadata;
        try
        {
            using var limited = new MemoryStream();
            var buffer = new byte[8192];
            int read;
            while ((read = await http.Request.Body.ReadAsync(buffer, ct)) > 0)
            {
                if (limited.Length + read > MaxBodyBytes)
                    return Error("invalid_client_metadata", $"The registration is larger than {MaxBodyBytes / 1024} KB.", StatusCodes.Status413PayloadTooLarge);
                limited.Write(buffer, 0, read);
            }
            metadata = JsonSerializer.Deserialize<ClientMetadata>(limited.ToArray());
        }
        catch (JsonException)
        {
            return Error("invalid_client_metadata", "The body is not the JSON client metadata of RFC 7591.");
        }
        if (metadata is null)
            return Error("invalid_client_metadata", "The body is not the JSON client metadata of RFC 7591.");

        if (metadata.RedirectUris is not { Count: > 0 } redirects)
            return Error("invalid_redirect_uri", "Give at least one redirect URI.");
        if (redirects.Count > MaxRedirectUris)
            return Error("invalid_redirect_uri", $"Give at most {MaxRedirectUris} redirect URIs.");
        var uris = new List<Uri>();
        foreach (var redirect in redirects)
        {
            if (RedirectProblem(redirect) is { } problem)
                return Error("invalid_redirect_uri", problem);
            uris.Add(new Uri(redirect));
        }

        var method = metadata.TokenEndpointAuthMethod ?? ClientAuthenticationMethods.ClientSecretBasic;
        if (!AuthMethods.Contains(method))
            return Error("invalid_client_metadata", $"token_endpoint_auth_method must be one of: {string.Join(", ", AuthMethods)}.");
        var grants = metadata.GrantTypes ?? [GrantTypes.AuthorizationCode];
        if (grants.Count == 0 || grants.Any(g => g is not (GrantTypes.AuthorizationCode or GrantTypes.RefreshToken)) || !grants.Contains(GrantTypes.AuthorizationCode))
            return Error("invalid_client_metadata", "grant_types must include authorization_code and may add refresh_token; no other grant is offered.");
        var responses = metadata.ResponseTypes ?? [ResponseTypes.Code];
        if (responses.Count == 0 || responses.Any(r => r != ResponseTypes.Code))
            return Error("invalid_client_metadata", "response_types may only be [\"code\"].");
        var name = string.IsNullOrWhiteSpace(metadata.ClientName) ? null : metadata.ClientName.Trim();
        if (name is { Length: > MaxNameLength } || name?.Any(char.IsControl) == true)
            return Error("invalid_client_metadata", $"client_name must be at most {MaxNameLength} printable characters.");
        var requested = metadata.Scope?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        if (requested.FirstOrDefault(s => !McpScopes.All.Contains(s)) is { } unknown)
            return Error("invalid_client_metadata", $"Unknown scope \"{unknown}\"; the scopes are: {string.Join(' ', McpScopes.All)}.");

        var confidential = method != ClientAuthenticationMethods.None;
        var clientId = "mcp_" + RandomNumberGenerator.GetHexString(32, lowercase: true);
        var secret = confidential ? RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 43) : null;
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = clientId,
            ClientSecret = secret,
            ClientType = confidential ? ClientTypes.Confidential : ClientTypes.Public,
            ApplicationType = uris.All(IsLoopback) ? ApplicationTypes.Native : ApplicationTypes.Web,
            ConsentType = ConsentTypes.Explicit,
            DisplayName = name,
        };
        descriptor.RedirectUris.UnionWith(uris);
        descriptor.Permissions.UnionWith([
            Permissions.Endpoints.Authorization,
            Permissions.Endpoints.Token,
            Permissions.Endpoints.Revocation,
            Permissions.GrantTypes.AuthorizationCode,
            Permissions.ResponseTypes.Code,
        ]);
        if (grants.Contains(GrantTypes.RefreshToken))
            descriptor.Permissions.Add(Permissions.GrantTypes.RefreshToken);
        descriptor.Permissions.UnionWith(McpScopes.All.Select(s => Permissions.Prefixes.Scope + s));
        descriptor.Requirements.Add(Requirements.Features.ProofKeyForCodeExchange);
        await applications.CreateAsync(descriptor, ct);

        var body = new Dictionary<string, object?>
        {
            ["client_id"] = clientId,
            ["client_id_issued_at"] = clock.GetUtcNow().ToUnixTimeSeconds(),
            ["redirect_uris"] = redirects,
            ["grant_types"] = grants,
            ["response_types"] = responses,
            ["token_endpoint_auth_method"] = method,
        };
        if (secret is not null)
        {
            body["client_secret"] = secret;
            body["client_secret_expires_at"] = 0;
        }
        if (name is not null)
            body["client_name"] = name;
        if (requested.Length > 0)
            body["scope"] = string.Join(' ', requested);
        http.Response.Headers.CacheControl = "no-store";
        return Results.Json(body, statusCode: StatusCodes.Status201Created);
    }

    /// <summary>https anywhere, or http on a loopback host for native apps (RFC 8252); never a fragment or another scheme.</summary>
    public static string? RedirectProblem(string redirect)
    {
        if (!Uri.TryCreate(redirect, UriKind.Absolute, out var uri))
            return $"\"{Shorten(redirect)}\" is not an absolute URI.";
        if (uri.Fragment.Length > 0 || redirect.Contains('#'))
            return "A redirect URI may not have a fragment.";
        if (!string.IsNullOrEmpty(uri.UserInfo))
            return "A redirect URI may not carry a user name or password.";
        if (uri.Scheme == Uri.UriSchemeHttps)
            return null;
        if (uri.Scheme == Uri.UriSchemeHttp && IsLoopback(uri))
            return null;
        return uri.Scheme == Uri.UriSchemeHttp
            ? "An http redirect URI must be on a loopback host (127.0.0.1, [::1] or localhost); use https otherwise."
            : $"The scheme \"{uri.Scheme}\" is not allowed; use https, or http on a loopback host.";
    }

    static bool IsLoopback(Uri uri) =>
        uri.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    static string Shorten(string value) => value.Length > 80 ? value[..80] + "…" : value;

    static IResult Error(string code, string description, int status = StatusCodes.Status400BadRequest) =>
        Results.Json(new Dictionary<string, string> { ["error"] = code, ["error_description"] = description }, statusCode: status);
}
