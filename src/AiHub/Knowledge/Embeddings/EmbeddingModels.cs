using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using AiHub.Chat.Providers;
using AiHub.Infrastructure.Errors;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI;

namespace AiHub.Knowledge.Embeddings;

/// <summary>One embedding model of the deployment: <see cref="Id"/> is <c>provider/model</c>, as a knowledge base names it.</summary>
internal sealed record EmbeddingModel(string Id, ProviderSource Source, string Model);

/// <summary>
/// The deployment's embedding models (<c>Providers:N:EmbeddingModels:M</c>) and one generator per model, built over the
/// provider's own HttpClient, so embedding calls share its retries, timeouts and circuit breaker with its chat calls.
/// </summary>
/// <remarks>With none configured, knowledge bases search by keywords only; nothing is downloaded to make up for it.</remarks>
internal sealed class EmbeddingModels(IOptions<ProvidersSettings> settings, DeploymentProviders deployment, IHttpClientFactory httpClients, ILoggerFactory loggers)
{
    public const string Field = "embeddingModel";

    readonly Lazy<IReadOnlyList<EmbeddingModel>> _all = new(() => List(settings.Value, deployment.All));

    readonly ConcurrentDictionary<(string Client, string Model), (string Version, IEmbeddingGenerator<string, Embedding<float>> Generator)> _generators = new();

    public IReadOnlyList<EmbeddingModel> All => _all.Value;

    /// <summary>The model an id names (<c>provider/model</c>, any case), or a 400 naming <see cref="Field"/> that lists the ids there are.</summary>
    public EmbeddingModel Resolve(string? id)
    {
        var wanted = id?.Trim();
        if (!string.IsNullOrEmpty(wanted) && All.FirstOrDefault(m => string.Equals(m.Id, wanted, StringComparison.OrdinalIgnoreCase)) is { } found)
            return found;
        var what = string.IsNullOrEmpty(wanted) ? "No embedding model was named." : $"'{wanted}' is not an embedding model of this deployment.";
        throw ProblemException.Invalid(Field, All.Count == 0
            ? $"{what} None is configured, so knowledge bases search by keywords only; an operator declares embedding models with Providers:N:EmbeddingModels:M."
            : $"{what} Use one of: {string.Join(", ", All.Select(m => m.Id))}.");
    }

    /// <summary>The model's generator, built once per provider, model and key, and kept.</summary>
    public IEmbeddingGenerator<string, Embedding<float>> Generator(EmbeddingModel model)
    {
        var key = (model.Source.ClientName, model.Model);
        if (_generators.TryGetValue(key, out var cached) && cached.Version == model.Source.Version)
            return cached.Generator;
        var built = (model.Source.Version, Build(model));
        _generators[key] = built;
        return built.Item2;
    }

    IEmbeddingGenerator<string, Embedding<float>> Build(EmbeddingModel model)
    {
        var source = model.Source;
        // Gemini's OpenAI-compatible endpoint serves /embeddings too; Anthropic has no embeddings API (refused at start-up).
        var inner = new OpenAIClient(new ApiKeyCredential(source.ApiKey ?? "none"), new OpenAIClientOptions
        {
            Endpoint = source.BaseUrl,
            Transport = new HttpClientPipelineTransport(httpClients.CreateClient(source.ClientName)),
            RetryPolicy = new ClientRetryPolicy(0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        }).GetEmbeddingClient(model.Model).AsIEmbeddingGenerator();
        return new EmbeddingGeneratorBuilder<string, Embedding<float>>(inner)
            .UseOpenTelemetry(loggers, ChatClients.SourceName, telemetry => telemetry.EnableSensitiveData = false)
            .UseLogging(loggers)
            .Build();
    }

    /// <summary>Every provider's embedding models in settings order; the settings were validated at start-up.</summary>
    internal static IReadOnlyList<EmbeddingModel> List(ProvidersSettings settings, IReadOnlyList<ProviderSource> sources)
    {
        var list = new List<EmbeddingModel>();
        foreach (var p in settings.Items)
        {
            var source = sources.First(s => string.Equals(s.Name, p.Name?.Trim(), StringComparison.OrdinalIgnoreCase));
            if (source.Kind == ProviderKinds.Anthropic)
                continue;
            foreach (var model in p.EmbeddingModels.Where(m => !string.IsNullOrWhiteSpace(m)).Select(m => m.Trim()).Distinct(StringComparer.OrdinalIgnoreCase))
                list.Add(new EmbeddingModel($"{source.Name}/{model}", source, model));
        }
        return list;
    }
}
