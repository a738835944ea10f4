namespace AiHub.Identity;

/// <summary>Lets other features act when an account is created (the Organizations feature makes its personal org).</summary>
internal interface IAccountEvents
{
    /// <summary>Runs in the same unit of work as the new account; the caller saves.</summary>
    Task UserCreatedAsync(AppUser user, CancellationToken ct);
}
