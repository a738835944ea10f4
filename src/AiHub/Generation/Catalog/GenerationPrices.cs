using AiHub.Data;
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

/// <summary>A price found for one (provider, model, size, quality), and where it came from.</summary>
internal sealed record GenerationRate(long MicrosPerUnit, string Unit, string Source);

/// <summary>
/// What generation costs. The first price found wins: an admin's (<c>generation_prices</c>), the settings'
/// (<c>Generation:Prices</c>), then the list AiHub ships (OpenAI's published prices, 1 credit = US$0.01); each looked
/// up for the exact size and quality first, then any quality, then any size.
/// </summary>
internal sealed class GenerationPrices(AppDbContext db, IOptions<GenerationSettings> settings)
{
    public const string Any = "*";
    public const string PerSecond = "second";
    public const string PerImage = "image";

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
                return new(admin.MicrosPerUnit, unit, "admin");
            if (settings.Value.Prices.FirstOrDefault(x => Matches(x, p, m, size1, quality1)) is { Credits: { } credits })
                return new(ToMicros(credits), unit, "settings");
            if (List.FirstOrDefault(x => Norm(x.Model) == m && x.Size == size1 && x.Quality == quality1) is { Model: not null } listed)
                return new(ToMicros(listed.Credits), unit, "list");
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
        "An admin with providers:manage prices it on the Prices page or with PUT /api/admin/generation-prices; an operator can price it in Generation:Prices.",
        ProblemTypes.ModelNotPriced);

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
