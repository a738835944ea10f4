using AiHub.Infrastructure.Logging;
using BenchmarkDotNet.Attributes;

namespace AiHub.Benchmarks;

/// <summary>Every log line passes through the redactor, so its cost is paid on every request that logs.</summary>
[MemoryDiagnoser]
[MedianColumn]
public class LogRedactionBenchmarks
{
    const string Ordinary = "Request finished HTTP/1.1 GET http://localhost:5080/api/orgs/0199a1b2-0000-7000-8000-000000000000/workspaces - 200 1532 application/json 4.2ms";
    const string WithSecret = "Upstream call failed: Authorization: Bearer sk-proj-AbCdEf0123456789xyz; Host=db;Username=aihub;Password=hunter2";

    [Benchmark(Baseline = true)]
    public string OrdinaryLine() => SecretRedactor.Redact(Ordinary);

    [Benchmark]
    public string LineWithSecrets() => SecretRedactor.Redact(WithSecret);
}
