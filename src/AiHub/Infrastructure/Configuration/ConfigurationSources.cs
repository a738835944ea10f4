using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;

namespace AiHub.Infrastructure.Configuration;

internal static class ConfigurationSources
{
    public const string EnvironmentPrefix = "AIHUB_";

    /// <summary>
    /// The appsettings.json shipped beside the binary, ranked below every other source, when the content root (the
    /// directory the process started in) has none: its defaults, the log levels first, hold wherever AiHub is started from.
    /// </summary>
    public static void AddShippedSettings(this IConfigurationBuilder configuration, string contentRoot)
    {
        var shipped = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        if (File.Exists(Path.Combine(contentRoot, "appsettings.json")) || !File.Exists(shipped))
            return;
        configuration.Sources.Insert(0, new JsonConfigurationSource
        {
            FileProvider = new PhysicalFileProvider(AppContext.BaseDirectory),
            Path = "appsettings.json",
            Optional = true,
        });
    }

    /// <summary>Adds <c>AIHUB_</c> environment variables, ranked above appsettings and below the command line.</summary>
    public static void AddAiHubEnvironmentVariables(this IConfigurationBuilder configuration)
    {
        var source = new EnvironmentVariablesConfigurationSource { Prefix = EnvironmentPrefix };
        var commandLine = configuration.Sources.ToList().FindLastIndex(s => s is CommandLineConfigurationSource);
        if (commandLine < 0)
            configuration.Sources.Add(source);
        else
            configuration.Sources.Insert(commandLine, source);
    }
}
