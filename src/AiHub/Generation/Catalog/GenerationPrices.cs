using System.Text.RegularExpressions;
using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Money;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.Extensions.Options;

namespace AiHub.Generation.Catalog;

/// <summary>An admin's price for a generation model: micro-credits per image or per second of video, by size and quality.</summary>
/// <remarks><see cref="Size"/> and <see cref="Quality"/> are <c>*</c> when the price holds for every size or quality.</remarks>
internal sealed class GenerationPrice
{
    public required string Provider { get; init; }

    public required string Model { get; init; }

    public required string Size { get; init; }

    public required string Quality { get; init; }

    public long MicrosPerUnit { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public Guid? UpdatedBy { get; set; }
}

internal sealed class GenerationPriceConfiguration : IEntityTypeConfiguration<GenerationPrice>
{
    public void Configure(EntityTypeBuilder<GenerationPrice> builder)
    {
        builder.ToTable("generation_prices", t => t.HasCheckConstraint("ck_generation_prices_micros", "micros_per_unit >= 0"));
        builder.HasKey(p => new { p.Provider, p.Model, p.Size, p.Quality });
        builder.Property(p => p.Provider).HasMaxLength(64);
        builder.Property(p => p.Model).HasMaxLength(128);
        builder.Property(p => p.Size).HasMaxLength(32);
        builder.Property(p => p.Quality).HasMaxLength(32);
    }
}

/// <summary>A generation price as the admin API lists it: credits per unit, and where the price comes from.</summary>
/// <param name="Provider">The provider's name; null for a price (of the settings or the list) that holds under any provider.</param>
/// <param name="Size"><c>*</c> for every size.</param>
/// <param name="Quality"><c>*</c> for every quality.</param>
/// <param name="Source">admin (set here; it wins), settings (<c>Generation:Prices</c>) or list (shipped).</param>
internal sealed record GenerationPriceEntry(
    string? Provider, string Model, string Size, string Quality, decimal Credits, long Micros, string Source, DateTimeOffset? UpdatedAt, Guid? UpdatedBy);

/// <summary>The body of <c>PUT /api/admin/generation-prices/{provider}/{model}</c>: credits per image, or per second of video.</summary>
internal sealed record GenerationPriceRequest(decimal? Credits);

/// <summary>The audit kinds of generation prices.</summary>
internal static class GenerationAuditKinds
{
    public const string PriceSet = "generation_price.set";
    public const string PriceDeleted = "generation_price.deleted";
}

/// <summary>A price found for one (provider, model, size, quality), and where it came from.</summary>
internal sealed record GenerationRate(long MicrosPerUnit, string Unit, string Source);

/// <summary>
/// What generation costs. The first price found wins: an admin's (<c>generation_prices</c>), the settings'
/// (<c>Generation:Prices</c>), then the list AiHub ships (OpenAI's published prices, 1 credit = US$0.01); each looked
/// up for the exact size and quality first, then any quality, then any size.
/// </summary>
internal sealed partial class GenerationPrices(AppDbContext db, IOptions<GenerationSettings> settings, AuditLog audit, TimeProvider clock)
{
    public const string Any = "*";
    public const string PerSecond = "second";
    public const string PerImage = "image";

    /// <summary>A second of the dearest video is 50 credits today; ten thousand is surely a typo.</summary>
    public const decimal MaxCreditsPerUnit = 10_000m;

    public const string AdminSource = "admin";
    public const string SettingsSource = "settings";
    public const string ListSource = "list";

    /// <summary>Shipped prices per unit, in credits: video per second by size; images per image by size and quality.</summary>
    internal static readonly (string Model, string Size, string Quality, decimal Credits)[] List =
    [
        ("sora-2", Any, Any, 10m),
        ("sora-2-pro", "1280x720", Any, 30m),
        ("sora-2-pro", "720x1280", Any, 30m),
        ("sora-2-pro", "1792x1024", Any, 50m),
        ("sora-2-pro", "1024x1792", Any, 50m),
        ("gpt-image-1", "1024x1024", "low", 1.1m),
        ("gpt-image-1", "1024x1024", "medium", 4.2m),
        ("gpt-image-1", "1024x1024", "high", 16.7m),
        ("gpt-image-1", "1536x1024", "low", 1.6m),
        ("gpt-image-1", "1536x1024", "medium", 6.3m),
        ("gpt-image-1", "1536x1024", "high", 25m),
        ("gpt-image-1", "1024x1536", "low", 1.6m),
        ("gpt-image-1", "1024x1536", "medium", 6.3m),
        ("gpt-image-1", "1024x1536", "high", 25m),
        ("gpt-image-1-mini", "1024x1024", "low", 0.5m),
        ("gpt-image-1-mini", "1024x1024", "medium", 1.1m),
        ("gpt-image-1-mini", "1024x1024", "high", 3.6m),
        ("gpt-image-1-mini", "1536x1024", "low", 0.6m),
        ("gpt-image-1-mini", "1536x1024", "medium", 1.5m),
        ("gpt-image-1-mini", "1536x1024", "high", 5.2m),
        ("gpt-image-1-mini", "1024x1536", "low", 0.6m),
        ("gpt-image-1-mini", "1024x1536", "medium", 1.5m),
        ("gpt-image-1-mini", "1024x1536", "high", 5.2m),
        ("dall-e-3", "1024x1024", "standard", 4m),
        ("dall-e-3", "1792x1024", "standard", 8m),
        ("dall-e-3", "1024x1792", "standard", 8m),
        ("dall-e-3", "1024x1024", "hd", 8m),
        ("dall-e-3", "1792x1024", "hd", 12m),
        ("dall-e-3", "1024x1792", "hd", 12m),
        ("dall-e-2", "256x256", Any, 1.6m),
        ("dall-e-2", "512x512", Any, 1.8m),
        ("dall-e-2", "1024x1024", Any, 2m),
    ];

    /// <summary>Every price the admin table holds, read once per request.</summary>
    async Task<List<GenerationPrice>> AdminRowsAsync(CancellationToken ct) => _rows ??= await db.Set<GenerationPrice>().AsNoTracking().ToListAsync(ct);

    List<GenerationPrice>? _rows;

    /// <summary>The price of one unit (an image, a second), or null when nothing prices it.</summary>
    public async Task<GenerationRate?> RateAsync(string provider, GenerationKind kind, string model, string size, string? quality, CancellationToken ct)
    {
        var unit = kind == GenerationKind.Video ? PerSecond : PerImage;
        var (p, m, s, q) = (Norm(provider), Norm(model), Norm(size), Norm(quality ?? Any));
        var rows = await AdminRowsAsync(ct);
        foreach (var (size1, quality1) in Candidates(s, q))
        {
            if (rows.FirstOrDefault(r => r.Provider == p && r.Model == m && r.Size == size1 && r.Quality == quality1) is { } admin)
                return new(admin.MicrosPerUnit, unit, AdminSource);
            if (settings.Value.Prices.FirstOrDefault(x => Matches(x, p, m, size1, quality1)) is { Credits: { } credits })
                return new(ToMicros(credits), unit, SettingsSource);
            if (List.FirstOrDefault(x => Norm(x.Model) == m && x.Size == size1 && x.Quality == quality1) is { Model: not null } listed)
                return new(ToMicros(listed.Credits), unit, ListSource);
        }
        return null;
    }

    /// <summary>The worst case of a request: its price per unit times its seconds or images.</summary>
    /// <exception cref="ProblemException">503 when nothing prices the model at this size and quality.</exception>
    public async Task<long> QuoteAsync(string provider, GenerationKind kind, string model, string size, int? seconds, string? quality, int count, CancellationToken ct)
    {
        var rate = await RateAsync(provider, kind, model, size, quality, ct) ?? throw NotPriced(provider, model, size, quality);
        return checked(rate.MicrosPerUnit * (kind == GenerationKind.Video ? seconds ?? 1 : count));
    }

    /// <summary>What a finished job costs: by the seconds or images made, never more than its quote.</summary>
    public static long Charge(long quoted, long microsPerUnit, double? madeSeconds, int madeImages, GenerationKind kind) =>
        Math.Min(quoted, kind == GenerationKind.Video
            ? (long)Math.Ceiling(microsPerUnit * (madeSeconds ?? 0))
            : microsPerUnit * madeImages);

    public static ProblemException NotPriced(string provider, string model, string size, string? quality) => new(
        StatusCodes.Status503ServiceUnavailable, "This model has no price.",
        $"{Norm(provider)}/{Norm(model)} at {size}{(quality is null ? "" : $", {quality} quality")} has no price, so it cannot be charged. " +
        $"An admin with providers:manage prices it on the Generation prices page (/admin/generation-prices) or with PUT /api/admin/generation-prices/{Norm(provider)}/{Norm(model)}; an operator can price it in Generation:Prices.",
        ProblemTypes.ModelNotPriced);

    /// <summary>Every price from every source, the admin's first; the first that matches a request wins (see <see cref="RateAsync"/>).</summary>
    public async Task<List<GenerationPriceEntry>> ListAsync(CancellationToken ct)
    {
        var admin = (await db.Set<GenerationPrice>().AsNoTracking().ToListAsync(ct))
            .OrderBy(p => p.Provider, StringComparer.Ordinal).ThenBy(p => p.Model, StringComparer.Ordinal).ThenBy(p => p.Size, StringComparer.Ordinal)
            .ThenBy(p => p.Quality, StringComparer.Ordinal)
            .Select(Describe);
        var configured = settings.Value.Prices.Where(p => p.Model is not null && p.Credits is not null)
            .Select(p => new GenerationPriceEntry(p.Provider is null ? null : Norm(p.Provider), Norm(p.Model!), Norm(p.Size ?? Any), Norm(p.Quality ?? Any),
                p.Credits!.Value, ToMicros(p.Credits.Value), SettingsSource, null, null));
        var listed = List.Select(p => new GenerationPriceEntry(null, p.Model, p.Size, p.Quality, p.Credits, ToMicros(p.Credits), ListSource, null, null));
        return [.. admin, .. configured, .. listed];
    }

    /// <summary>Sets an admin's price, which beats the settings' and the list's from the next request on; audited.</summary>
    public async Task<GenerationPriceEntry> SetAsync(string provider, string model, string? size, string? quality, GenerationPriceRequest body, Guid actorId,
        CancellationToken ct)
    {
        var key = Key(provider, model, size, quality);
        var micros = Micros.Read(body.Credits, MicrosSign.NotNegative, (long)MaxCreditsPerUnit * Micros.PerCredit, out var read) switch
        {
            MicrosReading.Exact => read,
            MicrosReading.TooFine => throw ProblemException.Invalid("credits", "Prices have at most 6 decimals (one micro-credit)."),
            _ => throw ProblemException.Invalid("credits", $"Give the credits per image, or per second of video: 0 to {MaxCreditsPerUnit:0}."),
        };
        var price = await db.Set<GenerationPrice>().FirstOrDefaultAsync(p => p.Provider == key.Provider && p.Model == key.Model && p.Size == key.Size && p.Quality == key.Quality, ct);
        var before = price?.MicrosPerUnit;
        if (price is null)
        {
            price = new GenerationPrice { Provider = key.Provider, Model = key.Model, Size = key.Size, Quality = key.Quality };
            db.Add(price);
        }
        (price.MicrosPerUnit, price.UpdatedAt, price.UpdatedBy) = (micros, clock.GetUtcNow(), actorId);
        audit.Add(GenerationAuditKinds.PriceSet, null, new { key.Provider, key.Model, key.Size, key.Quality, microsPerUnit = micros, before }, actorId);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            db.ChangeTracker.Clear();
            throw new ProblemException(StatusCodes.Status409Conflict, "The price changed at the same time.", "Someone else set this price just now; read it again and retry.",
                ProblemTypes.Conflict);
        }
        _rows = null;
        return Describe(price);
    }

    /// <summary>Removes an admin's price: the settings' or the list's applies again, or none (then the model is refused until priced).</summary>
    public async Task DeleteAsync(string provider, string model, string? size, string? quality, Guid actorId, CancellationToken ct)
    {
        var key = Key(provider, model, size, quality);
        var price = await db.Set<GenerationPrice>().FirstOrDefaultAsync(p => p.Provider == key.Provider && p.Model == key.Model && p.Size == key.Size && p.Quality == key.Quality, ct)
            ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such price.",
                $"No admin price is set for {key.Provider}/{key.Model} at size {key.Size}, quality {key.Quality}.", ProblemTypes.NotFound);
        db.Remove(price);
        audit.Add(GenerationAuditKinds.PriceDeleted, null, new { key.Provider, key.Model, key.Size, key.Quality, before = price.MicrosPerUnit }, actorId);
        await db.SaveChangesAsync(ct);
        _rows = null;
    }

    static GenerationPriceEntry Describe(GenerationPrice p) =>
        new(p.Provider, p.Model, p.Size, p.Quality, Micros.ToCredits(p.MicrosPerUnit), p.MicrosPerUnit, AdminSource, p.UpdatedAt, p.UpdatedBy);

    /// <summary>The row's key, checked: names as the providers' settings spell them, sizes like 1024x1024, <c>*</c> for any.</summary>
    static (string Provider, string Model, string Size, string Quality) Key(string provider, string model, string? size, string? quality)
    {
        var errors = new Dictionary<string, string[]>();
        var p = Norm(provider);
        var m = Norm(model);
        var s = Norm(string.IsNullOrWhiteSpace(size) ? Any : size);
        var q = Norm(string.IsNullOrWhiteSpace(quality) ? Any : quality);
        if (p.Length > 64 || !NamePattern().IsMatch(p))
            errors["provider"] = ["A provider name is 1 to 64 characters: letters, digits and . _ - : @ (it starts with a letter or digit)."];
        if (m.Length > 128 || !NamePattern().IsMatch(m))
            errors["model"] = ["A model name is 1 to 128 characters: letters, digits and . _ - : @ (it starts with a letter or digit)."];
        if (s != Any && !SizePattern().IsMatch(s))
            errors["size"] = ["A size is WIDTHxHEIGHT in pixels, such as 1024x1024, or * (or nothing) for every size."];
        if (q != Any && (q.Length > 32 || !NamePattern().IsMatch(q)))
            errors["quality"] = ["A quality is a word such as low, medium, high, standard or hd, or * (or nothing) for every quality."];
        return errors.Count > 0 ? throw ProblemException.Invalid(errors) : (p, m, s, q);
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9._:@-]*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")]
    private static partial Regex SizePattern();

    static IEnumerable<(string Size, string Quality)> Candidates(string size, string quality)
    {
        yield return (size, quality);
        if (quality != Any)
            yield return (size, Any);
        yield return (Any, quality);
        if (quality != Any)
            yield return (Any, Any);
    }

    static bool Matches(GenerationPriceSetting s, string provider, string model, string size, string quality) =>
        (s.Provider is null || Norm(s.Provider) == provider) && s.Model is not null && Norm(s.Model) == model
        && Norm(s.Size ?? Any) == size && Norm(s.Quality ?? Any) == quality;

    static long ToMicros(decimal credits) => (long)(credits * Micros.PerCredit);

    internal static string Norm(string value) => value.Trim().ToLowerInvariant();
}
