using AiHub.Data;
using AiHub.Identity;
using AiHub.Organizations;
using AiHub.Organizations.ApiKeys;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Credits.Services;

internal enum ServiceChargeKind
{
    /// <summary>Charged at once: a hold posted at its full amount in the same request.</summary>
    Deduct,

    /// <summary>Held for long work, then settled or released by the service.</summary>
    Hold,
}

/// <summary>
/// What an outside service asked for when it spent an org's credits: its name, its reference and its own idempotency
/// key. The money itself is the ledger hold of the same id; this row only says whose request it was.
/// </summary>
/// <remarks>A request is found by (org, id) or (org, kind, idempotency key): another org's id or key is no such request.</remarks>
internal sealed class ServiceCharge : ITenantOwned
{
    public const int MaxServiceLength = 64;

    public const int MaxReferenceLength = 200;

    /// <summary>The id of the <see cref="LedgerHold"/> that carries the money.</summary>
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid? ApiKeyId { get; init; }

    /// <summary>The person whose allocation capped it: the member named in the request, else the key's creator.</summary>
    public Guid? UserId { get; init; }

    public ServiceChargeKind Kind { get; init; }

    public required string IdempotencyKey { get; init; }

    public required string Service { get; init; }

    public required string Reference { get; init; }

    /// <summary>The micro-credits asked for: deducted, or held.</summary>
    public long Amount { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

internal sealed class ServiceChargeConfiguration : IEntityTypeConfiguration<ServiceCharge>
{
    public void Configure(EntityTypeBuilder<ServiceCharge> builder)
    {
        builder.ToTable("credit_service_charges", t => t.HasCheckConstraint("ck_credit_service_charges_amount", "amount > 0"));
        builder.Property(c => c.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(c => c.IdempotencyKey).HasMaxLength(IdempotencyKeys.MaxLength);
        builder.Property(c => c.Service).HasMaxLength(ServiceCharge.MaxServiceLength);
        builder.Property(c => c.Reference).HasMaxLength(ServiceCharge.MaxReferenceLength);
        builder.HasIndex(c => new { c.OrganizationId, c.Kind, c.IdempotencyKey }).IsUnique();
        builder.HasOne<Organization>().WithMany().HasForeignKey(c => c.OrganizationId).OnDelete(DeleteBehavior.Cascade);
        // A purged user leaves the request unnamed, as their holds and entries are.
        builder.HasOne<AppUser>().WithMany().HasForeignKey(c => c.UserId).OnDelete(DeleteBehavior.SetNull);
        builder.HasOne<ApiKey>().WithMany().HasForeignKey(c => c.ApiKeyId).OnDelete(DeleteBehavior.SetNull);
        builder.HasOne<LedgerHold>().WithOne().HasForeignKey<ServiceCharge>(c => c.Id).OnDelete(DeleteBehavior.Restrict);
    }
}
