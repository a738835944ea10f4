namespace AiHub.Identity;

/// <summary>Lets other features act when an account is created (the Organizations feature makes its personal org).</summary>
internal interface IAccountEvents
{
    /// <summary>Runs in the same unit of work as the new account; the caller saves.</summary>
    Task UserCreatedAsync(AppUser user, CancellationToken ct);
}

/// <summary>What other features hand out on a person's behalf (the Organizations feature's API keys), which a password reset or a reclaimed account revokes.</summary>
internal interface IUserCredentials
{
    /// <summary>Revokes every credential the user made, through the feature's own revoke path; returns how many.</summary>
    Task<int> RevokeForUserAsync(Guid userId, string reason, CancellationToken ct);
}
