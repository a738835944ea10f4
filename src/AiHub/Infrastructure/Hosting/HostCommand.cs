namespace AiHub.Infrastructure.Hosting;

/// <summary>A command of the process besides <c>serve</c> and <c>migrate</c>; the feature that owns it registers it.</summary>
internal interface IHostCommand
{
    /// <summary>The word that selects it, lower case.</summary>
    string Name { get; }

    /// <summary>How it is called, for the usage line: <c>create-admin --email ADDRESS</c>.</summary>
    string Usage { get; }

    /// <summary>Runs the command once the settings are valid; the result is the process's exit code.</summary>
    Task<int> RunAsync(WebApplication app, IReadOnlyList<string> args);
}

/// <summary>A command was called wrongly: the host prints the message and the usage line, and exits 64.</summary>
internal sealed class HostCommandUsageException(string message) : Exception(message);
