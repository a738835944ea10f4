using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace AiHub.Knowledge.Ingestion.Media;

internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError);

/// <summary>Runs one of the Debian tools (ffmpeg, ffprobe, pocketsphinx) with a time limit, killing its whole tree when stopped.</summary>
internal static class ExternalProcess
{
    /// <summary>The tail of stderr kept for the log: a failing ffmpeg's last lines say why, the banner before them does not.</summary>
    public const int StandardErrorTail = 2000;

    /// <exception cref="IngestionException">The program is not installed (fatal) or ran past <paramref name="timeout"/> (transient).</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled; the process was killed.</exception>
    public static async Task<ProcessResult> RunAsync(
        string program, IEnumerable<string> arguments, TimeSpan timeout, TimeProvider time, string notInstalledMessage,
        Action<string>? onOutputLine, CancellationToken ct)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new IngestionException(notInstalledMessage, transient: false, e);
        }
        process.StandardInput.Close();

        var output = new StringBuilder();
        var stdout = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync(CancellationToken.None) is { } line)
            {
                output.Append(line).Append('\n');
                onOutputLine?.Invoke(line);
            }
        }, CancellationToken.None);
        var stderr = ReadTailAsync(process.StandardError);

        using var limit = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(limit.Token, ct);
        try
        {
            await process.WaitForExitAsync(linked.Token);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            await Task.WhenAll(stdout, stderr).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            ct.ThrowIfCancellationRequested();
            throw new IngestionException(
                $"Processing the media took longer than {timeout.TotalMinutes:0.#} minutes and was stopped.", transient: true);
        }
        await Task.WhenAll(stdout, stderr);
        return new ProcessResult(process.ExitCode, output.ToString(), await stderr);
    }

    static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited between the timeout and the kill.
        }
    }

    static async Task<string> ReadTailAsync(StreamReader reader)
    {
        var buffer = new char[4096];
        var tail = new StringBuilder();
        int read;
        while ((read = await reader.ReadAsync(buffer, CancellationToken.None)) > 0)
        {
            tail.Append(buffer, 0, read);
            if (tail.Length > 4 * StandardErrorTail)
                tail.Remove(0, tail.Length - StandardErrorTail);
        }
        return Trim(tail.ToString());
    }

    /// <summary>The last lines of a tool's stderr, for the log only: they name paths and versions a user need not see.</summary>
    public static string Trim(string stderr)
    {
        var text = stderr.Trim();
        return text.Length <= StandardErrorTail ? text : "…" + text[^StandardErrorTail..];
    }
}
