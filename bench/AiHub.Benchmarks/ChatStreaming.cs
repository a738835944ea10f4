using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.IntegrationTests.Support;

namespace AiHub.Benchmarks;

/// <summary>
/// What AiHub adds to a streamed chat answer: the same reply asked of the fake upstream directly and through AiHub's
/// chat endpoint, at each concurrency; time to the first token, time to the end, and the CPU each process spent.
/// </summary>
/// <remarks>
/// A load run against two running processes (started by bench/chat.sh), not a BenchmarkDotNet micro-benchmark. AiHub is
/// driven only through its public API, as a client would: a verified account, its personal org on an unlimited plan,
/// credits, and one titled conversation per request, so no automatic title adds a second upstream call.
/// </remarks>
public static partial class ChatStreaming
{
    const string Password = "benchmark-password-1";
    const string UpstreamKey = "sk-bench";

    sealed record Options(Uri AiHub, Uri Fake, int AiHubPid, int FakePid, string MailDirectory, string Email, int[] Concurrency,
        int Requests, int Rounds, int Words, int IdleSeconds, int ClockTicks);

    /// <param name="HeadersMs">Until the response headers: for AiHub, once the question is stored and its credits held, before the upstream call.</param>
    sealed record Sample(double HeadersMs, double? FirstTokenMs, double TotalMs, string? Error);

    sealed record Phase(int Streams, string Path, List<Sample> Samples, TimeSpan Wall, double AiHubCpuMs, double FakeCpuMs)
    {
        public List<double> Headers => [.. Samples.Where(s => s.Error is null).Select(s => s.HeadersMs).Order()];
        public List<double> FirstTokens => [.. Samples.Where(s => s.Error is null).Select(s => s.FirstTokenMs!.Value).Order()];
        /// <summary>From the first token to the end, per request: shorter than the upstream's pacing means chunks were held back and sent in a burst.</summary>
        public List<double> Spans => [.. Samples.Where(s => s.Error is null).Select(s => s.TotalMs - s.FirstTokenMs!.Value).Order()];
        public List<double> Totals => [.. Samples.Where(s => s.Error is null).Select(s => s.TotalMs).Order()];
        public int Failures => Samples.Count(s => s.Error is not null);
    }

    sealed record Hub(HttpClient Http, Guid OrgId, Guid WorkspaceId);

    public static async Task<int> RunAsync(string[] args)
    {
        if (Parse(args) is not { } options)
        {
            Console.Error.WriteLine("usage: chat --aihub <url> --fake <url> --aihub-pid <pid> --fake-pid <pid> --mail <pickup directory> --email <Bootstrap:AdminEmail>");
            Console.Error.WriteLine("            [--concurrency 1,64] [--requests 200] [--rounds 5] [--words 30] [--idle-seconds 60] [--clock-ticks 100]");
            return 64;
        }
        // One connection per stream, as many browsers or API clients would open; no pool limit of our own in the way.
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
        using var fake = new HttpClient(handler, disposeHandler: false) { BaseAddress = options.Fake, Timeout = TimeSpan.FromMinutes(2) };
        fake.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", UpstreamKey);
        using var aihub = new HttpClient(handler, disposeHandler: false) { BaseAddress = options.AiHub, Timeout = TimeSpan.FromMinutes(2) };
        var hub = await SetUpAsync(aihub, options);

        var prompt = Prompt(options.Words);
        var expected = "You said: " + prompt;
        Console.WriteLine($"prompt: {options.Words} words; reply: {options.Words + 2} chunks (\"{expected[..Math.Min(60, expected.Length)]}…\")");

        // Both paths at every concurrency first, so that start-up work (JIT, tiering, first queries) is not measured.
        var sent = 0;
        async Task<IEnumerable<Phase>> BothPathsAsync(int streams, int count)
        {
            var direct = await MeasureAsync(options, streams, "direct", count, () => DirectAsync(fake, prompt, expected));
            var conversations = await ConversationsAsync(hub, count);
            var through = await MeasureAsync(options, streams, "AiHub", count, () => ThroughAiHubAsync(hub, conversations, prompt, expected));
            sent += count;
            return [direct, through];
        }

        var warmUps = new List<Phase>();
        foreach (var streams in options.Concurrency)
            warmUps.AddRange(await BothPathsAsync(streams, Math.Max(50, 2 * streams)));
        // The runtime recompiles hot code in the background for a while after the first load; that tail is not idle cost.
        await Task.Delay(TimeSpan.FromSeconds(20));
        var (aihubIdle, fakeIdle) = await IdleCpuAsync(options);
        Console.WriteLine(Invariant($"idle CPU over {options.IdleSeconds} s after the warm-up (background jobs): AiHub {aihubIdle:0.0} ms/s, fake {fakeIdle:0.0} ms/s"));

        var phases = new List<Phase>();
        foreach (var streams in options.Concurrency)
            phases.AddRange(await BothPathsAsync(streams, streams == 1 ? options.Requests : streams * options.Rounds));

        Print(phases, aihubIdle);
        var upstreamCalls = await UpstreamCallsAsync(hub);
        Console.WriteLine($"upstream calls AiHub recorded: {upstreamCalls} for {sent} chat requests (warm-ups included)");
        var failures = warmUps.Concat(phases).Sum(p => p.Failures);
        if (failures > 0)
            Console.WriteLine($"failures: {failures}, warm-ups included");
        foreach (var error in warmUps.Concat(phases).SelectMany(p => p.Samples).Select(s => s.Error).OfType<string>().Distinct().Take(5))
            Console.WriteLine($"failure: {error}");
        return failures == 0 && upstreamCalls == sent ? 0 : 1;
    }

    /// <summary>Runs <paramref name="count"/> requests on <paramref name="streams"/> concurrent workers, reading both processes' CPU time around them.</summary>
    static async Task<Phase> MeasureAsync(Options options, int streams, string path, int count, Func<Task<Sample>> request)
    {
        var (aihubBefore, fakeBefore) = (CpuMs(options, options.AiHubPid), CpuMs(options, options.FakePid));
        var samples = new ConcurrentBag<Sample>();
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
                samples.Add(await request());
        })));
        var wall = clock.Elapsed;
        var (aihubAfter, fakeAfter) = (CpuMs(options, options.AiHubPid), CpuMs(options, options.FakePid));
        return new Phase(streams, path, [.. samples], wall, aihubAfter - aihubBefore, fakeAfter - fakeBefore);
    }

    /// <summary>The request AiHub makes of its provider, made straight to the fake: OpenAI's chat completions, streamed, with usage.</summary>
    static async Task<Sample> DirectAsync(HttpClient fake, string prompt, string expected)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
            {
                Content = JsonContent.Create(new
                {
                    model = "gpt-4o-mini",
                    messages = new[] { new { role = "user", content = prompt } },
                    stream = true,
                    stream_options = new { include_usage = true },
                    max_completion_tokens = 4096,
                }),
            };
            using var response = await fake.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var headers = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (!response.IsSuccessStatusCode)
                return Failed($"direct: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            double? first = null;
            var text = new StringBuilder();
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    continue;
                if (line == "data: [DONE]")
                    return Finish(started, headers, first, text, expected, "direct");
                using var chunk = JsonDocument.Parse(line.AsMemory(6));
                if (chunk.RootElement.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                    && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 } piece)
                {
                    first ??= Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    text.Append(piece);
                }
            }
            return Failed("direct: the stream ended without [DONE]");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return Failed($"direct: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>A first message in a fresh conversation, streamed as server-sent events; the first <c>delta</c> is the first token.</summary>
    static async Task<Sample> ThroughAiHubAsync(Hub hub, ConcurrentQueue<Guid> conversations, string prompt, string expected)
    {
        if (!conversations.TryDequeue(out var conversation))
            throw new InvalidOperationException("Fewer conversations were made than requests sent.");
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"api/orgs/{hub.OrgId}/workspaces/{hub.WorkspaceId}/conversations/{conversation}/messages")
            {
                Content = JsonContent.Create(new { content = prompt }),
            };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await hub.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            var headers = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (!response.IsSuccessStatusCode)
                return Failed($"AiHub: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            double? first = null;
            var text = new StringBuilder();
            string? name = null;
            string? error = null;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                    name = line[7..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    using var data = JsonDocument.Parse(line.AsMemory(6));
                    switch (name)
                    {
                        case "delta" when data.RootElement.GetProperty("text").GetString() is { Length: > 0 } piece:
                            first ??= Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                            text.Append(piece);
                            break;
                        case "error":
                            error = line[6..];
                            break;
                        case "done":
                            var status = data.RootElement.GetProperty("status").GetString();
                            return status == "complete"
                                ? Finish(started, headers, first, text, expected, "AiHub")
                                : Failed($"AiHub: answer {status}: {error}");
                    }
                }
            }
            return Failed("AiHub: the stream ended without a done event");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            return Failed($"AiHub: {e.GetType().Name}: {e.Message}");
        }
    }

    static Sample Failed(string error) => new(0, null, 0, error);

    static Sample Finish(long started, double headers, double? first, StringBuilder text, string expected, string path)
    {
        var total = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        // A fast wrong answer must not count: the whole reply has to arrive, word for word.
        return text.ToString() == expected && first is not null
            ? new Sample(headers, first, total, null)
            : Failed($"{path}: the reply differs from the expected one: \"{text}\"");
    }

    /// <summary>
    /// The operator's path: register the bootstrap admin address, verify it with the mailed code, sign in, give the
    /// personal org a workspace, an unlimited plan and credits to hold 64 answers at once.
    /// </summary>
    static async Task<Hub> SetUpAsync(HttpClient http, Options options)
    {
        await Ok(await http.PostAsJsonAsync("api/auth/register", new { email = options.Email, password = Password, displayName = "Benchmark" }));
        var mail = await PickupDirectory.WaitForMessageAsync(options.MailDirectory, options.Email, TimeSpan.FromSeconds(30), m => SixDigits().IsMatch(m.TextBody ?? ""));
        var code = SixDigits().Match(mail.TextBody!).Value;
        await Ok(await http.PostAsJsonAsync("api/auth/verify-email", new { email = options.Email, code }));
        var tokens = await Ok(await http.PostAsJsonAsync("api/auth/login", new { email = options.Email, password = Password }));
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.GetProperty("accessToken").GetString());

        var me = await Ok(await http.GetAsync(new Uri("api/me", UriKind.Relative)));
        if (!me.GetProperty("roles").EnumerateArray().Any(r => r.GetString() == "SuperAdmin"))
            throw new InvalidOperationException($"{options.Email} did not become SuperAdmin: is it AiHub's Bootstrap:AdminEmail, and is the data directory new?");
        var orgs = await Ok(await http.GetAsync(new Uri("api/orgs", UriKind.Relative)));
        var orgId = orgs.EnumerateArray().First(o => o.GetProperty("personal").GetBoolean()).GetProperty("id").GetGuid();
        var workspace = await Ok(await http.PostAsJsonAsync($"api/orgs/{orgId}/workspaces", new { name = "Benchmark" }));
        // FREE allows 3 questions in all; ENTERPRISE has no question limit.
        await Ok(await http.PutAsJsonAsync($"api/admin/orgs/{orgId}/plan", new { code = "ENTERPRISE" }));
        // Each answer holds up to 4,096 output tokens of credits while it streams; 64 at once need more than the sign-up grant.
        await Ok(await http.PostAsJsonAsync("api/admin/credits/adjust", new { accountId = me.GetProperty("id").GetGuid(), amount = 100_000, reason = "chat streaming benchmark" }));
        return new Hub(http, orgId, workspace.GetProperty("id").GetGuid());
    }

    /// <summary>Titled conversations, made before the measured phase so that neither their creation nor an automatic title is measured.</summary>
    static async Task<ConcurrentQueue<Guid>> ConversationsAsync(Hub hub, int count)
    {
        var ids = new ConcurrentQueue<Guid>();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) =>
        {
            var created = await Ok(await hub.Http.PostAsJsonAsync($"api/orgs/{hub.OrgId}/workspaces/{hub.WorkspaceId}/conversations",
                new { title = $"Benchmark {i}" }, ct));
            ids.Enqueue(created.GetProperty("id").GetGuid());
        });
        return ids;
    }

    /// <summary>The provider calls AiHub recorded for the org, one per upstream request (titles and follow-ups would add theirs).</summary>
    static async Task<long> UpstreamCallsAsync(Hub hub)
    {
        var usage = await Ok(await hub.Http.GetAsync(new Uri($"api/orgs/{hub.OrgId}/usage?groupBy=model", UriKind.Relative)));
        return usage.GetProperty("total").GetProperty("requests").GetInt64();
    }

    static async Task<JsonElement> Ok(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {body}");
            return body.Length == 0 ? default : JsonDocument.Parse(body).RootElement.Clone();
        }
    }

    /// <summary>CPU per second that each process spends with no request: background jobs, timers; part of every phase's figure.</summary>
    static async Task<(double AiHub, double Fake)> IdleCpuAsync(Options options)
    {
        var (aihub, fake) = (CpuMs(options, options.AiHubPid), CpuMs(options, options.FakePid));
        await Task.Delay(TimeSpan.FromSeconds(options.IdleSeconds));
        return ((CpuMs(options, options.AiHubPid) - aihub) / options.IdleSeconds, (CpuMs(options, options.FakePid) - fake) / options.IdleSeconds);
    }

    /// <summary>User plus system CPU time of a process so far, from <c>/proc/&lt;pid&gt;/stat</c> (fields 14 and 15, in clock ticks).</summary>
    static double CpuMs(Options options, int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        // The command name in parentheses may hold spaces; the fields are counted after it, from field 3.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return ticks * 1000.0 / options.ClockTicks;
    }

    static string Prompt(int words)
    {
        string[] pangram = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"];
        return string.Join(' ', Enumerable.Range(0, words).Select(i => pangram[i % pangram.Length]));
    }

    static void Print(List<Phase> phases, double aihubIdleMsPerSecond)
    {
        Console.WriteLine();
        Console.WriteLine("| streams | path | requests | wall | headers median | TTFT median | TTFT p95 | total median | total p95 | first token to end, median | AiHub CPU/request | fake CPU/request | failures |");
        Console.WriteLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var p in phases)
            Console.WriteLine(Invariant($"| {p.Streams} | {p.Path} | {p.Samples.Count} | {p.Wall.TotalSeconds:0.0} s | {Ms(p.Headers, 0.5)} | {Ms(p.FirstTokens, 0.5)} | {Ms(p.FirstTokens, 0.95)} | {Ms(p.Totals, 0.5)} | {Ms(p.Totals, 0.95)} | {Ms(p.Spans, 0.5)} | {p.AiHubCpuMs / p.Samples.Count:0.00} ms | {p.FakeCpuMs / p.Samples.Count:0.00} ms | {p.Failures} |"));

        Console.WriteLine();
        Console.WriteLine("| streams | TTFT direct | TTFT through AiHub | added (median) | ratio | added total time (median) | AiHub CPU/request | of it, idle background | fake CPU/request |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var pair in phases.GroupBy(p => p.Streams))
        {
            var direct = pair.Single(p => p.Path == "direct");
            var through = pair.Single(p => p.Path == "AiHub");
            var (d, a) = (Quantile(direct.FirstTokens, 0.5), Quantile(through.FirstTokens, 0.5));
            var addedTotal = Quantile(through.Totals, 0.5) - Quantile(direct.Totals, 0.5);
            Console.WriteLine(Invariant($"| {pair.Key} | {d:0.0} ms | {a:0.0} ms | {a - d:0.0} ms | {a / d:0.0}× | {addedTotal:0.0} ms | {through.AiHubCpuMs / through.Samples.Count:0.00} ms | {aihubIdleMsPerSecond * through.Wall.TotalSeconds / through.Samples.Count:0.00} ms | {through.FakeCpuMs / through.Samples.Count:0.00} ms |"));
        }
    }

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    static double Quantile(List<double> sorted, double quantile) =>
        sorted.Count == 0 ? double.NaN : sorted[(int)Math.Min(sorted.Count - 1, quantile * sorted.Count)];

    static string Ms(List<double> sorted, double quantile) => Invariant($"{Quantile(sorted, quantile):0.0} ms");

    static Options? Parse(string[] args)
    {
        string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        int Int(string name, int fallback) => Option(name) is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;
        if (Option("--aihub") is not { } aihub || Option("--fake") is not { } fake || Option("--aihub-pid") is null
            || Option("--fake-pid") is null || Option("--mail") is not { } mail || Option("--email") is not { } email)
            return null;
        return new Options(new Uri(aihub.TrimEnd('/') + "/"), new Uri(fake.TrimEnd('/') + "/"), Int("--aihub-pid", 0), Int("--fake-pid", 0), mail, email,
            [.. (Option("--concurrency") ?? "1,64").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))],
            Int("--requests", 200), Int("--rounds", 5), Int("--words", 30), Int("--idle-seconds", 60), Int("--clock-ticks", 100));
    }

    [GeneratedRegex(@"\b\d{6}\b")]
    private static partial Regex SixDigits();
}
