using System.ClientModel;
using System.ComponentModel.DataAnnotations;
using AiHub.Chat.Tokens;
using AiHub.Credits.Pools;
using AiHub.Credits.Usage;
using AiHub.Knowledge.Ingestion;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using Polly;

namespace AiHub.Knowledge.Embeddings;

/// <summary>The embedding part of the <c>Knowledge</c> section.</summary>
internal sealed class EmbeddingSettings
{
    public const string Section = "Knowledge";

    /// <summary>Texts per embedding request; a request also stops at <see cref="KnowledgeEmbedder.MaxTokensPerRequest"/> tokens.</summary>
    [Range(1, 2048)]
    public int EmbeddingBatchSize { get; set; } = 64;
}

/// <summary>A run of texts embedded in one request: where it starts in the input, how many, and their estimated tokens.</summary>
internal readonly record struct EmbeddingBatch(int Start, int Count, int Tokens);

/// <summary>Unit vectors in input order, and the input tokens charged for them (the provider's count where it gave one).</summary>
internal sealed record EmbeddedTexts(IReadOnlyList<float[]> Vectors, long InputTokens);

/// <summary>
/// Embeds texts with a deployment embedding model, in batches, each batch one metered AI call: the credit gate holds
/// its maximum cost, the provider is called, and the real cost is settled and recorded as usage.
/// </summary>
/// <remarks>
/// Every batch holds under <c>{callKey}:{batch}</c>. The ledger answers a key it has seen with its first hold, so a
/// call repeated after a crash charges nothing twice; a hold that was released after a failure stays released, so
/// an attempt after a transient failure must bring a new <c>callKey</c>.
/// </remarks>
internal sealed class KnowledgeEmbedder(
    EmbeddingModels models, TokenCounter tokens, IServiceScopeFactory scopes, IOptions<EmbeddingSettings> settings, TimeProvider clock,
    ILogger<KnowledgeEmbedder> log)
{
    /// <summary>Below the 8,191 input tokens of OpenAI's embedding models, so a request never exceeds what one input may hold.</summary>
    public const int MaxTokensPerRequest = 8_000;

    /// <summary>The call key leaves room for the batch index within the ledger's 150-character idempotency keys.</summary>
    public const int MaxCallKeyLength = 140;

    /// <summary>Unit vectors (cosine similarity is then a dot product), one per text, in the order of <paramref name="texts"/>.</summary>
    /// <exception cref="Infrastructure.Errors.ProblemException">400 for a model id not configured; the credit gate's 402 when the spender cannot pay; 503 when the model has no price.</exception>
    /// <exception cref="IngestionException">The provider failed: <see cref="IngestionException.Transient"/> when trying again later may work.</exception>
    public async Task<IReadOnlyList<float[]>> EmbedAsync(Spender spender, string modelId, IReadOnlyList<string> texts, string callKey, CancellationToken ct) =>
        (await EmbedWithUsageAsync(spender, modelId, texts, callKey, ct)).Vectors;

    /// <summary>As <see cref="EmbedAsync"/>, with the input tokens charged, for callers that report usage.</summary>
    public async Task<EmbeddedTexts> EmbedWithUsageAsync(Spender spender, string modelId, IReadOnlyList<string> texts, string callKey, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spender);
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentException.ThrowIfNullOrWhiteSpace(callKey);
        if (callKey.Length > MaxCallKeyLength)
            throw new ArgumentException($"A call key has at most {MaxCallKeyLength} characters.", nameof(callKey));
        var model = models.Resolve(modelId);
        if (texts.Count == 0)
            return new EmbeddedTexts([], 0);
        if (texts.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("Every text to embed holds some text: providers refuse empty input.", nameof(texts));
        var price = await PriceAsync(model, ct);
        var counts = texts.Select(t => Math.Max(1, tokens.Count(model.Model, t))).ToList();
        var vectors = new float[texts.Count][];
        long inputTokens = 0;
        var batches = Plan(counts, settings.Value.EmbeddingBatchSize, MaxTokensPerRequest);
        for (var i = 0; i < batches.Count; i++)
        {
            var batch = batches[i];
            var (embedded, input) = await EmbedBatchAsync(spender, model, price, texts, batch, $"{callKey}:{i}", ct);
            inputTokens += input;
            // Every vector of one call must be comparable: a model that changed its dimensions between batches is broken.
            if (i > 0 && embedded[0].Length != vectors[0].Length)
                throw new IngestionException($"The embedding model {model.Id} returned vectors of {vectors[0].Length} and then {embedded[0].Length} dimensions in one call.");
            embedded.CopyTo(vectors, batch.Start);
        }
        return new EmbeddedTexts(vectors, inputTokens);
    }

    /// <summary>Consecutive runs of at most <paramref name="batchSize"/> texts and <paramref name="maxTokens"/> tokens; a longer text goes alone.</summary>
    internal static IReadOnlyList<EmbeddingBatch> Plan(IReadOnlyList<int> tokenCounts, int batchSize, int maxTokens)
    {
        var batches = new List<EmbeddingBatch>();
        var (start, count, sum) = (0, 0, 0);
        for (var i = 0; i < tokenCounts.Count; i++)
        {
            if (count > 0 && (count == batchSize || sum + tokenCounts[i] > maxTokens))
            {
                batches.Add(new EmbeddingBatch(start, count, sum));
                (start, count, sum) = (i, 0, 0);
            }
            count++;
            sum += tokenCounts[i];
        }
        if (count > 0)
            batches.Add(new EmbeddingBatch(start, count, sum));
        return batches;
    }

    /// <summary>The vector scaled to length 1; a zero vector (which has no direction) is returned as it is.</summary>
    internal static float[] Normalize(ReadOnlySpan<float> vector)
    {
        double sum = 0;
        foreach (var x in vector)
            sum += (double)x * x;
        var result = vector.ToArray();
        if (sum == 0)
            return result;
        var scale = 1 / Math.Sqrt(sum);
        for (var i = 0; i < result.Length; i++)
            result[i] = (float)(result[i] * scale);
        return result;
    }

    async Task<ModelRate> PriceAsync(EmbeddingModel model, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<PriceCatalog>().ResolveAsync(model.Source.Name, model.Model, ct)
            ?? throw PriceCatalog.NotPriced(model.Source.Name, model.Model);
    }

    async Task<(float[][] Vectors, long InputTokens)> EmbedBatchAsync(Spender spender, EmbeddingModel model, ModelRate price, IReadOnlyList<string> texts, EmbeddingBatch batch, string key, CancellationToken ct)
    {
        // The credit work has a unit of work of its own: the ledger clears its unit of work, which must not be the caller's.
        await using var scope = scopes.CreateAsyncScope();
        var gate = scope.ServiceProvider.GetRequiredService<CreditGate>();
        var meter = scope.ServiceProvider.GetRequiredService<UsageMeter>();
        // Our count is another tokenizer's estimate: the hold leaves a quarter (and a token per text) for the provider's own count.
        var most = PriceCatalog.Cost(batch.Tokens + batch.Tokens / 4 + batch.Count, 0, price.InputMicrosPerMillion, price.OutputMicrosPerMillion);
        var hold = await gate.HoldAsync(spender, most, key, ct);
        var started = clock.GetTimestamp();
        float[][] vectors;
        long? reported;
        try
        {
            var slice = texts.Skip(batch.Start).Take(batch.Count).ToList();
            var result = await models.Generator(model).GenerateAsync(slice, cancellationToken: ct);
            vectors = Read(model, result, batch.Count);
            reported = result.Usage?.InputTokenCount is >= 0 and <= int.MaxValue and var n ? n : null;
        }
        catch (Exception e)
        {
            await gate.ReleaseAsync(hold, CancellationToken.None);
            await meter.RecordAsync(Entry(key, spender, model, 0, clock.GetElapsedTime(started), UsageStatus.Failed, hold, 0), CancellationToken.None);
            if (e is OperationCanceledException && ct.IsCancellationRequested || e is IngestionException)
                throw;
            var transient = IsTransient(e, ct);
            log.LogWarning("Embedding with {Model} failed ({Transient}): {Reason}", model.Id, transient ? "transient" : "fatal", e.GetType().Name);
            throw new IngestionException(Describe(model, e, transient), transient, e);
        }
        var input = reported ?? batch.Tokens;
        var cost = PriceCatalog.Cost(input, 0, price.InputMicrosPerMillion, price.OutputMicrosPerMillion);
        if (cost > hold.AmountMicros)
            log.LogWarning("{Model} cost {Cost} µcr, more than the {Held} held; the hold is charged.", model.Id, cost, hold.AmountMicros);
        var charged = Math.Min(cost, hold.AmountMicros);
        await gate.SettleAsync(hold, charged, CancellationToken.None);
        await meter.RecordAsync(Entry(key, spender, model, input, clock.GetElapsedTime(started), UsageStatus.Succeeded, hold, charged), CancellationToken.None);
        return (vectors, input);
    }

    static UsageEntry Entry(string key, Spender spender, EmbeddingModel model, long input, TimeSpan latency, UsageStatus status, CreditHold hold, long cost) =>
        new(key, spender.OrganizationId, spender.UserId, model.Source.Name, model.Model, input, 0, (long)latency.TotalMilliseconds, status,
            spender.ApiKeyId, spender.WorkspaceId, hold.Id, CostMicros: cost);

    /// <summary>One unit vector per text, in input order, all of one length; anything else is a broken answer.</summary>
    internal static float[][] Read(EmbeddingModel model, GeneratedEmbeddings<Embedding<float>> result, int expected)
    {
        if (result.Count != expected)
            throw new IngestionException($"The embedding model {model.Id} returned {result.Count} vectors for {expected} texts.");
        var vectors = new float[expected][];
        for (var i = 0; i < expected; i++)
        {
            var vector = result[i].Vector.Span;
            if (vector.Length == 0 || vector.Length != result[0].Vector.Length)
                throw new IngestionException($"The embedding model {model.Id} returned vectors of different lengths in one answer.");
            foreach (var x in vector)
                if (!float.IsFinite(x))
                    throw new IngestionException($"The embedding model {model.Id} returned a vector that is not a number.");
            vectors[i] = Normalize(vector);
        }
        return vectors;
    }

    /// <summary>Worth trying again later: the provider was busy, down, slow or unreachable, not wrong about the request.</summary>
    internal static bool IsTransient(Exception e, CancellationToken ct) => e switch
    {
        ClientResultException { Status: 408 or 409 or 425 or 429 or >= 500 } => true,
        ClientResultException { Status: 0 } c => c.InnerException is null || IsTransient(c.InnerException, ct),
        ClientResultException => false,
        HttpRequestException or IOException or TimeoutException or ExecutionRejectedException => true,
        OperationCanceledException => !ct.IsCancellationRequested,
        _ => e.InnerException is { } inner && IsTransient(inner, ct),
    };

    /// <summary>What went wrong, for the user: the status or the kind of failure, never the provider's body or address.</summary>
    static string Describe(EmbeddingModel model, Exception e, bool transient) => e switch
    {
        ClientResultException { Status: > 0 } c when transient => $"The embedding model {model.Id} is unavailable (HTTP {c.Status}); it will be tried again.",
        ClientResultException { Status: 401 or 403 } c => $"The embedding model {model.Id} refused the deployment's key (HTTP {c.Status}); an operator must check the provider's API key.",
        ClientResultException { Status: > 0 } c => $"The embedding model {model.Id} refused the request (HTTP {c.Status}).",
        _ when transient => $"The embedding model {model.Id} could not be reached or did not answer in time; it will be tried again.",
        _ => $"The embedding model {model.Id} failed ({e.GetType().Name}).",
    };
}
