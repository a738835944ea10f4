using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using AiHub.Credits.Usage;
using AiHub.Infrastructure.Configuration;
using Microsoft.Extensions.Options;

namespace AiHub.Chat.Providers;

/// <summary>The kinds of provider AiHub speaks to, as they are written in settings and in the API.</summary>
internal static partial class ProviderKinds
{
    public const string OpenAI = "OpenAI";
    public const string Anthropic = "Anthropic";
    public const string Gemini = "Gemini";
    public const string OpenAICompatible = "OpenAICompatible";

    public static readonly IReadOnlyList<string> All = [OpenAI, Anthropic, Gemini, OpenAICompatible];

    /// <summary>The kind's canonical spelling, whatever the case it was written in; null for an unknown kind.</summary>
    public static string? Parse(string? kind) => All.FirstOrDefault(k => string.Equals(k, kind?.Trim(), StringComparison.OrdinalIgnoreCase));

    public static Uri? DefaultBaseUrl(string kind) => kind switch
    {
        OpenAI => new Uri("https://api.openai.com/v1"),
        Anthropic => new Uri("https://api.anthropic.com"),
        Gemini => new Uri("https://generativelanguage.googleapis.com/v1beta/openai/"),
        _ => null,
    };

    /// <summary>Only a self-hosted OpenAI-compatible server (Ollama, vLLM) may run without a key.</summary>
    public static bool NeedsKey(string kind) => kind != OpenAICompatible;

    /// <summary>Letters, digits, '.', '_' and '-': never '/', which separates a provider from a model in <c>provider/model</c>.</summary>
    public static bool IsValidName(string name) => name.Length <= 64 && NamePattern().IsMatch(name);

    /// <summary>An absolute http(s) URL, or null.</summary>
    public static Uri? ParseUrl(string? url) =>
        Uri.TryCreate(url?.Trim(), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) ? uri : null;

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]*$")]
    private static partial Regex NamePattern();
}

/// <summary>A price as settings write it: credits per million input and output tokens.</summary>
internal class PriceSetting
{
    public decimal? InputPerMillion { get; set; }

    public decimal? OutputPerMillion { get; set; }

    /// <summary>Both prices as exact micro-credits, or each bad value's setting (under <paramref name="at"/>) and what is wrong with it.</summary>
    public (ModelRate? Rate, List<(string Setting, string Message)> Failures) Read(string at, string source)
    {
        var failures = new List<(string, string)>();
        long Field(string name, decimal? credits)
        {
            if (credits is null)
                failures.Add(($"{at}:{name}", $"is required; {PriceCatalog.PerMillionRule}"));
            else if (!PriceCatalog.TryReadPerMillion(credits, out var micros))
                failures.Add(($"{at}:{name}", $"'{credits}' is not valid; {PriceCatalog.PerMillionRule}"));
            else
                return micros;
            return 0;
        }
        var input = Field(nameof(InputPerMillion), InputPerMillion);
        var output = Field(nameof(OutputPerMillion), OutputPerMillion);
        return (failures.Count == 0 ? new ModelRate(input, output, source) : null, failures);
    }
}

/// <summary>The price of one model of a provider: <c>Providers:N:Prices:M:Model</c>, <c>InputPerMillion</c>, <c>OutputPerMillion</c>.</summary>
/// <remarks>A list rather than a map keyed by model: model ids such as <c>llama3.2:3b</c> hold ':', the separator of configuration keys.</remarks>
internal sealed class ModelPriceSetting : PriceSetting
{
    public string? Model { get; set; }
}

/// <summary>
/// One provider of the deployment: <c>Providers:N:Name</c>, <c>Kind</c>, <c>BaseUrl</c>, <c>ApiKey</c>, <c>Models:M</c>,
/// and optionally <c>EmbeddingModels:M</c>, <c>Prices:M</c> and <c>DefaultPrice</c>.
/// </summary>
internal sealed class ProviderSettings
{
    public string? Name { get; set; }

    public string? Kind { get; set; }

    public string? BaseUrl { get; set; }

    public string? ApiKey { get; set; }

    public List<string> Models { get; set; } = [];

    /// <summary>Its embedding models (<c>EmbeddingModels:M</c>), priced like chat models; knowledge bases embed with them.</summary>
    public List<string> EmbeddingModels { get; set; } = [];

    /// <summary>Its image generation models (<c>ImageModels:M</c>, such as gpt-image-1 or dall-e-3); the gallery generates with them.</summary>
    public List<string> ImageModels { get; set; } = [];

    /// <summary>Its video generation models (<c>VideoModels:M</c>, such as sora-2); only an OpenAI provider serves them.</summary>
    public List<string> VideoModels { get; set; } = [];

    /// <summary>Prices of its models, for models the shipped list does not price (any Ollama or vLLM model).</summary>
    public List<ModelPriceSetting> Prices { get; set; } = [];

    /// <summary>The price of any of its models that nothing else prices; zero makes a private deployment's models free.</summary>
    public PriceSetting? DefaultPrice { get; set; }
}

/// <summary>The <c>Providers</c> section: a list, so it is bound by hand rather than with <c>BindConfiguration</c>.</summary>
internal sealed class ProvidersSettings
{
    public const string Section = "Providers";

    public List<ProviderSettings> Items { get; set; } = [];
}

/// <summary>Every mistake in the Providers list at once, each naming its setting (<c>Providers:1:Kind</c>).</summary>
internal sealed class ProvidersSettingsValidator : IValidateOptions<ProvidersSettings>
{
    public ValidateOptionsResult Validate(string? name, ProvidersSettings options)
    {
        var failures = new List<string>();
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Items.Count; i++)
        {
            var p = options.Items[i];
            var at = $"{ProvidersSettings.Section}:{i}";
            if (string.IsNullOrWhiteSpace(p.Name))
                failures.Add($"{at}:Name: is required (a short name such as openai; models may be named name/model)");
            else if (!ProviderKinds.IsValidName(p.Name.Trim().ToLowerInvariant()))
                failures.Add($"{at}:Name: '{p.Name}' is not valid; expected up to 64 letters, digits, '.', '_' or '-' (no '/')");
            else if (seen.TryGetValue(p.Name.Trim(), out var first))
                failures.Add($"{at}:Name: '{p.Name}' is already the name of {ProvidersSettings.Section}:{first}; provider names are unique");
            else
                seen[p.Name.Trim()] = i;
            var kind = ProviderKinds.Parse(p.Kind);
            if (kind is null)
                failures.Add($"{at}:Kind: '{p.Kind}' is not valid; expected one of {string.Join(", ", ProviderKinds.All)}");
            if (string.IsNullOrWhiteSpace(p.BaseUrl))
            {
                if (kind == ProviderKinds.OpenAICompatible)
                    failures.Add($"{at}:BaseUrl: is required when {at}:Kind is {ProviderKinds.OpenAICompatible}");
            }
            else if (ProviderKinds.ParseUrl(p.BaseUrl) is null)
                failures.Add($"{at}:BaseUrl: '{p.BaseUrl}' is not valid; expected an absolute http or https URL");
            if (kind is not null && ProviderKinds.NeedsKey(kind) && string.IsNullOrWhiteSpace(p.ApiKey))
                failures.Add($"{at}:ApiKey: is required for a provider of kind {kind}");
            var models = p.Models.Where(m => !string.IsNullOrWhiteSpace(m)).ToList();
            var embeddingModels = p.EmbeddingModels.Where(m => !string.IsNullOrWhiteSpace(m)).ToList();
            var imageModels = p.ImageModels.Where(m => !string.IsNullOrWhiteSpace(m)).ToList();
            var videoModels = p.VideoModels.Where(m => !string.IsNullOrWhiteSpace(m)).ToList();
            // A provider that only embeds (a local embedding server) or only generates needs no chat model.
            if (models.Count == 0 && embeddingModels.Count == 0 && imageModels.Count == 0 && videoModels.Count == 0)
                failures.Add($"{at}:Models: lists no model; add at least one, such as {at}:Models:0=gpt-4o-mini");
            else if (models.FirstOrDefault(m => m.Trim().Length > ProviderModelConfiguration.ModelLength) is { } tooLong)
                failures.Add($"{at}:Models: '{tooLong}' is longer than {ProviderModelConfiguration.ModelLength} characters");
            ValidateEmbeddingModels(kind, at, embeddingModels, failures);
            ValidateGenerationModels(kind, at, imageModels, videoModels, failures);
            ValidatePrices(p, at, [.. models, .. embeddingModels], failures);
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    static void ValidateEmbeddingModels(string? kind, string at, List<string> models, List<string> failures)
    {
        if (models.Count == 0)
            return;
        if (kind == ProviderKinds.Anthropic)
            failures.Add($"{at}:EmbeddingModels: a provider of kind {ProviderKinds.Anthropic} has no embeddings API; declare embedding models under an OpenAI, Gemini or OpenAICompatible provider");
        if (models.FirstOrDefault(m => m.Trim().Length > ProviderModelConfiguration.ModelLength) is { } tooLong)
            failures.Add($"{at}:EmbeddingModels: '{tooLong}' is longer than {ProviderModelConfiguration.ModelLength} characters");
        if (models.GroupBy(m => m.Trim(), StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } twice)
            failures.Add($"{at}:EmbeddingModels: '{twice.Key}' is listed twice");
    }

    static void ValidateGenerationModels(string? kind, string at, List<string> images, List<string> videos, List<string> failures)
    {
        if (images.Count > 0 && kind is ProviderKinds.Anthropic or ProviderKinds.Gemini)
            failures.Add($"{at}:ImageModels: a provider of kind {kind} has no OpenAI images API; declare image models under an OpenAI or OpenAICompatible provider");
        if (videos.Count > 0 && kind is not null && kind != ProviderKinds.OpenAI)
            failures.Add($"{at}:VideoModels: only a provider of kind {ProviderKinds.OpenAI} serves the videos API (sora-2, sora-2-pro)");
        foreach (var (list, name) in new[] { (images, "ImageModels"), (videos, "VideoModels") })
        {
            if (list.FirstOrDefault(m => m.Trim().Length > ProviderModelConfiguration.ModelLength) is { } tooLong)
                failures.Add($"{at}:{name}: '{tooLong}' is longer than {ProviderModelConfiguration.ModelLength} characters");
            if (list.GroupBy(m => m.Trim(), StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } twice)
                failures.Add($"{at}:{name}: '{twice.Key}' is listed twice");
        }
    }

    static void ValidatePrices(ProviderSettings p, string at, List<string> models, List<string> failures)
    {
        var priced = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var j = 0; j < p.Prices.Count; j++)
        {
            var price = p.Prices[j];
            var priceAt = $"{at}:Prices:{j}";
            var model = price.Model?.Trim();
            if (string.IsNullOrEmpty(model))
                failures.Add($"{priceAt}:Model: is required (one of the ids in {at}:Models or {at}:EmbeddingModels)");
            else if (!models.Any(m => string.Equals(m.Trim(), model, StringComparison.OrdinalIgnoreCase)))
                failures.Add($"{priceAt}:Model: '{model}' is not in {at}:Models or {at}:EmbeddingModels; price only models the provider lists");
            else if (!priced.Add(model))
                failures.Add($"{priceAt}:Model: '{model}' is priced twice; give each model one price");
            failures.AddRange(price.Read(priceAt, PriceSources.Settings).Failures.Select(f => $"{f.Setting}: {f.Message}"));
        }
        if (p.DefaultPrice is { } fallback)
            failures.AddRange(fallback.Read($"{at}:DefaultPrice", PriceSources.ProviderDefault).Failures.Select(f => $"{f.Setting}: {f.Message}"));
    }

    /// <summary>The settings' prices by provider and model, for the price catalog; the settings are valid by then.</summary>
    public static void Fill(SettingsPrices prices, ProvidersSettings settings)
    {
        for (var i = 0; i < settings.Items.Count; i++)
        {
            var p = settings.Items[i];
            var provider = PriceCatalog.Normalize(p.Name!);
            foreach (var price in p.Prices)
                prices.Models[(provider, PriceCatalog.Normalize(price.Model!))] = price.Read("", PriceSources.Settings).Rate!;
            if (p.DefaultPrice?.Read("", PriceSources.ProviderDefault).Rate is { } fallback)
                prices.ProviderDefaults[provider] = fallback;
        }
    }
}

/// <summary>The <c>Chat</c> section: which models to use by default, fallbacks, and how patient to be with providers.</summary>
internal sealed class ChatSettings : IValidatableObject
{
    public const string Section = "Chat";

    /// <summary>
    /// The model used when a request names none, when the org may use it and it has a price; otherwise (and unset) the
    /// first model the org may use that has a price.
    /// </summary>
    public string? DefaultModel { get; set; }

    /// <summary>
    /// What a model of an organisation's own provider costs in credits: the organisation pays its provider directly, so
    /// this is only the platform's rate, zero unless the operator sets one.
    /// </summary>
    public PriceSetting OrgProviderPrice { get; set; } = new() { InputPerMillion = 0, OutputPerMillion = 0 };

    /// <summary>The model for side work (titles, follow-ups); unset: the cheapest priced model the org may use.</summary>
    public string? CheapModel { get; set; }

    /// <summary>Per model, a comma-separated list of models to try when it fails: <c>Chat:Fallbacks:gpt-4o=claude-sonnet-4,gemini-2.0-flash</c>.</summary>
    public Dictionary<string, string> Fallbacks { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether the engine suggests follow-up questions after an answer.</summary>
    public bool FollowUps { get; set; }

    public ChatTimeoutSettings Timeouts { get; set; } = new();

    public ChatRetrySettings Retry { get; set; } = new();

    public ChatCircuitBreakerSettings CircuitBreaker { get; set; } = new();

    /// <summary>The fallback chain configured for a model, without blanks.</summary>
    public IReadOnlyList<string> FallbacksOf(string model) =>
        Fallbacks.TryGetValue(model, out var list) ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (group, name) in new object[] { Timeouts, Retry, CircuitBreaker }.Zip([nameof(Timeouts), nameof(Retry), nameof(CircuitBreaker)]))
        {
            var results = new List<ValidationResult>();
            Validator.TryValidateObject(group, new ValidationContext(group), results, validateAllProperties: true);
            foreach (var result in results)
                yield return new ValidationResult(result.ErrorMessage, result.MemberNames.Select(m => $"{name}:{m}"));
        }
        foreach (var (setting, message) in OrgProviderPrice.Read(nameof(OrgProviderPrice), PriceSources.OrgProvider).Failures)
            yield return new ValidationResult(message, [setting]);
    }

    /// <summary>The rate of an organisation's own provider; the settings were validated at start-up.</summary>
    public ModelRate OrgProviderRate() => OrgProviderPrice.Read("", PriceSources.OrgProvider).Rate!;
}

internal sealed class ChatTimeoutSettings
{
    /// <summary>Opening the TCP (and TLS) connection to a provider.</summary>
    [Duration("00:00:00.100", "00:05:00")]
    public TimeSpan Connect { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>From sending a request to its first token; also bounds each attempt's wait for the response headers.</summary>
    [Duration("00:00:00.100", "00:10:00")]
    public TimeSpan FirstToken { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest silence between two tokens of a stream.</summary>
    [Duration("00:00:00.100", "00:10:00")]
    public TimeSpan Idle { get; set; } = TimeSpan.FromSeconds(30);
}

internal sealed class ChatRetrySettings
{
    /// <summary>Attempts per call, the first included: 1 means no retry.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>The first backoff; each next one doubles, with jitter, unless the provider's Retry-After says otherwise.</summary>
    [Duration("00:00:00", "00:01:00")]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);
}

internal sealed class ChatCircuitBreakerSettings
{
    /// <summary>The share of failed attempts, over 30 seconds, that opens a provider's circuit.</summary>
    [Range(0.01, 1.0)]
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Attempts in the 30 seconds before the ratio counts, so that one failure alone never opens it.</summary>
    [Range(2, 10_000)]
    public int MinimumThroughput { get; set; } = 10;

    /// <summary>How long calls to a provider fail at once, without reaching it, after its circuit opened.</summary>
    [Duration("00:00:00.500", "01:00:00")]
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}
