using AiHub.Infrastructure.Errors;

namespace AiHub.Chat.Providers;

/// <summary>
/// A provider as a client names it (<c>openai</c>, <c>claude</c>, <c>gemini</c>; <c>auto</c> leaves it to the router):
/// a family of provider kinds, plus the providers an operator named after it.
/// </summary>
/// <param name="Name">The name as clients write it.</param>
/// <param name="Kinds">The provider kinds of the family.</param>
/// <param name="ProviderNames">Configured provider names that belong to the family whatever their kind.</param>
internal sealed record ProviderChoice(string Name, IReadOnlyList<string> Kinds, IReadOnlyList<string> ProviderNames)
{
    /// <summary>The <c>code</c> of the problem for a provider name that is none of these.</summary>
    public const string UnknownCode = "unknown-provider";

    /// <summary>The <c>code</c> of the problem when no provider of the family serves the model here.</summary>
    public const string UnavailableCode = "provider-unavailable";

    public const string Auto = "auto";

    // An OpenAI-compatible server (Ollama, vLLM, a proxy) speaks OpenAI's API, so a client asking for "openai" means it too.
    public static readonly ProviderChoice OpenAI = new("openai", [ProviderKinds.OpenAI, ProviderKinds.OpenAICompatible], ["openai"]);
    public static readonly ProviderChoice Claude = new("claude", [ProviderKinds.Anthropic], ["claude", "anthropic"]);
    public static readonly ProviderChoice Gemini = new("gemini", [ProviderKinds.Gemini], ["gemini"]);

    static readonly Dictionary<string, ProviderChoice> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["openai"] = OpenAI,
        ["claude"] = Claude,
        ["anthropic"] = Claude,
        ["gemini"] = Gemini,
    };

    /// <summary>The names a client may send, for messages.</summary>
    public const string Accepted = "openai, claude (or anthropic), gemini or auto";

    /// <summary>The family a client named; null for <c>auto</c> or nothing; 400 <c>unknown-provider</c> for any other name.</summary>
    public static ProviderChoice? Parse(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Trim().Equals(Auto, StringComparison.OrdinalIgnoreCase))
            return null;
        return ByName.TryGetValue(name.Trim(), out var choice) ? choice
            : throw new ProblemException(StatusCodes.Status400BadRequest, "Unknown provider.",
                $"'{Shorten(name.Trim())}' is not a provider name here; provider is {Accepted}.", ProblemTypes.Validation)
            {
                Errors = new Dictionary<string, string[]> { ["provider"] = [$"provider is {Accepted}."] },
                Extensions = new Dictionary<string, object?> { ["code"] = UnknownCode },
            };
    }

    public bool Matches(string providerName, string kind) =>
        Kinds.Contains(kind, StringComparer.OrdinalIgnoreCase) || ProviderNames.Contains(providerName, StringComparer.OrdinalIgnoreCase);

    public ProblemException Unavailable(string? model) => new(StatusCodes.Status404NotFound, "No such model at that provider.",
        model is null
            ? $"No {Name} provider is available to this organisation. Send provider \"auto\" to let AiHub choose."
            : $"No {Name} provider serves '{model}' for this organisation. Send provider \"auto\" to let AiHub choose, or pick another model.",
        ProblemTypes.ModelNotFound)
    {
        Extensions = new Dictionary<string, object?> { ["code"] = UnavailableCode },
    };

    // A client's text goes back in a message, so it is cut to a readable length.
    static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
