using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;

namespace AiHub.Identity.Pages;

/// <summary>
/// An open interactive page outlives the request that checked its cookie; this ends its sign-in soon after the
/// session is revoked elsewhere (signed out everywhere, password changed), as the next request would.
/// </summary>
internal sealed class SessionRevalidation(ILoggerFactory logs, IServiceScopeFactory scopes) : RevalidatingServerAuthenticationStateProvider(logs)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromMinutes(1);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        if (authenticationState.User.SessionId() is not { } sid)
            return false;
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<Sessions>().IsActiveAsync(sid, cancellationToken);
    }
}
