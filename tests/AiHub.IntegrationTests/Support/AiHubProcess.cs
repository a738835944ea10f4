using System.Diagnostics;

namespace AiHub.IntegrationTests.Support;

/// <summary>The built AiHub started as its own process, for what only a real process shows: exit codes and what it prints.</summary>
public static class AiHubProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static async Task<Result> RunAsync(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = StartInfo(environment, AppContext.BaseDirectory, args);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"AiHub {string.Join(' ', args)} did not exit within 60 s: {await stdout}{await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Serves from <paramref name="workingDirectory"/>, runs <paramref name="use"/> against the address it listens on,
    /// waits until a printed line satisfies <paramref name="until"/> (or 20 s), stops it and returns every line it printed.
    /// </summary>
    public static async Task<IReadOnlyList<string>> ServeAsync(IReadOnlyDictionary<string, string> environment, string workingDirectory,
        Func<Uri, Task> use, Func<string, bool> until)
    {
        using var process = Process.Start(StartInfo(environment, workingDirectory, []))!;
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
                return;
            lines.Enqueue(line);
            if (line.Contains("Now listening on: ", StringComparison.Ordinal))
                listening.TrySetResult(new Uri(System.Text.RegularExpressions.Regex.Match(line, @"http://[0-9.:]+").Value));
            if (until(line))
                seen.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) lines.Enqueue(line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var address = await listening.Task.WaitAsync(TimeSpan.FromSeconds(90));
            await use(address);
            await seen.Task.WaitAsync(TimeSpan.FromSeconds(20)).ContinueWith(_ => { }, TaskScheduler.Default);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        return [.. lines];
    }

    /// <summary>Serves from <paramref name="workingDirectory"/> until the caller kills it; returns once it listens, with its address.</summary>
    public static async Task<(Process Process, Uri Address)> StartAsync(IReadOnlyDictionary<string, string> environment, string workingDirectory)
    {
        var process = Process.Start(StartInfo(environment, workingDirectory, []))!;
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var printed = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
                return;
            printed.Enqueue(line);
            if (line.Contains("Now listening on: ", StringComparison.Ordinal))
                listening.TrySetResult(new Uri(System.Text.RegularExpressions.Regex.Match(line, @"http://[0-9.:]+").Value));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) printed.Enqueue(line); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            return (process, await listening.Task.WaitAsync(TimeSpan.FromSeconds(90)));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("AiHub did not start listening within 90 s: " + string.Join('\n', printed));
        }
    }

    static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> environment, string workingDirectory, string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "AiHub.dll"));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("AIHUB_", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(key);
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["AIHUB_DataProtection__KeyEncryptionKey"] = TestEnvironment.KeyEncryptionKey;
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        return start;
    }
}
