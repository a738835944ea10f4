using AiHub.Benchmarks;
using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(LogRedactionBenchmarks).Assembly).Run(args);
