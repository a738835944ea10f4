using System.Diagnostics;
using System.Globalization;
using AiHub.Knowledge.Ingestion.Media;
using Microsoft.Extensions.Logging.Abstractions;

namespace AiHub.Benchmarks;

/// <summary>
/// How much faster than real time the offline transcriber is: the production <see cref="PocketsphinxTranscriber"/> on a
/// 16 kHz mono WAV, with one process at a time, several runs, the median reported. bench/transcription.sh makes the
/// speech and pins the run to one core.
/// </summary>
public static class TranscriptionSpeed
{
    public static async Task<int> RunAsync(string[] args)
    {
        string? wav = null;
        var runs = 5;
        var clockTicks = 100;
        for (var i = 0; i + 1 < args.Length; i += 2)
            switch (args[i])
            {
                case "--wav": wav = args[i + 1]; break;
                case "--runs": runs = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--clock-ticks": clockTicks = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        if (wav is null)
        {
            Console.Error.WriteLine("usage: transcribe --wav speech.wav [--runs 5]");
            return 2;
        }

        var settings = new MediaSettings { TranscriptionParallelism = 1 };
        var transcriber = new PocketsphinxTranscriber(Microsoft.Extensions.Options.Options.Create(settings), TimeProvider.System, NullLogger<PocketsphinxTranscriber>.Instance);
        var audio = WavAudio.Open(wav);
        var wallFactors = new List<double>();
        var cpuFactors = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            var cpuBefore = CpuSeconds(clockTicks);
            var clock = Stopwatch.StartNew();
            var transcript = await transcriber.TranscribeAsync(wav, audio.DurationSeconds, null, CancellationToken.None);
            var seconds = clock.Elapsed.TotalSeconds;
            var cpu = CpuSeconds(clockTicks) - cpuBefore;
            wallFactors.Add(audio.DurationSeconds / seconds);
            cpuFactors.Add(audio.DurationSeconds / cpu);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run}: {audio.DurationSeconds:0.0} s of audio in {seconds:0.00} s wall ({audio.DurationSeconds / seconds:0.0}x real time), {cpu:0.00} s CPU ({audio.DurationSeconds / cpu:0.0}x), {transcript.Segments.Sum(s => s.Words?.Count ?? 0)} words"));
        }
        wallFactors.Sort();
        cpuFactors.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"median over {runs} runs: {wallFactors[runs / 2]:0.0}x real time by the wall clock, {cpuFactors[runs / 2]:0.0}x per CPU second"));
        return 0;
    }

    /// <summary>
    /// CPU time of this process and of the pocketsphinx processes it has waited for (<c>/proc/self/stat</c> utime, stime,
    /// cutime, cstime): on a shared core the wall clock also counts other people's work.
    /// </summary>
    static double CpuSeconds(int clockTicks)
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // Fields 14 to 17 of proc(5), counted from the state field, which is field 3.
        return fields[11..15].Sum(f => long.Parse(f, CultureInfo.InvariantCulture)) / (double)clockTicks;
    }
}
