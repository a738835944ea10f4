using AiHub.Benchmarks;
using BenchmarkDotNet.Running;

if (args is ["ledger", .. var rest])
    return await LedgerThroughput.RunAsync(rest);
if (args is ["search", .. var search])
    return await KnowledgeSearchBench.RunAsync(search);
if (args is ["chat", .. var chat])
    return await ChatStreaming.RunAsync(chat);
if (args is ["embed", .. var embed])
    return await EmbeddingThroughput.RunAsync(embed);
if (args is ["transcribe", .. var transcribe])
    return await TranscriptionSpeed.RunAsync(transcribe);

BenchmarkSwitcher.FromAssembly(typeof(LogRedactionBenchmarks).Assembly).Run(args);
return 0;
