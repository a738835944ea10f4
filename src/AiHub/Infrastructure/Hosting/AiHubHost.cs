using System.Data.Common;
using AiHub.Data;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Logging;

namespace AiHub.Infrastructure.Hosting;

/// <summary>The process's commands: <c>serve</c> (the default), <c>migrate</c> and those the features register. Start-up refusals print one line, not a stack trace.</summary>
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
                "help" or "--help" or "-h" => Usage(app, Console.Out, 0),
                _ when Commands(app).FirstOrDefault(c => c.Name == command) is { } registered => await registered.RunAsync(app, args),
                _ => Usage(app, Console.Error, UsageError, $"unknown command '{command}'"),
            };
        }
        catch (HostCommandUsageException e)
        {
            return Usage(app, Console.Error, UsageError, e.Message);
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

    static IEnumerable<IHostCommand> Commands(WebApplication app) => app.Services.GetServices<IHostCommand>();

    static int Usage(WebApplication app, TextWriter writer, int exitCode, string? error = null)
    {
        if (error is not null)
            writer.WriteLine("aihub: " + error);
        var commands = string.Join('|', ["serve", "migrate", .. Commands(app).Select(c => c.Usage)]);
        writer.WriteLine($"usage: aihub [{commands}] [--Section:Key=value …]   (settings also come from AIHUB_Section__Key variables)");
        return exitCode;
    }

    static int Fail(int exitCode, string message)
    {
        Console.Error.WriteLine("aihub: " + message);
        return exitCode;
    }
}
