using System.Data.Common;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Logging;

namespace AiHub.Infrastructure.Hosting;

/// <summary>The process's commands: <c>serve</c> (the default), <c>migrate</c> and <c>create-admin</c>. Start-up refusals print one line, not a stack trace.</summary>
public static class AiHubHost
{
    internal const int ConfigurationError = 2;
    internal const int StartRefused = 3;
    internal const int UsageError = 64;

    public static async Task<int> RunAiHubAsync(this WebApplication app, string[] args)
    {
        var command = CommandOf(args);
        try
        {
            app.Services.ValidateAllSettings();
            return command switch
            {
                "serve" => await ServeAsync(app),
                "migrate" => await MigrateAsync(app),
                "create-admin" => await CreateAdminAsync(app),
                "ledger" => await VerifyLedgerAsync(app, args),
                "help" or "--help" or "-h" => Usage(Console.Out, 0),
                _ => Usage(Console.Error, UsageError, $"unknown command '{command}'"),
            };
        }
        catch (InvalidConfigurationException e)
        {
            return Fail(ConfigurationError, "invalid configuration: " + e.Message);
        }
        catch (DatabaseBehindException e)
        {
            return Fail(StartRefused, "refusing to start: " + e.Message);
        }
        catch (DbException e)
        {
            var doing = command == "migrate" ? "migrate failed" : "refusing to start";
            return Fail(StartRefused, $"{doing}: cannot reach the database: {SecretRedactor.Redact(e.Message)}");
        }
    }

    static async Task<int> ServeAsync(WebApplication app)
    {
        await app.Services.GetRequiredService<DatabaseMigrator>().EnsureReadyAsync(app.Lifetime.ApplicationStopping);
        await app.RunAsync();
        return 0;
    }

    static async Task<int> MigrateAsync(WebApplication app)
    {
        var applied = await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
        await Console.Out.WriteLineAsync(applied.Count == 0
            ? "aihub: the database is up to date"
            : $"aihub: applied {applied.Count} migration(s): {string.Join(", ", applied)}");
        return 0;
    }

    static async Task<int> CreateAdminAsync(WebApplication app)
    {
        var email = app.Configuration["email"]?.Trim();
        if (!Accounts.IsEmail(email))
            return Usage(Console.Error, UsageError, "create-admin needs --email name@example.com");
        await app.Services.GetRequiredService<DatabaseMigrator>().EnsureReadyAsync(CancellationToken.None);
        var (created, link) = await AdminBootstrap.CreateAdminAsync(app.Services, email, CancellationToken.None);
        await Console.Out.WriteLineAsync(created
            ? $"aihub: created {email} as SuperAdmin; set its password within the hour at {link}"
            : $"aihub: {email} is SuperAdmin; to set a new password within the hour, open {link}");
        return 0;
    }

    /// <summary><c>ledger verify</c>: exits 1 and names every account whose balance is not the sum of its entries.</summary>
    static async Task<int> VerifyLedgerAsync(WebApplication app, string[] args)
    {
        if (!args.Contains("verify", StringComparer.OrdinalIgnoreCase))
            return Usage(Console.Error, UsageError, "ledger needs a subcommand: ledger verify");
        await app.Services.GetRequiredService<DatabaseMigrator>().EnsureReadyAsync(CancellationToken.None);
        await using var scope = app.Services.CreateAsyncScope();
        var broken = await scope.ServiceProvider.GetRequiredService<AiHub.Credits.Ledger>().VerifyAsync(CancellationToken.None);
        foreach (var (account, balance, entries, reserved, reservedEntries) in broken)
            await Console.Error.WriteLineAsync($"aihub: account {account}: balance {balance} but entries sum to {entries}; reserved {reserved} but entries hold {reservedEntries}");
        await Console.Out.WriteLineAsync(broken.Count == 0 ? "aihub: the ledger balances" : $"aihub: {broken.Count} account(s) do not balance");
        return broken.Count == 0 ? 0 : 1;
    }

    /// <summary>The first argument that is neither an option, nor an option's value, nor a <c>key=value</c> setting.</summary>
    internal static string CommandOf(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "--help" or "-h")
                return arg;
            if (arg.StartsWith('-'))
            {
                if (!arg.Contains('=') && i + 1 < args.Count && !args[i + 1].StartsWith('-'))
                    i++;
                continue;
            }
            if (!arg.Contains('='))
                return arg.ToLowerInvariant();
        }
        return "serve";
    }

    static int Usage(TextWriter writer, int exitCode, string? error = null)
    {
        if (error is not null)
            writer.WriteLine("aihub: " + error);
        writer.WriteLine("usage: aihub [serve|migrate|create-admin --email ADDRESS|ledger verify] [--Section:Key=value …]   (settings also come from AIHUB_Section__Key variables)");
        return exitCode;
    }

    static int Fail(int exitCode, string message)
    {
        Console.Error.WriteLine("aihub: " + message);
        return exitCode;
    }
}
