using System.Diagnostics;

namespace AiHub.IntegrationTests.Support;

/// <summary>
/// Runs a script under Node.js in <c>tests/fixtures/node</c>, where scripts/test.sh installs the npm clients the tests
/// drive AiHub with (a WebSocket client, an OpenAPI-generated client, axe-core).
/// </summary>
public static class NodeClients
{
    /// <summary>The fixture folder: AIHUB_TEST_NODE when set, else found by walking up from the test assembly.</summary>
    public static string Directory { get; } = Locate();

    /// <summary>The path of a file the npm packages installed, such as <c>axe-core/axe.min.js</c>.</summary>
    public static string Module(string relativePath)
    {
        var path = Path.Combine(Directory, "node_modules", relativePath);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run scripts/test.sh, or `npm ci` in {Directory}.", path);
    }

    /// <summary>Runs <c>node script args…</c> with the fixture folder as working directory; the result carries both streams.</summary>
    public static async Task<NodeResult> RunAsync(string script, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = Directory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"node {script} did not finish in time. stdout: {await stdout} stderr: {await stderr}");
        }
        return new NodeResult(process.ExitCode, await stdout, await stderr);
    }

    static string Locate()
    {
        if (Environment.GetEnvironmentVariable("AIHUB_TEST_NODE") is { Length: > 0 } configured)
            return configured;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "node");
            if (File.Exists(Path.Combine(candidate, "package.json")))
                return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures/node not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>What a Node.js script left: its exit code and both output streams.</summary>
public sealed record NodeResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}
