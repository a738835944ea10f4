using AiHub.Credits.Pools;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.AspNetCore.Authentication;

namespace AiHub.Gateway;

/// <summary>Who calls <c>/v1</c>: an org API key, checked here so that a refusal is written in the caller's wire format.</summary>
internal static class GatewayCaller
{
    /// <summary>The request's API key, holding <paramref name="permission"/>; 401 naming what is wrong with the key, or 403.</summary>
    public static async ValueTask<ApiKeyIdentity> RequireAsync(HttpContext http, string permission)
    {
        if (http.User.ApiKey() is not { } key)
        {
            // The middleware keeps no failure reason; the handler's result is cached for the request, so asking again costs nothing.
            var failure = (await http.AuthenticateAsync()).Failure?.Message;
            throw new ProblemException(StatusCodes.Status401Unauthorized, "The API key is not valid.",
                failure ?? "Send an organisation's API key as Authorization: Bearer ahk_… (or x-api-key: ahk_…).", ProblemTypes.InvalidApiKey);
        }
        if (!key.Permissions.Contains(permission))
            throw new ProblemException(StatusCodes.Status403Forbidden, "This API key may not do that.",
                $"It needs the {OrgPermissions.Name(permission)} permission; make a key that has it.", ProblemTypes.Forbidden);
        return key;
    }

    /// <summary>Who pays for the key's calls: its org, as its creator, within its workspace.</summary>
    public static Spender SpenderOf(ApiKeyIdentity key) => new(key.OrganizationId, key.CreatedBy, key.Id, key.WorkspaceId);
}
