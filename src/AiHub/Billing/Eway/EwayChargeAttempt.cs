using AiHub.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Billing.Eway;

internal enum EwayChargeKind
{
    /// <summary>The next period of a plan.</summary>
    Renewal,

    /// <summary>An upgrade's prorated difference for the rest of the period.</summary>
    Proration,
}

internal enum EwayChargeState
{
    /// <summary>Recorded, the charge sent or about to be: its outcome is unknown until eWAY is asked by its reference.</summary>
    Pending,
    Succeeded,
    Declined,

    /// <summary>eWAY has no transaction with its reference: the charge never reached eWAY.</summary>
    Abandoned,
}

/// <summary>
/// One charge of a stored eWAY card, recorded before the call with the reference it is sent with, so a charge whose
/// answer was lost (a crash, a timeout) is found again through Transaction Query instead of being made twice.
/// </summary>
internal sealed class EwayChargeAttempt : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid SubscriptionId { get; init; }

    /// <summary>eWAY's <c>InvoiceReference</c> for the charge: unique, at most 50 characters.</summary>
    public required string Reference { get; init; }

    public EwayChargeKind Kind { get; init; }

    public required string PlanCode { get; init; }

    public DateTimeOffset PeriodStart { get; init; }

    public DateTimeOffset PeriodEnd { get; init; }

    /// <summary>Tax included, in the currency's smallest unit.</summary>
    public long AmountMinor { get; init; }

    public long TaxMinor { get; init; }

    public required string Currency { get; init; }

    public EwayChargeState State { get; set; }

    /// <summary>eWAY's TransactionID, once known.</summary>
    public string? TransactionId { get; set; }

    public string? ResponseMessage { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? CompletedAt { get; set; }

    public static string ReferenceOf(Guid id) => $"ewr_{id:N}";
}

internal sealed class EwayChargeAttemptConfiguration : IEntityTypeConfiguration<EwayChargeAttempt>
{
    public void Configure(EntityTypeBuilder<EwayChargeAttempt> builder)
    {
        builder.ToTable("eway_charge_attempts");
        builder.Property(a => a.Reference).HasMaxLength(50);
        builder.Property(a => a.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(a => a.State).HasConversion<string>().HasMaxLength(16);
        builder.Property(a => a.PlanCode).HasMaxLength(32);
        builder.Property(a => a.Currency).HasMaxLength(3);
        builder.Property(a => a.TransactionId).HasMaxLength(20);
        builder.Property(a => a.ResponseMessage).HasMaxLength(200);
        builder.HasIndex(a => a.Reference).IsUnique();
        builder.HasIndex(a => new { a.SubscriptionId, a.PeriodStart });
        builder.HasIndex(a => a.CreatedAt);
    }
}
