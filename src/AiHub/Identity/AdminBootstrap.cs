using AiHub.Infrastructure.Audit;
using AiHub.Data;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;

namespace AiHub.Identity;

/// <summary>The first SuperAdmin: the <c>create-admin</c> command, or <c>Bootstrap:AdminEmail</c> checked at each start.</summary>
internal sealed class AdminBootstrap(IServiceScopeFactory scopes, IOptions<BootstrapSettings> settings) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.Value.AdminEmail is not { Length: > 0 } email)
            return;
        await using var scope = scopes.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<AppUser>>();
        if (await users.FindByEmailAsync(email) is { } user)
            await scope.ServiceProvider.GetRequiredService<Accounts>().GrantBootstrapAdminAsync(user, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Makes <paramref name="email"/> a verified SuperAdmin, creating the account without a password if needed,
    /// and returns a link that sets its password.
    /// </summary>
    public static async Task<(bool Created, Uri SetPasswordLink)> CreateAdminAsync(IServiceProvider services, string email, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var users = sp.GetRequiredService<UserManager<AppUser>>();
        var db = sp.GetRequiredService<AppDbContext>();
        var audit = sp.GetRequiredService<AuditLog>();
        var clock = sp.GetRequiredService<TimeProvider>();
        var user = await users.FindByEmailAsync(email);
        var created = user is null;
        if (user is null)
        {
            user = new AppUser { UserName = email, Email = email, EmailConfirmed = true, CreatedAt = clock.GetUtcNow() };
            Check(await sp.GetRequiredService<Accounts>().CreateAsync(user, password: null, via: "create-admin", ct));
        }
        else if (!user.EmailConfirmed)
        {
            user.EmailConfirmed = true;
            Check(await users.UpdateAsync(user));
        }
        if (!await users.IsInRoleAsync(user, Roles.SuperAdmin))
        {
            Check(await users.AddToRoleAsync(user, Roles.SuperAdmin));
            audit.Add(AuditKinds.RoleGranted, user.Id, new { role = Roles.SuperAdmin, via = "create-admin" });
        }
        await db.SaveChangesAsync(ct);
        await sp.GetRequiredService<PermissionLookup>().InvalidateAsync(user.Id, ct);
        return (created, await sp.GetRequiredService<Accounts>().ResetLinkAsync(user));
    }

    static void Check(IdentityResult result)
    {
        if (!result.Succeeded)
            throw new InvalidOperationException(string.Join(" ", result.Errors.Select(e => e.Description)));
    }
}
