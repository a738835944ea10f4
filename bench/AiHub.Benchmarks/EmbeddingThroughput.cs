using System.Diagnostics;
using System.Globalization;
using AiHub.Admin;
using AiHub.Chat;
using AiHub.Credits;
using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Identity;
using AiHub.Infrastructure;
using AiHub.Infrastructure.Jobs;
using AiHub.Knowledge;
using AiHub.Knowledge.Embeddings;
using AiHub.Notifications;
using AiHub.Organizations;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.Benchmarks;

/// <summary>
/// Texts embedded per second against the test embedding server (Universal Sentence Encoder lite on CPU), two ways:
/// straight through the model's generator, and through <see cref="KnowledgeEmbedder"/>, which adds what every real
/// call pays: token counting, a hold and a settlement on the ledger and a usage record per batch.
/// </summary>
/// <remarks>The app's container is built as <c>Program</c> builds it (never started) on SQLite in a temporary folder.</remarks>
public static class EmbeddingThroughput
{
    static readonly string[] Words =
    [
        "invoice", "customer", "refund", "password", "account", "meeting", "schedule", "report", "quarter", "revenue",
        "office", "policy", "holiday", "support", "ticket", "shipping", "order", "delivery", "warehouse", "contract",
        "renewal", "budget", "team", "project", "deadline", "review", "security", "access", "login", "email",
    ];

    public static async Task<int> RunAsync(string[] args)
    {
        var endpoint = LedgerThroughput.Option(args, "--endpoint") ?? Environment.GetEnvironmentVariable("AIHUB_TEST_EMBEDDINGS");
        if (string.IsNullOrEmpty(endpoint))
        {
            Console.Error.WriteLine("--endpoint http://127.0.0.1:PORT/v1 (or AIHUB_TEST_EMBEDDINGS) names the embedding server; bench/embed.sh starts one.");
            return 64;
        }
        var count = int.Parse(LedgerThroughput.Option(args, "--texts") ?? "256", CultureInfo.InvariantCulture);
        var batch = int.Parse(LedgerThroughput.Option(args, "--batch") ?? "64", CultureInfo.InvariantCulture);
        var words = int.Parse(LedgerThroughput.Option(args, "--words") ?? "34", CultureInfo.InvariantCulture);
        var rounds = int.Parse(LedgerThroughput.Option(args, "--rounds") ?? "5", CultureInfo.InvariantCulture);

        var folder = Directory.CreateTempSubdirectory("aihub-bench-embed-");
        try
        {
            await using var app = App(folder.FullName, endpoint, batch);
            var services = app.Services;
            await using (var scope = services.CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<AppDbContext>().Database.MigrateAsync();
            await services.GetRequiredService<LedgerWriter>().StartAsync(CancellationToken.None);
            var spender = await SpenderAsync(services);

            var texts = Texts(count, words);
            var embedder = services.GetRequiredService<KnowledgeEmbedder>();
            var models = services.GetRequiredService<EmbeddingModels>();
            var model = models.Resolve("local/use-lite");
            var generator = models.Generator(model);
            var tokens = texts.Sum(t => services.GetRequiredService<Chat.Tokens.TokenCounter>().Count(model.Model, t));
            Console.WriteLine($"{count} texts of {words} words (about {tokens / count} tokens each by cl100k), batches of {batch}, {rounds} rounds after a warm-up");

            // Warm-up: connections, the tokenizer's vocabulary, the model's first graph runs.
            await embedder.EmbedAsync(spender, model.Id, texts[..Math.Min(batch, count)], $"bench-warm-{Guid.NewGuid():N}", CancellationToken.None);

            var direct = new List<double>();
            var metered = new List<double>();
            for (var round = 0; round < rounds; round++)
            {
                var clock = Stopwatch.StartNew();
                for (var start = 0; start < count; start += batch)
                    await generator.GenerateAsync(texts.Skip(start).Take(batch).ToList());
                direct.Add(count / clock.Elapsed.TotalSeconds);

                clock.Restart();
                var vectors = await embedder.EmbedAsync(spender, model.Id, texts, $"bench-{round}-{Guid.NewGuid():N}", CancellationToken.None);
                metered.Add(count / clock.Elapsed.TotalSeconds);
                if (vectors.Count != count)
                    throw new InvalidOperationException($"{vectors.Count} vectors for {count} texts");
                Console.WriteLine($"round {round + 1}: generator {direct[^1]:N0} texts/s, KnowledgeEmbedder {metered[^1]:N0} texts/s");
            }
            Console.WriteLine("| path | median texts/s | min | max |");
            Console.WriteLine("| --- | ---: | ---: | ---: |");
            Console.WriteLine($"| generator (HTTP + model) | {Median(direct):N0} | {direct.Min():N0} | {direct.Max():N0} |");
            Console.WriteLine($"| KnowledgeEmbedder (+ tokens, hold, settle, usage per batch) | {Median(metered):N0} | {metered.Min():N0} | {metered.Max():N0} |");
            return 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>Distinct texts of <paramref name="words"/> words, the same every run.</summary>
    static List<string> Texts(int count, int words)
    {
        var random = new Random(42);
        return Enumerable.Range(0, count)
            .Select(i => $"Note {i}: " + string.Join(' ', Enumerable.Range(0, words).Select(_ => Words[random.Next(Words.Length)])) + ".")
            .ToList();
    }

    /// <summary>The owner of a new org whose pool is funded far beyond what the run spends.</summary>
    static async Task<Spender> SpenderAsync(IServiceProvider services)
    {
        await using var scope = services.CreateAsyncScope();
        var sp = scope.ServiceProvider;
        var db = sp.GetRequiredService<AppDbContext>();
        var email = "embedder@bench.invalid";
        var user = new AppUser
        {
            Id = Guid.CreateVersion7(), UserName = email, NormalizedUserName = email.ToUpperInvariant(), Email = email, NormalizedEmail = email.ToUpperInvariant(),
            EmailConfirmed = true, SecurityStamp = Guid.NewGuid().ToString("N"), DisplayName = "Embedder", CreatedAt = DateTimeOffset.UtcNow,
        };
        db.Users.Add(user);
        await db.SaveChangesAsync();
        var org = await sp.GetRequiredService<Orgs>().CreateAsync(user.Id, "Bench embeddings", CancellationToken.None);
        var ledger = sp.GetRequiredService<Ledger>();
        var pool = await ledger.OpenAsync(CreditOwner.Organization, null, org.Id, CancellationToken.None);
        await ledger.PostAsync(pool.Id, CreditKind.Grant, 1_000_000_000_000, "bench funding", null, $"bench-fund-{org.Id:N}", CancellationToken.None);
        return new Spender(org.Id, user.Id, null, null);
    }

    /// <summary>The app's container as <c>Program</c> builds it, down to knowledge; built, never started.</summary>
    static WebApplication App(string folder, string endpoint, int batch)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", Args = [] });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Database:Provider"] = "Sqlite",
            ["Database:ConnectionString"] = $"Data Source={Path.Combine(folder, "aihub.db")}",
            ["DataProtection:KeyEncryptionKey"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore.Database.Command"] = "None",
            // SQLite's table rebuilds in the migrations warn on every new database; they are not what is measured.
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore.Migrations"] = "Error",
            ["Providers:0:Name"] = "local",
            ["Providers:0:Kind"] = "OpenAICompatible",
            ["Providers:0:BaseUrl"] = endpoint,
            ["Providers:0:EmbeddingModels:0"] = "use-lite",
            ["Providers:0:Prices:0:Model"] = "use-lite",
            ["Providers:0:Prices:0:InputPerMillion"] = "2",
            ["Providers:0:Prices:0:OutputPerMillion"] = "0",
            ["Knowledge:EmbeddingBatchSize"] = batch.ToString(CultureInfo.InvariantCulture),
        });
        builder.AddInfrastructure();
        builder.AddData();
        builder.AddJobs();
        builder.AddNotifications();
        builder.AddAdmin();
        builder.AddIdentityFeature();
        builder.AddOrganizations();
        builder.AddCredits();
        builder.AddChat();
        builder.AddKnowledge();
        return builder.Build();
    }
}
