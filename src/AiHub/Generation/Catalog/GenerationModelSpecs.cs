namespace AiHub.Generation.Catalog;

/// <summary>What a generation model accepts: sizes, video lengths, qualities, how many images, and whether it edits or remixes.</summary>
internal sealed record GenerationModelSpec(
    GenerationKind Kind, string DisplayName, IReadOnlyList<string> Sizes, string DefaultSize, IReadOnlyList<int> Seconds, int? DefaultSeconds,
    IReadOnlyList<string> Qualities, string? DefaultQuality, int MaxCount, bool AcceptsInputImage, bool Remix, int MaxPromptLength);

/// <summary>The models AiHub knows (OpenAI's published limits), and a cautious description of any other.</summary>
internal static class GenerationModelSpecs
{
    static readonly IReadOnlyList<string> SoraSizes = ["1280x720", "720x1280"];
    static readonly IReadOnlyList<int> SoraSeconds = [4, 8, 12];

    static readonly Dictionary<string, GenerationModelSpec> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        ["sora-2"] = new(GenerationKind.Video, "Sora 2", SoraSizes, "1280x720", SoraSeconds, 4, [], null, 1, true, true, 32_000),
        ["sora-2-pro"] = new(GenerationKind.Video, "Sora 2 Pro", [.. SoraSizes, "1792x1024", "1024x1792"], "1280x720", SoraSeconds, 4, [], null, 1, true, true, 32_000),
        ["gpt-image-1"] = new(GenerationKind.Image, "GPT Image 1", ["1024x1024", "1536x1024", "1024x1536"], "1024x1024", [], null,
            ["low", "medium", "high"], "medium", 10, true, false, 32_000),
        ["gpt-image-1-mini"] = new(GenerationKind.Image, "GPT Image 1 mini", ["1024x1024", "1536x1024", "1024x1536"], "1024x1024", [], null,
            ["low", "medium", "high"], "medium", 10, true, false, 32_000),
        ["dall-e-3"] = new(GenerationKind.Image, "DALL·E 3", ["1024x1024", "1792x1024", "1024x1792"], "1024x1024", [], null,
            ["standard", "hd"], "standard", 1, false, false, 4_000),
        ["dall-e-2"] = new(GenerationKind.Image, "DALL·E 2", ["256x256", "512x512", "1024x1024"], "1024x1024", [], null, [], null, 10, true, false, 1_000),
    };

    /// <summary>A model nobody described: the sizes every OpenAI-compatible image server takes, one to four images, no edits.</summary>
    static GenerationModelSpec Unknown(GenerationKind kind, string model) => kind == GenerationKind.Video
        ? new(kind, model, SoraSizes, "1280x720", SoraSeconds, 4, [], null, 1, false, false, 4_000)
        : new(kind, model, ["256x256", "512x512", "1024x1024"], "1024x1024", [], null, [], null, 4, false, false, 4_000);

    /// <summary>The model's description when it is declared as <paramref name="kind"/>.</summary>
    public static GenerationModelSpec Of(GenerationKind kind, string model) =>
        Known.TryGetValue(model, out var spec) && spec.Kind == kind ? spec : Unknown(kind, model);
}
