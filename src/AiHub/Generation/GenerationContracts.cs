namespace AiHub.Generation;

/// <summary>A generation as the API and the gallery describe it.</summary>
/// <param name="Model"><c>provider/model</c>, as the models list names it.</param>
internal sealed record GenerationResponse(
    Guid Id, Guid WorkspaceId, Guid UserId, GenerationKind Kind, string Model, string Prompt, string Size, int? Seconds, string? Quality, int Count,
    GenerationStatus Status, int Progress, GenerationErrorResponse? Error, IReadOnlyList<GenerationOutputResponse> Outputs, GenerationCostResponse Cost,
    Guid? RemixOf, Guid? InputGeneration, bool HasInputImage, string? CallbackUrl, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? CompletedAt)
{
    /// <summary>The callback's signing secret: in the answer to the request that made the job, never again.</summary>
    public string? CallbackSecret { get; init; }
}

internal sealed record GenerationErrorResponse(string Code, string Message);

/// <param name="Held">The worst case held while the job runs; zero once it ended.</param>
/// <param name="Charged">What was charged; zero unless completed.</param>
internal sealed record GenerationCostResponse(decimal Held, long HeldMicros, decimal Charged, long ChargedMicros);

internal sealed record GenerationOutputResponse(
    int Index, string ContentType, long SizeBytes, int? Width, int? Height, double? DurationSeconds, string Url, string? ThumbnailUrl);

/// <summary>The body of <c>POST …/generations</c> (JSON, or the fields of a multipart form whose <c>inputImage</c> part is a file).</summary>
/// <param name="Kind"><c>image</c> or <c>video</c>; taken from the model when omitted.</param>
/// <param name="Model"><c>provider/model</c> or a model id the deployment serves once.</param>
/// <param name="InputImage">An earlier generation's output to start from (an image edit, a video's first frame).</param>
/// <param name="CallbackUrl">An https URL that gets a signed POST of the job when it ends.</param>
internal sealed record GenerationRequest(
    string? Kind, string? Model, string? Prompt, int? Seconds, string? Size, string? Quality, int? Count, GenerationInputReference? InputImage,
    string? CallbackUrl);

/// <summary>An earlier generation's output: its id and the output's index (0 when omitted).</summary>
internal sealed record GenerationInputReference(Guid? GenerationId, int? Index);

internal sealed record RemixRequest(string? Prompt, string? CallbackUrl);

internal sealed record GenerationPage(IReadOnlyList<GenerationResponse> Generations, string? NextCursor);

/// <summary>A model the organisation may generate with, with everything a form needs: sizes, durations, qualities and prices.</summary>
internal sealed record GenerationModelResponse(
    string Id, string Provider, string Model, GenerationKind Kind, string DisplayName, IReadOnlyList<string> Sizes, string DefaultSize,
    IReadOnlyList<int> Seconds, int? DefaultSeconds, IReadOnlyList<string> Qualities, string? DefaultQuality, int MaxCount, bool AcceptsInputImage,
    bool Remix, int MaxPromptLength, IReadOnlyList<GenerationPriceResponse> Prices);

/// <param name="Unit"><c>second</c> of video or <c>image</c>.</param>
/// <param name="Source">Where the price came from: admin, settings or list.</param>
internal sealed record GenerationPriceResponse(string Size, string? Quality, string Unit, decimal Credits, long Micros, string Source);

/// <summary>What a request would hold before it runs: the worst case, which is what it costs unless the provider makes less.</summary>
internal sealed record GenerationQuote(string Model, GenerationKind Kind, string Size, int? Seconds, string? Quality, int Count, decimal Credits, long Micros);

/// <summary>A deployment provider that serves generation models: endpoint and key.</summary>
/// <remarks>A class, not a record: a record's generated ToString would print the key into any log that formats it.</remarks>
internal sealed class GenerationEndpoint(string name, string kind, Uri baseUrl, string? apiKey)
{
    public string Name { get; } = name;

    /// <summary>A provider kind (<c>OpenAI</c>, <c>OpenAICompatible</c>).</summary>
    public string Kind { get; } = kind;

    /// <summary>The API's base, ending in <c>/v1</c> for OpenAI.</summary>
    public Uri BaseUrl { get; } = baseUrl;

    public string? ApiKey { get; } = apiKey;

    public override string ToString() => $"{Name} ({Kind})";
}

/// <summary>What the provider is asked to make.</summary>
/// <param name="RemixOfProviderJobId">The provider's id of the video to remix; the prompt then describes the change.</param>
internal sealed record GenerationCall(
    GenerationKind Kind, string Model, string Prompt, string Size, int? Seconds, string? Quality, int Count, GenerationInputImage? InputImage,
    string? RemixOfProviderJobId);

/// <summary>A reference image, opened from the blob store when the provider call needs it.</summary>
internal sealed record GenerationInputImage(Func<CancellationToken, Task<Stream>> OpenAsync, string ContentType, string FileName);

internal enum ProviderJobState
{
    Queued,
    InProgress,
    Completed,
    Failed,
}

/// <summary>Where the provider's job stands.</summary>
/// <param name="ProviderJobId">The provider's id (a video); null for an image call, which answers at once.</param>
/// <param name="Outputs">When completed: the files, inline (images) or to download (<see cref="IGenerationProvider.OpenOutputAsync"/>).</param>
/// <param name="Seconds">A completed video's length as the provider bills it; null when it does not say (the asked length is charged).</param>
/// <param name="Size">The size the provider made, when it says; the asked size otherwise.</param>
/// <param name="Quality">The quality the provider used (gpt-image-1 answers with it when asked for auto); the asked one otherwise.</param>
internal sealed record ProviderJob(
    string? ProviderJobId, ProviderJobState State, int Progress, IReadOnlyList<ProviderOutput> Outputs, ProviderFailure? Failure,
    double? Seconds = null, string? Size = null, string? Quality = null);

/// <summary>Why the provider failed the job. <paramref name="Refused"/>: its moderation said no, in <paramref name="Message"/>.</summary>
internal sealed record ProviderFailure(string Message, bool Refused);

/// <param name="Bytes">The file itself when the provider answered with it (base64 images); null to download.</param>
/// <param name="Url">Where to download it when the provider answered with a URL (DALL·E's <c>url</c>); null otherwise.</param>
internal sealed record ProviderOutput(int Index, string ContentType, byte[]? Bytes = null, Uri? Url = null);

/// <summary>
/// One provider API for generation (OpenAI videos; OpenAI and OpenAI-compatible images). Transport failures throw
/// (<see cref="HttpRequestException"/>, a timeout): the job retries them; a job the provider failed comes back as
/// <see cref="ProviderJobState.Failed"/> with its reason.
/// </summary>
internal interface IGenerationProvider
{
    /// <summary>Whether this class speaks to <paramref name="endpoint"/> for <paramref name="kind"/>.</summary>
    bool Serves(GenerationEndpoint endpoint, GenerationKind kind);

    /// <summary>Asks the provider for the job: a video comes back queued with its id, an image completed with its files.</summary>
    Task<ProviderJob> StartAsync(GenerationEndpoint endpoint, GenerationCall call, CancellationToken ct);

    /// <summary>Where a started job stands (a video).</summary>
    Task<ProviderJob> GetAsync(GenerationEndpoint endpoint, string providerJobId, CancellationToken ct);

    /// <summary>Downloads one output that did not come inline.</summary>
    Task<Stream> OpenOutputAsync(GenerationEndpoint endpoint, string? providerJobId, ProviderOutput output, CancellationToken ct);

    /// <summary>Asks the provider to stop and drop a job (a cancelled video); best effort.</summary>
    Task CancelAsync(GenerationEndpoint endpoint, string providerJobId, CancellationToken ct);
}
