using AiHub.Data;
using AiHub.Infrastructure.Hosting;

namespace AiHub.Identity;

/// <summary><c>create-admin --email ADDRESS</c>: makes the address a SuperAdmin and prints a link to set its password.</summary>
internal sealed class CreateAdminCommand : IHostCommand
{
    public string Name => "create-admin";

    public string Usage => "create-admin --email ADDRESS";

    public async Task<int> RunAsync(WebApplication app, IReadOnlyList<string> args)
    {
        var email = app.Configuration["email"]?.Trim();
        if (!Accounts.IsEmail(email))
            throw new HostCommandUsageException("create-admin needs --email name@example.com");
        await app.Services.GetRequiredService<DatabaseMigrator>().EnsureReadyAsync(CancellationToken.None);
        var (created, link) = await AdminBootstrap.CreateAdminAsync(app.Services, email, CancellationToken.None);
        await Console.Out.WriteLineAsync(created
            ? $"aihub: created {email} as SuperAdmin; set its password within the hour at {link}"
            : $"aihub: {email} is SuperAdmin; to set a new password within the hour, open {link}");
        return 0;
    }
}
