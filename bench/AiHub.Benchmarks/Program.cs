using AiHub.Benchmarks;
using BenchmarkDotNet.Running;

if (args is ["ledger", .. var rest])
    return await LedgerThroughput.RunAsync(rest);

BenchmarkSwitcher.FromAssembly(typeof(LogRedactionBenchmarks).Assembly).Run(args);
return 0;
