using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Hosting;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Ingestion.Chunking;
using AiHub.Knowledge.Ingestion.Documents;
using AiHub.Knowledge.Search;
using AiHub.Knowledge.Sources;
using AiHub.Organizations;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace AiHub.Knowledge.Evaluation;

/// <summary>
/// <c>eval retrieval --docs DIR --questions FILE.jsonl</c>: ingests a folder into a throwaway embedded database with
/// the product's own extraction, chunking, embedding model and index, then asks each question three ways (full text,
/// vector, and both fused) and prints hit@1, hit@5 and MRR@10 side by side.
/// </summary>
/// <remarks>
/// A question line is <c>{"question": "…", "source": "file.md", "answer": "words the right passage holds"}</c>; a hit
/// is a chunk of that file holding those words (or any chunk of the file when <c>answer</c> is absent). The database
/// and its blobs are temporary and nothing is charged: the embedding model is called directly.
/// </remarks>
internal sealed class EvalRetrievalCommand : IHostCommand
{
    const int Depth = 10;

    sealed record Question(string Text, string Source, string? Answer);

    sealed record Method(string Name, List<int?> Ranks);

    public string Name => "eval";

    public string Usage => "eval retrieval --docs DIR --questions FILE.jsonl [--embedding-model provider/model]";

    public async Task<int> RunAsync(WebApplication app, IReadOnlyList<string> args)
    {
        if (!args.Contains("retrieval", StringComparer.OrdinalIgnoreCase))
            throw new HostCommandUsageException("eval needs what to evaluate: eval retrieval --docs DIR --questions FILE.jsonl");
        var docs = app.Configuration["docs"];
        var questionsFile = app.Configuration["questions"];
        if (string.IsNullOrWhiteSpace(docs) || !Directory.Exists(docs))
            throw new HostCommandUsageException("eval retrieval needs --docs DIR, a folder of documents");
        if (string.IsNullOrWhiteSpace(questionsFile) || !File.Exists(questionsFile))
            throw new HostCommandUsageException("eval retrieval needs --questions FILE.jsonl, one JSON question per line");
        var questions = await ReadQuestionsAsync(questionsFile);

        var services = app.Services;
        var models = services.GetRequiredService<EmbeddingModels>();
        var modelId = app.Configuration["embedding-model"];
        var model = string.IsNullOrWhiteSpace(modelId) ? (models.All.Count > 0 ? models.All[0] : null) : models.Resolve(modelId);
        var generator = model is null ? null : models.Generator(model);
        var settings = services.GetRequiredService<IOptions<KnowledgeSettings>>().Value;
        var rrfK = services.GetRequiredService<IOptions<SearchSettings>>().Value.RrfK;

        var folder = Directory.CreateTempSubdirectory("aihub-eval-");
        try
        {
            var options = new DbContextOptionsBuilder<SqliteAppDbContext>();
            DataExtensions.ConfigureSqlite(options, $"Data Source={Path.Combine(folder.FullName, "eval.db")}");
            await using var db = new SqliteAppDbContext(options.Options);
            await db.Database.MigrateAsync();
            var (orgId, kbId) = await SeedAsync(db, model?.Id);
            var index = new SqliteKnowledgeIndex(db, new SqliteVectorCache());
            var watch = Stopwatch.StartNew();
            var chunks = await IngestAsync(db, index, services, docs, orgId, kbId, new ChunkingOptions(settings.ChunkTokens, settings.ChunkOverlapTokens), model, generator);
            await Console.Out.WriteLineAsync($"aihub: ingested {chunks.Files} file(s) into {chunks.Count} chunk(s) in {watch.Elapsed.TotalSeconds:N1} s; " +
                (model is null ? "no embedding model is configured, so only full text is evaluated" : $"embedding model {model.Id}"));

            var scope = new SearchScope(orgId, [kbId]);
            var lexical = new Method("full text", []);
            var vector = new Method("vector", []);
            var hybrid = new Method("hybrid (RRF)", []);
            foreach (var question in questions)
            {
                var byText = await index.LexicalAsync(scope, question.Text, 50, CancellationToken.None);
                IReadOnlyList<IndexHit> byVector = [];
                if (generator is not null)
                    byVector = await index.VectorAsync(scope, model!.Id, await EmbedAsync(generator, [question.Text]) is var q ? q[0] : [], 50, CancellationToken.None);
                var fused = KnowledgeSearch.Fuse(byText, byVector, rrfK).Select(f => f.ChunkId).ToList();
                lexical.Ranks.Add(RankOf(byText.Select(h => h.ChunkId).ToList(), question, chunks.ById));
                vector.Ranks.Add(RankOf(byVector.Select(h => h.ChunkId).ToList(), question, chunks.ById));
                hybrid.Ranks.Add(RankOf(fused, question, chunks.ById));
            }
            await PrintAsync(questions.Count, generator is null ? [lexical, hybrid] : [lexical, vector, hybrid]);
            return 0;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            folder.Delete(recursive: true);
        }
    }

    static async Task<List<Question>> ReadQuestionsAsync(string path)
    {
        var questions = new List<Question>();
        var number = 0;
        foreach (var line in await File.ReadAllLinesAsync(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            try
            {
                using var json = JsonDocument.Parse(line);
                var root = json.RootElement;
                questions.Add(new Question(root.GetProperty("question").GetString()!, root.GetProperty("source").GetString()!,
                    root.TryGetProperty("answer", out var answer) && answer.ValueKind == JsonValueKind.String ? answer.GetString() : null));
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new HostCommandUsageException($"{path}:{number} is not a question line: {{\"question\": \"…\", \"source\": \"file\", \"answer\": \"…\"}}");
            }
        }
        if (questions.Count == 0)
            throw new HostCommandUsageException($"{path} holds no questions");
        return questions;
    }

    static async Task<(Guid Org, Guid Kb)> SeedAsync(AppDbContext db, string? model)
    {
        var now = DateTimeOffset.UtcNow;
        var org = new Organization { Id = Guid.CreateVersion7(), Name = "Retrieval evaluation", CreatedAt = now };
        var workspace = new Workspace { Id = Guid.CreateVersion7(), OrganizationId = org.Id, Name = "Evaluation", CreatedAt = now };
        var kb = new KnowledgeBase
        {
            Id = Guid.CreateVersion7(), OrganizationId = org.Id, WorkspaceId = workspace.Id, Name = "Evaluation", EmbeddingModel = model,
            CreatedAt = now, UpdatedAt = now,
        };
        db.AddRange(org, workspace, kb);
        await db.SaveChangesAsync();
        return (org.Id, kb.Id);
    }

    sealed record Ingested(int Files, int Count, Dictionary<long, (string File, string Text)> ById);

    static async Task<Ingested> IngestAsync(AppDbContext db, SqliteKnowledgeIndex index, IServiceProvider services, string docs, Guid orgId, Guid kbId,
        ChunkingOptions options, EmbeddingModel? model, IEmbeddingGenerator<string, Embedding<float>>? generator)
    {
        var extractors = services.GetRequiredService<DocumentExtractors>();
        var chunker = services.GetRequiredService<Chunker>();
        var byId = new Dictionary<long, (string, string)>();
        var files = 0;
        foreach (var path in Directory.EnumerateFiles(docs).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            await using var stream = File.OpenRead(path);
            var sniffed = await SourceFormats.SniffAsync(stream, name, CancellationToken.None);
            if (sniffed.Format is not { } format || format is SourceFormat.Audio or SourceFormat.Video)
            {
                await Console.Error.WriteLineAsync($"aihub: skipped {name}: {sniffed.Reason ?? "recordings are not evaluated"}");
                continue;
            }
            stream.Position = 0;
            var document = await extractors.ExtractAsync(format, stream, CancellationToken.None);
            var now = DateTimeOffset.UtcNow;
            var source = new KnowledgeSource
            {
                Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = db.Set<KnowledgeBase>().Local.First().WorkspaceId, KnowledgeBaseId = kbId,
                Title = name, FileName = name, Format = format, BlobKey = name, Status = SourceStatus.Completed, CreatedAt = now, UpdatedAt = now,
            };
            var rows = chunker.Chunk(document, options).Select(d => new KnowledgeChunk
            {
                OrganizationId = orgId, KnowledgeBaseId = kbId, SourceId = source.Id, Ordinal = d.Ordinal, Text = d.Text, TokenCount = d.TokenCount,
                Page = d.Page, HeadingPath = d.HeadingPath, StartOffset = d.StartOffset, EndOffset = d.EndOffset,
            }).ToList();
            db.Add(source);
            db.AddRange(rows);
            await db.SaveChangesAsync();
            foreach (var row in rows)
                byId[row.Id] = (name, row.Text);
            if (generator is not null)
            {
                var vectors = await EmbedAsync(generator, [.. rows.Select(r => r.HeadingPath is { Length: > 0 } h ? h + "\n" + r.Text : r.Text)]);
                await index.WriteEmbeddingsAsync(orgId, [.. rows.Select((r, i) => (r.Id, vectors[i]))], model!.Id, CancellationToken.None);
            }
            files++;
        }
        return new Ingested(files, byId.Count, byId);
    }

    static async Task<float[][]> EmbedAsync(IEmbeddingGenerator<string, Embedding<float>> generator, IReadOnlyList<string> texts)
    {
        var vectors = new List<float[]>();
        foreach (var batch in texts.Chunk(32))
            foreach (var embedding in await generator.GenerateAsync(batch))
            {
                var vector = embedding.Vector.ToArray();
                var norm = TensorPrimitives.Norm(vector);
                if (norm > 0)
                    TensorPrimitives.Divide(vector, norm, vector);
                vectors.Add(vector);
            }
        return [.. vectors];
    }

    /// <summary>The 1-based rank of the first chunk that answers the question, within <see cref="Depth"/>; null when none does.</summary>
    static int? RankOf(List<long> ranked, Question question, Dictionary<long, (string File, string Text)> chunks)
    {
        for (var i = 0; i < Math.Min(Depth, ranked.Count); i++)
        {
            var (file, text) = chunks[ranked[i]];
            if (string.Equals(file, question.Source, StringComparison.OrdinalIgnoreCase)
                && (question.Answer is null || text.Contains(question.Answer, StringComparison.OrdinalIgnoreCase)))
                return i + 1;
        }
        return null;
    }

    static async Task PrintAsync(int questions, IReadOnlyList<Method> methods)
    {
        static string Share(double value) => value.ToString("0.000", CultureInfo.InvariantCulture);
        await Console.Out.WriteLineAsync($"{questions} questions; a hit is a passage of the expected file that holds the expected words");
        await Console.Out.WriteLineAsync($"{"method",-14}  {"hit@1",6}  {"hit@5",6}  {"MRR@10",6}");
        foreach (var method in methods)
        {
            var hit1 = method.Ranks.Count(r => r == 1) / (double)questions;
            var hit5 = method.Ranks.Count(r => r <= 5) / (double)questions;
            var mrr = method.Ranks.Sum(r => r is { } rank ? 1.0 / rank : 0) / questions;
            await Console.Out.WriteLineAsync($"{method.Name,-14}  {Share(hit1),6}  {Share(hit5),6}  {Share(mrr),6}");
        }
    }
}
