using Microsoft.Extensions.Configuration.CommandLine;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace AiHub.Infrastructure.Configuration;

internal static class ConfigurationSources
{
    public const string EnvironmentPrefix = "AIHUB_";

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
