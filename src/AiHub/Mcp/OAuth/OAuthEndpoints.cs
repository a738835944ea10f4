using System.Security.Claims;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Hosting;
using AiHub.Organizations;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace AiHub.Mcp.OAuth;

internal static class OAuthEndpoints
{
    /// <summary>The form fields of the consent page, beside the request's own parameters.</summary>
    internal const string DecisionField = "aihub_decision";
    internal const string OrgField = "aihub_org";
    internal const string WorkspaceField = "aihub_workspace";

    /// <summary>
    /// OpenIddict has already checked the request (client, redirect URI, PKCE, scopes, resource). A visitor who is not
    /// signed in goes to the sign-in page and comes back; a signed-in one sees the consent page, whose form posts here.
    /// </summary>
    public static async Task<IResult> AuthorizeAsync(HttpContext http, IOpenIddictApplicationManager applications, IAntiforgery antiforgery,
        OrgAccess access, AppDbContext db, OAuthGrants grants, IOptions<PublicUrlSettings> publicUrl, CancellationToken ct)
    {
        var request = http.GetOpenIddictServerRequest() ?? throw new ProblemException(StatusCodes.Status400BadRequest, "Not an authorization request.");
        var cookie = await http.AuthenticateAsync(IdentityConstants.ApplicationScheme);
        var query = QueryOf(request);
        if (!cookie.Succeeded || cookie.Principal.UserId() is not { } userId)
            return Results.Redirect("/account/login?returnUrl=" + Uri.EscapeDataString(McpOAuthExtensions.AuthorizePath + query));
        if (request.GetParameter(DecisionField) is not { } decision)
            return Results.Redirect(McpOAuthExtensions.ConsentPath + query);

        if (!HttpMethods.IsPost(http.Request.Method) || !await antiforgery.IsRequestValidAsync(http))
            throw new ProblemException(StatusCodes.Status400BadRequest, "The consent form has expired.", "Start the connection again from the app.");
        if ((string?)decision != "allow")
            return Results.Forbid(new AuthenticationProperties(new Dictionary<string, string?>
            {
                [OpenIddictServerAspNetCoreConstants.Properties.Error] = Errors.AccessDenied,
                [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = "The user declined to connect the app.",
            }), [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);

        if (!Guid.TryParse((string?)request.GetParameter(OrgField), out var orgId) || await access.GetAsync(orgId, userId, ct) is null)
            throw new ProblemException(StatusCodes.Status400BadRequest, "Pick one of your organisations.", "The app is connected to one organisation that you belong to.");
        Guid? workspaceId = null;
        if ((string?)request.GetParameter(WorkspaceField) is { Length: > 0 } workspaceText)
        {
            if (!Guid.TryParse(workspaceText, out var w) || !await db.Workspaces.AnyAsync(x => x.OrganizationId == orgId && x.Id == w, ct))
                throw new ProblemException(StatusCodes.Status400BadRequest, "Pick a workspace of that organisation.", "Or leave it empty to give access to every workspace.");
            workspaceId = w;
        }

        var application = await applications.FindByClientIdAsync(request.ClientId!, ct)
                          ?? throw new ProblemException(StatusCodes.Status400BadRequest, "The app is not registered here.");
        var applicationId = (await applications.GetIdAsync(application, ct))!;
        var clientName = await applications.GetDisplayNameAsync(application, ct) ?? request.ClientId!;
        var scopes = GrantedScopes(request);

        var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, userId.ToString());
        identity.SetClaim(OAuthClaims.Organization, orgId.ToString());
        if (workspaceId is { } ws)
            identity.SetClaim(OAuthClaims.Workspace, ws.ToString());
        identity.SetScopes(scopes);
        var resource = McpOAuthExtensions.ResourceOf(publicUrl.Value).AbsoluteUri;
        identity.SetResources(resource);
        identity.SetAudiences(resource);
        identity.SetAuthorizationId(await grants.GrantAsync(identity, userId, applicationId, clientName, orgId, workspaceId, scopes, ct));
        identity.SetDestinations(_ => [Destinations.AccessToken]);
        return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    /// <summary>What the request asked for, or the permission scopes when it asked for none.</summary>
    public static IReadOnlyList<string> GrantedScopes(OpenIddictRequest request)
    {
        var requested = request.GetScopes();
        return requested.IsEmpty ? McpScopes.Default : [.. McpScopes.All.Where(requested.Contains)];
    }

    /// <summary>The request's parameters as a query string, without the consent form's own fields.</summary>
    public static string QueryOf(OpenIddictRequest request) =>
        QueryString.Create(request.GetParameters()
            .Where(p => p.Key is not (DecisionField or OrgField or WorkspaceField or "__RequestVerificationToken"))
            .Select(p => new KeyValuePair<string, string?>(p.Key, (string?)p.Value))).ToUriComponent();

    static readonly string[] BearerMethods = ["header"];

    /// <summary>RFC 9728: where an MCP client learns which authorization server issues tokens for <c>/mcp</c>.</summary>
    public static IResult ProtectedResourceMetadata(IOptions<PublicUrlSettings> publicUrl) => Results.Json(new Dictionary<string, object>
    {
        ["resource"] = McpOAuthExtensions.ResourceOf(publicUrl.Value).AbsoluteUri,
        ["authorization_servers"] = new[] { McpOAuthExtensions.IssuerOf(publicUrl.Value).AbsoluteUri },
        ["scopes_supported"] = McpScopes.All,
        ["bearer_methods_supported"] = BearerMethods,
        ["resource_name"] = "AiHub",
    });

    public static async Task<Ok<IReadOnlyList<ConnectedApp>>> ListConnectedAppsAsync(ClaimsPrincipal user, IConnectedApps apps, CancellationToken ct) =>
        TypedResults.Ok(await apps.ListAsync(user.UserId() ?? throw Unauthorized(), ct));

    public static async Task<NoContent> RevokeConnectedAppAsync(string id, ClaimsPrincipal user, IConnectedApps apps, CancellationToken ct)
    {
        if (await apps.RevokeAsync(user.UserId() ?? throw Unauthorized(), id, ct))
            return TypedResults.NoContent();
        throw new ProblemException(StatusCodes.Status404NotFound, "No such connected app.", "It was already revoked, or it is not yours.", ProblemTypes.NotFound);
    }

    static ProblemException Unauthorized() => new(StatusCodes.Status401Unauthorized, "Sign in first.");
}
