using System.Text.RegularExpressions;
using AiHub.Infrastructure.Audit;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;

namespace AiHub.Credits.Usage;

/// <summary>A price as people read it (credits per million tokens) and as programs use it (exact micro-credits).</summary>
internal sealed record PriceResponse(
    string Provider, string Model, decimal InputPerMillion, long InputMicrosPerMillion, decimal OutputPerMillion, long OutputMicrosPerMillion,
    DateTimeOffset UpdatedAt, Guid? UpdatedBy);

internal sealed record PriceRequest(decimal? InputPerMillion, decimal? OutputPerMillion);

/// <summary>Where the price a model is charged came from; see <see cref="PriceBook.Resolve"/> for the order.</summary>
internal static class PriceSources
{
    /// <summary>Set by an admin on the Prices page or with <c>PUT /api/admin/prices</c>.</summary>
    public const string Admin = "admin";

    /// <summary>The deployment's settings: <c>Providers:N:Prices</c>.</summary>
    public const string Settings = "settings";

    /// <summary>The price list AiHub ships, for the model under its own provider or under another one.</summary>
    public const string List = "list";

    /// <summary>The provider's price for models nobody priced: <c>Providers:N:DefaultPrice</c>.</summary>
    public const string ProviderDefault = "provider-default";

    /// <summary>An organisation's own provider, which it pays directly: <c>Chat:OrgProviderPrice</c>.</summary>
    public const string OrgProvider = "org-provider";
}

/// <summary>What a model is charged per million input and output tokens, in micro-credits, and where that price came from.</summary>
internal sealed record ModelRate(long InputMicrosPerMillion, long OutputMicrosPerMillion, string Source)
{
    public decimal InputPerMillion => Micros.ToCredits(InputMicrosPerMillion);

    public decimal OutputPerMillion => Micros.ToCredits(OutputMicrosPerMillion);
}

/// <summary>
/// Prices from the deployment's settings, keyed by lower-case provider (and model); the Chat feature fills it from
/// <c>Providers:N:Prices</c> and <c>Providers:N:DefaultPrice</c>, which it validates at start-up.
/// </summary>
internal sealed class SettingsPrices
{
    public Dictionary<(string Provider, string Model), ModelRate> Models { get; } = [];

    public Dictionary<string, ModelRate> ProviderDefaults { get; } = [];
}

/// <summary>The catalog's rows and the settings' prices at one moment, to price many models at once.</summary>
internal sealed class PriceBook(IReadOnlyList<PriceResponse> rows, SettingsPrices settings)
{
    /// <summary>
    /// The price a provider's model is charged, first found wins: a price an admin set for it; its price in the
    /// settings; its shipped list price; the price of the same model id under another provider (gpt-4o-mini through
    /// a proxy costs what OpenAI lists); the provider's default price in the settings; else null, and the call is refused.
    /// </summary>
    /// <remarks>An admin's edit beats the settings so that a price can be corrected without a restart; the settings beat the shipped list because the operator wrote them for this deployment.</remarks>
    public ModelRate? Resolve(string provider, string model)
    {
        var (p, m) = (PriceCatalog.Normalize(provider), PriceCatalog.Normalize(model));
        var own = rows.FirstOrDefault(x => x.Provider == p && x.Model == m);
        if (own is { UpdatedBy: not null })
            return Rate(own, PriceSources.Admin);
        if (settings.Models.TryGetValue((p, m), out var configured))
            return configured;
        if ((own ?? rows.FirstOrDefault(x => x.Model == m)) is { } listed)
            return Rate(listed, listed.UpdatedBy is null ? PriceSources.List : PriceSources.Admin);
        return settings.ProviderDefaults.GetValueOrDefault(p);
    }

    static ModelRate Rate(PriceResponse p, string source) => new(p.InputMicrosPerMillion, p.OutputMicrosPerMillion, source);
}

/// <summary>
/// What each model costs, per million input and output tokens, in micro-credits. Lookups are cached (the whole
/// catalog under one key, removed on every edit), because every AI call asks.
/// </summary>
internal sealed partial class PriceCatalog(
    AppDbContext db, HybridCache cache, IServiceScopeFactory scopes, AuditLog audit, IOptions<SettingsPrices> settings, TimeProvider clock)
{
    const string CacheKey = "model-prices";
    const long TokensPerMillion = 1_000_000;

    /// <summary>Prices are at most a million credits per million tokens: more is surely a typo.</summary>
    public const decimal MaxCreditsPerMillion = 1_000_000m;

    public static readonly string PerMillionRule = $"Give the credits per million tokens: 0 to {MaxCreditsPerMillion:0} credits, with at most 6 decimals.";

    /// <summary>Shipped prices: 1 credit = US$0.01, from the providers' public list prices (2025) per million tokens.</summary>
    internal static readonly ModelPrice[] Seed =
    [
        Seeded("openai", "gpt-4o-mini", 15, 60),
        Seeded("openai", "gpt-4o", 250, 1_000),
        Seeded("openai", "gpt-4.1", 200, 800),
        Seeded("openai", "gpt-4.1-mini", 40, 160),
        Seeded("openai", "text-embedding-3-small", 2, 0),
        Seeded("openai", "text-embedding-3-large", 13, 0),
        Seeded("openai", "text-embedding-ada-002", 10, 0),
        Seeded("anthropic", "claude-sonnet-4-20250514", 300, 1_500),
        Seeded("anthropic", "claude-sonnet-4-0", 300, 1_500),
        Seeded("anthropic", "claude-3-5-haiku-20241022", 80, 400),
        Seeded("gemini", "gemini-2.0-flash", 10, 40),
        Seeded("gemini", "gemini-2.5-flash", 30, 250),
    ];

    /// <summary>
    /// What a call costs, in micro-credits, rounded up to the next micro-credit: the sum is exact (128-bit) and divided
    /// once, so rounding never adds more than one micro-credit per call.
    /// </summary>
    /// <exception cref="ProblemException">503 <c>model-not-priced</c> when no price applies to the model (<see cref="PriceBook.Resolve"/>).</exception>
    public async Task<long> CostAsync(string provider, string model, long inputTokens, long outputTokens, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(inputTokens);
        ArgumentOutOfRangeException.ThrowIfNegative(outputTokens);
        var price = await ResolveAsync(provider, model, ct) ?? throw NotPriced(provider, model);
        return Cost(inputTokens, outputTokens, price.InputMicrosPerMillion, price.OutputMicrosPerMillion);
    }

    /// <summary>The catalog's own row of a model, or null when it has none; names are compared without case.</summary>
    public async Task<PriceResponse?> FindAsync(string provider, string model, CancellationToken ct = default)
    {
        var prices = await AllAsync(ct);
        var (p, m) = (Normalize(provider), Normalize(model));
        return prices.FirstOrDefault(x => x.Provider == p && x.Model == m);
    }

    /// <summary>The price a provider's model is charged (<see cref="PriceBook.Resolve"/>), or null when none applies.</summary>
    public async Task<ModelRate?> ResolveAsync(string provider, string model, CancellationToken ct = default) =>
        (await BookAsync(ct)).Resolve(provider, model);

    /// <summary>The catalog and the settings' prices, read once, for pricing many models at once.</summary>
    public async Task<PriceBook> BookAsync(CancellationToken ct) => new(await AllAsync(ct), settings.Value);

    /// <summary>A price in credits per million tokens as exact micro-credits, or false when it is negative, too large or too fine.</summary>
    public static bool TryReadPerMillion(decimal? credits, out long micros) =>
        Micros.Read(credits, MicrosSign.NotNegative, (long)MaxCreditsPerMillion * Micros.PerCredit, out micros) == MicrosReading.Exact;

    internal static long Cost(long inputTokens, long outputTokens, long inputMicrosPerMillion, long outputMicrosPerMillion)
    {
        var total = (Int128)inputTokens * inputMicrosPerMillion + (Int128)outputTokens * outputMicrosPerMillion;
        var micros = (total + TokensPerMillion - 1) / TokensPerMillion;
        if (micros > long.MaxValue)
            throw ProblemException.Invalid("tokens", $"{inputTokens} input and {outputTokens} output tokens cost more than a credit account can hold.");
        return (long)micros;
    }

    public async Task<List<PriceResponse>> ListAsync(CancellationToken ct) =>
        [.. (await AllAsync(ct)).OrderBy(p => p.Provider, StringComparer.Ordinal).ThenBy(p => p.Model, StringComparer.Ordinal)];

    /// <summary>Adds or changes a price; it takes effect for the next call on this node at once, on others within 30 seconds.</summary>
    public async Task<PriceResponse> SetAsync(string provider, string model, PriceRequest body, Guid actorId, CancellationToken ct)
    {
        var (p, m) = (Name("provider", provider, UsageModelConfiguration.ProviderLength), Name("model", model, UsageModelConfiguration.ModelLength));
        var input = PerMillion("inputPerMillion", body.InputPerMillion);
        var output = PerMillion("outputPerMillion", body.OutputPerMillion);
        var now = clock.GetUtcNow();
        var price = await db.Set<ModelPrice>().FirstOrDefaultAsync(x => x.Provider == p && x.Model == m, ct);
        var before = price is null ? null : new { input = price.InputMicrosPerMillion, output = price.OutputMicrosPerMillion };
        if (price is null)
        {
            price = new ModelPrice { Provider = p, Model = m };
            db.Add(price);
        }
        (price.InputMicrosPerMillion, price.OutputMicrosPerMillion, price.UpdatedAt, price.UpdatedBy) = (input, output, now, actorId);
        audit.Add(AuditKinds.ModelPriceSet, null, new { provider = p, model = m, inputMicrosPerMillion = input, outputMicrosPerMillion = output, before }, actorId);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            throw new ProblemException(StatusCodes.Status409Conflict, "The price changed at the same time.", "Someone else set this price just now; read it again and retry.", ProblemTypes.Conflict);
        }
        await cache.RemoveAsync(CacheKey, ct);
        return Describe(price);
    }

    public async Task DeleteAsync(string provider, string model, Guid actorId, CancellationToken ct)
    {
        var (p, m) = (Normalize(provider), Normalize(model));
        var price = await db.Set<ModelPrice>().FirstOrDefaultAsync(x => x.Provider == p && x.Model == m, ct)
            ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such price.", $"The catalog has no price for {p}/{m}.", ProblemTypes.NotFound);
        db.Remove(price);
        audit.Add(AuditKinds.ModelPriceDeleted, null, new { provider = p, model = m }, actorId);
        await db.SaveChangesAsync(ct);
        await cache.RemoveAsync(CacheKey, ct);
    }

    async Task<List<PriceResponse>> AllAsync(CancellationToken ct) =>
        await cache.GetOrCreateAsync(CacheKey, scopes, LoadAsync, cancellationToken: ct);

    static async ValueTask<List<PriceResponse>> LoadAsync(IServiceScopeFactory scopes, CancellationToken ct)
    {
        // Its own scope: the cache may run this for another caller after this caller's DbContext is gone.
        await using var scope = scopes.CreateAsyncScope();
        var prices = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<ModelPrice>().AsNoTracking().ToListAsync(ct);
        return prices.Select(Describe).ToList();
    }

    internal static string Normalize(string name) => name.Trim().ToLowerInvariant();

    internal static ProblemException NotPriced(string provider, string model) =>
        new(StatusCodes.Status503ServiceUnavailable, "This model has no price.",
            $"{Normalize(provider)}/{Normalize(model)} has no price, so its use cannot be charged. An admin with providers:manage sets its price on the Prices page (/admin/prices) or with PUT /api/admin/prices/{Normalize(provider)}/{Normalize(model)}; an operator can price it in the provider's settings (Providers:N:Prices:M:Model, InputPerMillion, OutputPerMillion) or give the provider a default price (Providers:N:DefaultPrice).",
            ProblemTypes.ModelNotPriced);

    static string Name(string field, string value, int maxLength)
    {
        var name = Normalize(value);
        if (name.Length > maxLength || !NamePattern().IsMatch(name))
            throw ProblemException.Invalid(field, $"A {field} name is 1 to {maxLength} characters: letters, digits and . _ - : @ (it starts with a letter or digit).");
        return name;
    }

    static long PerMillion(string field, decimal? credits)
    {
        return Micros.Read(credits, MicrosSign.NotNegative, (long)MaxCreditsPerMillion * Micros.PerCredit, out var micros) switch
        {
            MicrosReading.Exact => micros,
            MicrosReading.TooFine => throw ProblemException.Invalid(field, "Prices have at most 6 decimals (one micro-credit)."),
            _ => throw ProblemException.Invalid(field, $"Give the credits per million tokens: 0 to {MaxCreditsPerMillion:0} credits."),
        };
    }

    static PriceResponse Describe(ModelPrice p) => new(
        p.Provider, p.Model, p.InputMicrosPerMillion / (decimal)Micros.PerCredit, p.InputMicrosPerMillion,
        p.OutputMicrosPerMillion / (decimal)Micros.PerCredit, p.OutputMicrosPerMillion, p.UpdatedAt, p.UpdatedBy);

    static ModelPrice Seeded(string provider, string model, long inputCredits, long outputCredits) => new()
    {
        Provider = provider,
        Model = model,
        InputMicrosPerMillion = inputCredits * Micros.PerCredit,
        OutputMicrosPerMillion = outputCredits * Micros.PerCredit,
        UpdatedAt = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero),
    };

    [GeneratedRegex("^[a-z0-9][a-z0-9._:@-]*$")]
    private static partial Regex NamePattern();
}
