using System.Diagnostics;
using System.Globalization;

namespace AiHub.IntegrationTests.Support;

/// <summary>
/// Test speech made with Debian's tools: <c>flite -voice awb</c> speaks each sentence (espeak-ng's voice is not
/// recognised by pocketsphinx), ffmpeg places the sentences at their times and can mux them into an MP4 with a
/// generated picture. Everything is written under the caller's folder; nothing is cached elsewhere.
/// </summary>
public static class SpeechFixtures
{
    static readonly string[] Tools = ["ffmpeg", "ffprobe", "flite", "pocketsphinx_continuous"];

    /// <summary>Fails with what to install when a tool is missing, rather than with a process error deep in a test.</summary>
    public static void RequireTools()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        var missing = Tools.Where(tool => !path.Any(dir => File.Exists(Path.Combine(dir, tool)))).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException(
                $"Missing {string.Join(", ", missing)}: run scripts/test.sh, which installs the Debian packages ffmpeg, flite, pocketsphinx and pocketsphinx-en-us.");
    }

    /// <summary>
    /// Speaks each sentence starting at its time, with silence between, and returns the file: a 16 kHz mono WAV, or with
    /// <paramref name="asVideo"/> an MP4 with a blue 320x240 picture (H.264 when ffmpeg has libx264, else MPEG-4) and AAC sound.
    /// </summary>
    public static async Task<string> SynthesiseAsync(IReadOnlyList<(double AtSeconds, string Sentence)> lines, string dir, bool asVideo)
    {
        ArgumentOutOfRangeException.ThrowIfZero(lines.Count);
        RequireTools();
        Directory.CreateDirectory(dir);
        var arguments = new List<string> { "-hide_banner", "-loglevel", "error", "-y" };
        var filters = new List<string>();
        for (var i = 0; i < lines.Count; i++)
        {
            var sentence = Path.Combine(dir, $"sentence-{i}.wav");
            await RunAsync("flite", "-voice", "awb", "-t", lines[i].Sentence, "-o", sentence);
            arguments.AddRange(["-i", sentence]);
            var delay = ((long)Math.Round(lines[i].AtSeconds * 1000)).ToString(CultureInfo.InvariantCulture);
            filters.Add($"[{i}:a]aresample=16000,adelay={delay}:all=1[s{i}]");
        }
        var inputs = string.Concat(Enumerable.Range(0, lines.Count).Select(i => $"[s{i}]"));
        filters.Add($"{inputs}amix=inputs={lines.Count}:duration=longest:normalize=0,apad=pad_dur=1.5[out]");
        var wav = Path.Combine(dir, "speech.wav");
        arguments.AddRange(["-filter_complex", string.Join(';', filters), "-map", "[out]", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", wav]);
        await RunAsync("ffmpeg", [.. arguments]);
        if (!asVideo)
            return wav;

        var mp4 = Path.Combine(dir, "speech.mp4");
        await RunAsync("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "color=c=blue:s=320x240:r=10", "-i", wav,
            "-map", "0:v", "-map", "1:a", "-shortest", "-c:v", await VideoCodecAsync(), "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", mp4);
        return mp4;
    }

    /// <summary>A video with a picture and no audio stream at all.</summary>
    public static async Task<string> SilentVideoAsync(string dir, double seconds = 3)
    {
        RequireTools();
        Directory.CreateDirectory(dir);
        var mp4 = Path.Combine(dir, "no-audio.mp4");
        await RunAsync("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "color=c=blue:s=320x240:r=10:d=" + seconds.ToString(CultureInfo.InvariantCulture),
            "-c:v", await VideoCodecAsync(), "-pix_fmt", "yuv420p", mp4);
        return mp4;
    }

    /// <summary>Re-encodes with ffmpeg, e.g. <c>ConvertAsync(wav, "speech.ogg", "-c:a", "libvorbis")</c>.</summary>
    public static async Task<string> ConvertAsync(string input, string output, params string[] codecArguments)
    {
        await RunAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-i", input, .. codecArguments, output]);
        return output;
    }

    /// <summary>Word error rate: word-level edit distance over the reference's word count, ignoring case and punctuation.</summary>
    public static double WordErrorRate(string reference, string hypothesis)
    {
        var expected = Words(reference);
        var heard = Words(hypothesis);
        if (expected.Length == 0)
            return heard.Length == 0 ? 0 : 1;
        var previous = Enumerable.Range(0, heard.Length + 1).ToArray();
        var current = new int[heard.Length + 1];
        for (var i = 1; i <= expected.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= heard.Length; j++)
                current[j] = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1),
                    previous[j - 1] + (expected[i - 1] == heard[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[heard.Length] / (double)expected.Length;

        static string[] Words(string text) =>
            new string([.. text.ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) || c == '\'' ? c : ' ')])
                .Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    static string? _videoCodec;

    static async Task<string> VideoCodecAsync()
    {
        if (_videoCodec is null)
        {
            var encoders = await RunAsync("ffmpeg", "-hide_banner", "-encoders");
            _videoCodec = encoders.Contains(" libx264 ", StringComparison.Ordinal) ? "libx264" : "mpeg4";
        }
        return _videoCodec;
    }

    static async Task<string> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish in 2 minutes");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await stderr}");
        return await stdout;
    }
}
