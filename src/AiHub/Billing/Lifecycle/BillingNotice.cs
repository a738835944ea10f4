using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Billing.Lifecycle;

internal enum BillingNoticeKind
{
    /// <summary>A renewal failed: update the card before the grace period ends.</summary>
    PaymentFailed,

    /// <summary>Two days before the grace period ends.</summary>
    GraceReminder,

    /// <summary>The grace period ran out: the organisation is on FREE.</summary>
    Downgraded,

    /// <summary>The subscription ended (cancelled, refunded, disputed).</summary>
    Ended,

    /// <summary>A past-due subscription was paid after all.</summary>
    Recovered,
}

/// <summary>
/// A billing mail that went out (or is going out): its key is claimed by an insert before the mail is queued, so
/// nodes and retries that race for the same notice send it once.
/// </summary>
internal sealed class BillingNotice
{
    public Guid SubscriptionId { get; init; }

    /// <summary>The notice's kind as text; <see cref="BillingNoticeKind.Downgraded"/> and <see cref="BillingNoticeKind.Ended"/> share one key, so an ended subscription gets one of them.</summary>
    public required string Kind { get; init; }

    /// <summary>The billing period the notice is about (its start, as the gateway reports it), or <c>end</c>.</summary>
    public required string Period { get; init; }

    public DateTimeOffset SentAt { get; init; }
}

internal sealed class BillingNoticeConfiguration : IEntityTypeConfiguration<BillingNotice>
{
    public void Configure(EntityTypeBuilder<BillingNotice> builder)
    {
        builder.ToTable("billing_notices");
        builder.HasKey(n => new { n.SubscriptionId, n.Kind, n.Period });
        builder.Property(n => n.Kind).HasMaxLength(24);
        builder.Property(n => n.Period).HasMaxLength(40);
    }
}
