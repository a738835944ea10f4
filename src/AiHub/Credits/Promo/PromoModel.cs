using AiHub.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Credits.Promo;

/// <summary>A code that gives each user who redeems it <see cref="Credits"/> once, until it runs out, expires or is deactivated.</summary>
internal sealed class PromoCode
{
    public Guid Id { get; init; }

    /// <summary>Upper case, trimmed: what people type is normalised the same way before it is looked up.</summary>
    public required string Code { get; init; }

    /// <summary>Micro-credits given per redemption.</summary>
    public long Credits { get; init; }

    /// <summary>Unlimited when null.</summary>
    public int? MaxUses { get; init; }

    /// <summary>Changed only by the conditional update of a redemption, so that it never passes <see cref="MaxUses"/>.</summary>
    public int Uses { get; set; }

    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Deactivated codes stay, so that their redemptions keep their history.</summary>
    public bool Active { get; set; }

    public Guid? CreatedBy { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>That a user redeemed a code, and the ledger entry that gave the credits; one per code and user.</summary>
internal sealed class PromoRedemption
{
    public Guid Id { get; init; }

    public Guid PromoCodeId { get; init; }

    public Guid UserId { get; init; }

    public Guid EntryId { get; init; }

    /// <summary>The client's <c>Idempotency-Key</c>, so that the same request again gets the first answer instead of a refusal.</summary>
    public string? RequestKey { get; init; }

    public DateTimeOffset RedeemedAt { get; init; }
}

internal sealed class PromoModelConfiguration : IEntityTypeConfiguration<PromoCode>, IEntityTypeConfiguration<PromoRedemption>
{
    public void Configure(EntityTypeBuilder<PromoCode> builder)
    {
        builder.ToTable("promo_codes", t =>
        {
            t.HasCheckConstraint("ck_promo_codes_credits", "credits > 0");
            t.HasCheckConstraint("ck_promo_codes_max_uses", "max_uses IS NULL OR max_uses >= 1");
            t.HasCheckConstraint("ck_promo_codes_uses", "uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)");
        });
        builder.Property(p => p.Code).HasMaxLength(40);
        builder.HasIndex(p => p.Code).IsUnique();
        builder.HasIndex(p => p.CreatedAt);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(p => p.CreatedBy).OnDelete(DeleteBehavior.SetNull);
    }

    public void Configure(EntityTypeBuilder<PromoRedemption> builder)
    {
        builder.ToTable("promo_redemptions");
        builder.Property(r => r.RequestKey).HasMaxLength(150);
        builder.HasIndex(r => new { r.PromoCodeId, r.UserId }).IsUnique();
        builder.HasIndex(r => r.UserId);
        builder.HasOne<PromoCode>().WithMany().HasForeignKey(r => r.PromoCodeId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<AppUser>().WithMany().HasForeignKey(r => r.UserId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<CreditEntry>().WithMany().HasForeignKey(r => r.EntryId).OnDelete(DeleteBehavior.Cascade);
    }
}
