using System.ComponentModel.DataAnnotations;
using AiHub.Chat.Providers;
using AiHub.Knowledge.Embeddings;
using AiHub.Knowledge.Ingestion;
using Microsoft.Extensions.AI;
using Polly.Timeout;

namespace AiHub.Tests.Knowledge;

public sealed class EmbeddingMathTests
{
    [Fact]
    public void A_vector_is_scaled_to_length_one_so_cosine_similarity_is_its_dot_product()
    {
        float[] input = [3, 4];

        var unit = KnowledgeEmbedder.Normalize(input);

        Assert.Equal([0.6f, 0.8f], unit);
        Assert.Equal([3f, 4f], input);
    }

    [Fact]
    public void Long_vectors_of_any_scale_come_out_of_length_one()
    {
        var random = new Random(7);
        var vector = Enumerable.Range(0, 1536).Select(_ => (float)(random.NextDouble() * 2e6 - 1e6)).ToArray();

        var unit = KnowledgeEmbedder.Normalize(vector);

        Assert.Equal(1.0, unit.Sum(x => (double)x * x), 5);
    }

    [Fact]
    public void A_zero_vector_has_no_direction_and_stays_zero()
    {
        Assert.Equal([0f, 0f, 0f], KnowledgeEmbedder.Normalize([0, 0, 0]));
    }

    [Fact]
    public void An_answer_is_read_as_unit_vectors_in_its_order()
    {
        var vectors = KnowledgeEmbedder.Read(Model, Answer([3, 4], [0, 2]), expected: 2);

        Assert.Equal([[0.6f, 0.8f], [0f, 1f]], vectors);
    }

    [Fact]
    public void An_answer_with_vectors_of_different_lengths_missing_vectors_or_non_numbers_is_a_final_failure()
    {
        var mixed = Assert.Throws<IngestionException>(() => KnowledgeEmbedder.Read(Model, Answer([1, 0], [1, 0, 0]), expected: 2));
        var missing = Assert.Throws<IngestionException>(() => KnowledgeEmbedder.Read(Model, Answer([1, 0]), expected: 2));
        var nan = Assert.Throws<IngestionException>(() => KnowledgeEmbedder.Read(Model, Answer([1, float.NaN]), expected: 1));

        Assert.All([mixed, missing, nan], e => Assert.False(e.Transient));
        Assert.Contains("different lengths", mixed.Message);
        Assert.Contains("1 vectors for 2 texts", missing.Message);
    }

    static readonly EmbeddingModel Model = new("local/use-lite",
        new ProviderSource("local", ProviderKinds.OpenAICompatible, new Uri("http://127.0.0.1:1/v1"), null, [], ProviderOrigins.Deployment, null, "settings"), "use-lite");

    static GeneratedEmbeddings<Embedding<float>> Answer(params float[][] vectors) => [.. vectors.Select(v => new Embedding<float>(v))];

    [Fact]
    public void Texts_are_cut_into_batches_of_the_batch_size_in_order()
    {
        var batches = KnowledgeEmbedder.Plan(Enumerable.Repeat(10, 10).ToList(), batchSize: 4, maxTokens: 8_000);

        Assert.Equal([new EmbeddingBatch(0, 4, 40), new EmbeddingBatch(4, 4, 40), new EmbeddingBatch(8, 2, 20)], batches);
    }

    [Fact]
    public void A_batch_ends_before_it_would_pass_the_token_limit_and_a_text_over_the_limit_goes_alone()
    {
        var batches = KnowledgeEmbedder.Plan([5_000, 2_500, 600, 9_000, 10], batchSize: 64, maxTokens: 8_000);

        Assert.Equal([new EmbeddingBatch(0, 2, 7_500), new EmbeddingBatch(2, 1, 600), new EmbeddingBatch(3, 1, 9_000), new EmbeddingBatch(4, 1, 10)], batches);
    }

    [Fact]
    public void Unreachable_slow_or_rejected_by_the_pipeline_is_transient_and_the_callers_own_cancellation_is_not()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.True(KnowledgeEmbedder.IsTransient(new HttpRequestException("refused"), CancellationToken.None));
        Assert.True(KnowledgeEmbedder.IsTransient(new TimeoutRejectedException(), CancellationToken.None));
        Assert.True(KnowledgeEmbedder.IsTransient(new System.ClientModel.ClientResultException("no response"), CancellationToken.None));
        Assert.True(KnowledgeEmbedder.IsTransient(new TaskCanceledException(), CancellationToken.None));
        Assert.False(KnowledgeEmbedder.IsTransient(new TaskCanceledException(), cancelled.Token));
        Assert.False(KnowledgeEmbedder.IsTransient(new InvalidOperationException("bad answer"), CancellationToken.None));
    }
}

public sealed class EmbeddingSettingsTests
{
    [Fact]
    public void A_provider_may_declare_only_embedding_models_and_price_them_like_chat_models()
    {
        var result = Validate(Provider("OpenAICompatible", models: [], embeddingModels: ["use-lite"], priced: "use-lite"));

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void An_anthropic_provider_with_embedding_models_is_refused_because_anthropic_has_no_embeddings_api()
    {
        var result = Validate(Provider("Anthropic", models: ["claude-sonnet-4-0"], embeddingModels: ["voyage-3"]));

        Assert.Contains(result.Failures!, f => f.StartsWith("Providers:0:EmbeddingModels: ", StringComparison.Ordinal) && f.Contains("no embeddings API", StringComparison.Ordinal));
    }

    [Fact]
    public void An_embedding_model_listed_twice_or_too_long_is_named_by_its_setting()
    {
        var result = Validate(Provider("OpenAI", models: [], embeddingModels: ["text-embedding-3-small", "Text-Embedding-3-Small", new string('m', 300)]));

        Assert.Contains(result.Failures!, f => f.StartsWith("Providers:0:EmbeddingModels: 'Text-Embedding-3-Small' is listed twice", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(result.Failures!, f => f.StartsWith("Providers:0:EmbeddingModels: 'mmm", StringComparison.Ordinal) && f.Contains("longer than", StringComparison.Ordinal));
    }

    [Fact]
    public void A_provider_with_neither_chat_nor_embedding_models_is_refused()
    {
        var result = Validate(Provider("OpenAICompatible", models: [], embeddingModels: []));

        Assert.Contains(result.Failures!, f => f.StartsWith("Providers:0:Models: lists no model", StringComparison.Ordinal));
    }

    [Fact]
    public void A_price_for_a_model_the_provider_lists_nowhere_is_refused()
    {
        var result = Validate(Provider("OpenAICompatible", models: ["llama3"], embeddingModels: ["use-lite"], priced: "bge-small"));

        Assert.Contains(result.Failures!, f => f.StartsWith("Providers:0:Prices:0:Model: 'bge-small' is not in Providers:0:Models or Providers:0:EmbeddingModels", StringComparison.Ordinal));
    }

    [Fact]
    public void Embedding_models_are_named_provider_slash_model_in_settings_order()
    {
        var settings = new ProvidersSettings
        {
            Items =
            [
                Provider("OpenAI", models: ["gpt-4o-mini"], embeddingModels: ["text-embedding-3-small", " text-embedding-3-large "], name: "OpenAI"),
                Provider("OpenAICompatible", models: [], embeddingModels: ["use-lite"], name: "local"),
            ],
        };
        var sources = settings.Items.Select(p => new ProviderSource(p.Name!.ToLowerInvariant(), p.Kind!, new Uri("http://127.0.0.1:1/v1"), "key", p.Models, ProviderOrigins.Deployment, null, "settings")).ToList();

        var models = EmbeddingModels.List(settings, sources);

        Assert.Equal(["openai/text-embedding-3-small", "openai/text-embedding-3-large", "local/use-lite"], models.Select(m => m.Id));
    }

    [Fact]
    public void The_batch_size_is_between_1_and_2048()
    {
        Assert.False(Valid(new EmbeddingSettings { EmbeddingBatchSize = 0 }));
        Assert.False(Valid(new EmbeddingSettings { EmbeddingBatchSize = 2049 }));
        Assert.True(Valid(new EmbeddingSettings()));
    }

    static bool Valid(EmbeddingSettings settings) => Validator.TryValidateObject(settings, new ValidationContext(settings), null, validateAllProperties: true);

    static Microsoft.Extensions.Options.ValidateOptionsResult Validate(ProviderSettings provider) =>
        new ProvidersSettingsValidator().Validate(null, new ProvidersSettings { Items = [provider] });

    static ProviderSettings Provider(string kind, List<string> models, List<string> embeddingModels, string? priced = null, string name = "p") => new()
    {
        Name = name,
        Kind = kind,
        BaseUrl = "http://127.0.0.1:1/v1",
        ApiKey = "key",
        Models = models,
        EmbeddingModels = embeddingModels,
        Prices = priced is null ? [] : [new ModelPriceSetting { Model = priced, InputPerMillion = 1, OutputPerMillion = 0 }],
    };
}
