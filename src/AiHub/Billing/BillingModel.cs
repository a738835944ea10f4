using AiHub.Data;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace AiHub.Billing;

/// <summary>An organisation as a payment gateway knows it: its customer id there, and the buyer details its invoices carry.</summary>
internal sealed class BillingCustomer : ITenantOwned
{
    public Guid OrganizationId { get; init; }

    /// <summary>The gateway's name (<see cref="IPaymentGateway.Name"/>): <c>stripe</c> or <c>eway</c>.</summary>
    public required string Gateway { get; set; }

    /// <summary>The gateway's customer id (Stripe <c>cus_…</c>; eWAY's token customer id once a card is saved).</summary>
    public string? CustomerId { get; set; }

    public required string Email { get; set; }

    public required string Name { get; set; }

    public string? AddressLine1 { get; set; }

    public string? AddressLine2 { get; set; }

    public string? City { get; set; }

    public string? State { get; set; }

    public string? PostalCode { get; set; }

    /// <summary>ISO 3166-1 alpha-2.</summary>
    public string? Country { get; set; }

    /// <summary>A VAT/GST/ABN number printed on invoices, as the customer gave it.</summary>
    public string? TaxId { get; set; }

    /// <summary>The card on file as the gateway describes it (<c>visa •••• 4242</c>), never more than brand and last four.</summary>
    public string? PaymentMethod { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }
}

internal enum SubscriptionStatus
{
    /// <summary>Made, first payment not confirmed yet; grants nothing.</summary>
    Incomplete,
    Trialing,
    Active,

    /// <summary>A renewal failed: the plan is kept through the grace period, then the organisation falls back to FREE.</summary>
    PastDue,

    /// <summary>Ended (cancelled, unpaid after the grace, refunded): the organisation is on FREE.</summary>
    Canceled,
}

/// <summary>
/// An organisation's paid plan as the gateway last said it stands. At most one live subscription per organisation;
/// the organisation's plan (<c>org_plans</c>) follows it through <see cref="Subscriptions"/>.
/// </summary>
internal sealed class Subscription : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public required string Gateway { get; init; }

    /// <summary>Stripe's <c>sub_…</c>; for eWAY, which has no subscriptions, AiHub's own id as text.</summary>
    public required string ExternalId { get; init; }

    public required string PlanCode { get; set; }

    public SubscriptionStatus Status { get; set; }

    public DateTimeOffset CurrentPeriodStart { get; set; }

    public DateTimeOffset CurrentPeriodEnd { get; set; }

    public DateTimeOffset? TrialEnd { get; set; }

    public bool CancelAtPeriodEnd { get; set; }

    /// <summary>A downgrade waiting for the end of the period.</summary>
    public string? PendingPlanCode { get; set; }

    /// <summary>When the first unpaid renewal failed; the grace period counts from here.</summary>
    public DateTimeOffset? PastDueSince { get; set; }

    /// <summary>eWAY: when the next period is charged, and how many tries of this period's charge failed.</summary>
    public DateTimeOffset? NextChargeAt { get; set; }

    public int FailedCharges { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? EndedAt { get; set; }

    /// <summary>When the gateway was asked for the state last applied; a report read before it is older and is not applied.</summary>
    public DateTimeOffset? StateReadAt { get; set; }
}

internal enum PaymentKind
{
    /// <summary>A period of a plan (a first payment, a renewal, a proration).</summary>
    Plan,

    /// <summary>A credit package bought once.</summary>
    Credits,
}

internal enum PaymentStatus
{
    Pending,
    Succeeded,
    Failed,

    /// <summary>Part of it was given back; the credits in proportion were taken back.</summary>
    PartiallyRefunded,
    Refunded,

    /// <summary>The card holder's bank disputes it: its credits were taken back while it is open.</summary>
    Disputed,
}

/// <summary>
/// One payment a gateway took (or tried to). Unique by (gateway, external id): however often a webhook or a sweep
/// reports it, it is one row, one ledger entry and one invoice.
/// </summary>
/// <remarks>Money history: it outlives its organisation, so it has no foreign key that a purge would cascade.</remarks>
internal sealed class Payment : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public required string Gateway { get; init; }

    /// <summary>Stripe: the invoice's <c>in_…</c> for a plan period, the payment intent's <c>pi_…</c> for a package. eWAY: the transaction id.</summary>
    public required string ExternalId { get; init; }

    public PaymentKind Kind { get; init; }

    public PaymentStatus Status { get; set; }

    /// <summary>In the currency's smallest unit; tax included.</summary>
    public long AmountMinor { get; init; }

    public long TaxMinor { get; init; }

    public required string Currency { get; init; }

    public long RefundedMinor { get; set; }

    public string? PlanCode { get; init; }

    public DateTimeOffset? PeriodStart { get; init; }

    public DateTimeOffset? PeriodEnd { get; init; }

    public string? PackageCode { get; init; }

    /// <summary>Micro-credits bought; taken back in proportion to what is refunded.</summary>
    public long CreditMicros { get; init; }

    /// <summary>The ledger account the credits went to: the buyer's own or the organisation's pool.</summary>
    public Guid? CreditAccountId { get; init; }

    public Guid? BuyerUserId { get; init; }

    public Guid? SubscriptionId { get; init; }

    /// <summary>Micro-credits taken back so far by refunds and disputes.</summary>
    public long ClawedBackMicros { get; set; }

    /// <summary>Set by an admin's manual "mark paid": the reason is in the audit log.</summary>
    public bool Manual { get; init; }

    public string? FailureMessage { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? PaidAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

internal enum CheckoutStatus
{
    Open,
    Completed,
    Failed,
    Expired,
}

/// <summary>A visit to a gateway's hosted page: what was chosen, where it should land, and how it ended.</summary>
internal sealed class CheckoutSession : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    public Guid UserId { get; init; }

    public required string Gateway { get; init; }

    /// <summary>Stripe's <c>cs_…</c>; eWAY's access code.</summary>
    public required string ExternalId { get; set; }

    public PaymentKind Kind { get; init; }

    public string? PlanCode { get; init; }

    public string? PackageCode { get; init; }

    /// <summary>For a package: true puts the credits in the organisation's pool, false in the buyer's own account.</summary>
    public bool ToPool { get; init; }

    public long AmountMinor { get; init; }

    public required string Currency { get; init; }

    public CheckoutStatus Status { get; set; }

    public string? FailureMessage { get; set; }

    /// <summary>The payment it made, once known.</summary>
    public Guid? PaymentId { get; set; }

    public DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset ExpiresAt { get; init; }

    public DateTimeOffset? CompletedAt { get; set; }
}

internal enum InvoiceKind
{
    Invoice,

    /// <summary>A refund: negative lines against the invoice it corrects.</summary>
    CreditNote,
}

/// <summary>
/// AiHub's own invoice for a payment (or credit note for a refund): numbered without gaps across the deployment, with
/// the seller and buyer as they stood when it was issued, so the PDF is the same every time it is rendered.
/// </summary>
internal sealed class Invoice : ITenantOwned
{
    public Guid Id { get; init; }

    public Guid OrganizationId { get; init; }

    /// <summary>1, 2, 3, … per deployment, assigned under the counter's lock in the invoice's own transaction.</summary>
    public long Sequence { get; init; }

    /// <summary>The number as printed: <c>Billing:InvoicePrefix</c> and the sequence, e.g. <c>AIH-000042</c>.</summary>
    public required string Number { get; init; }

    public InvoiceKind Kind { get; init; }

    public Guid PaymentId { get; init; }

    /// <summary>For a credit note, the invoice it corrects.</summary>
    public Guid? CorrectsInvoiceId { get; init; }

    /// <summary>The refund or event that made a credit note; unique, so a repeated refund makes one note.</summary>
    public string? SourceKey { get; init; }

    public required string SellerJson { get; init; }

    public required string BuyerJson { get; init; }

    public required string LinesJson { get; init; }

    public long SubtotalMinor { get; init; }

    public long TaxMinor { get; init; }

    public long TotalMinor { get; init; }

    public required string Currency { get; init; }

    public DateTimeOffset IssuedAt { get; init; }

    public DateTimeOffset? MailedAt { get; set; }
}

/// <summary>The deployment's next invoice number; one row, updated under its lock in the invoice's transaction, so numbers have no gaps.</summary>
internal sealed class InvoiceCounter
{
    public int Id { get; init; }

    public long Next { get; set; }
}

internal enum WebhookEventState
{
    Received,
    Processed,
    Ignored,
    Failed,
}

/// <summary>A gateway event as it arrived, stored before it is handled; its unique id makes every delivery after the first a no-op.</summary>
internal sealed class WebhookEvent
{
    public Guid Id { get; init; }

    public required string Gateway { get; init; }

    public required string EventId { get; init; }

    public required string Type { get; init; }

    /// <summary>The id of the object the event is about, which the handler reads afresh from the gateway.</summary>
    public string? ObjectId { get; init; }

    public required string Payload { get; init; }

    public WebhookEventState State { get; set; }

    public string? Error { get; set; }

    public DateTimeOffset ReceivedAt { get; init; }

    public DateTimeOffset? ProcessedAt { get; set; }
}

/// <summary>One run of the nightly comparison of the gateway's payments with AiHub's; differences as JSON lines.</summary>
internal sealed class ReconciliationRun
{
    public Guid Id { get; init; }

    public required string Gateway { get; init; }

    public DateTimeOffset From { get; init; }

    public DateTimeOffset To { get; init; }

    public DateTimeOffset RanAt { get; init; }

    public int Checked { get; init; }

    /// <summary>Payments the gateway has that AiHub had missed, now recorded.</summary>
    public int Repaired { get; init; }

    /// <summary>Differences that need a person: amounts or states that disagree.</summary>
    public int Differences { get; init; }

    public required string ReportJson { get; init; }
}

internal sealed class BillingModelConfiguration :
    IEntityTypeConfiguration<BillingCustomer>,
    IEntityTypeConfiguration<Subscription>,
    IEntityTypeConfiguration<Payment>,
    IEntityTypeConfiguration<CheckoutSession>,
    IEntityTypeConfiguration<Invoice>,
    IEntityTypeConfiguration<InvoiceCounter>,
    IEntityTypeConfiguration<WebhookEvent>,
    IEntityTypeConfiguration<ReconciliationRun>
{
    public void Configure(EntityTypeBuilder<BillingCustomer> builder)
    {
        builder.ToTable("billing_customers");
        builder.HasKey(c => c.OrganizationId);
        builder.Property(c => c.Gateway).HasMaxLength(16);
        builder.Property(c => c.CustomerId).HasMaxLength(100);
        builder.Property(c => c.Email).HasMaxLength(256);
        builder.Property(c => c.Name).HasMaxLength(200);
        builder.Property(c => c.AddressLine1).HasMaxLength(200);
        builder.Property(c => c.AddressLine2).HasMaxLength(200);
        builder.Property(c => c.City).HasMaxLength(100);
        builder.Property(c => c.State).HasMaxLength(100);
        builder.Property(c => c.PostalCode).HasMaxLength(20);
        builder.Property(c => c.Country).HasMaxLength(2);
        builder.Property(c => c.TaxId).HasMaxLength(50);
        builder.Property(c => c.PaymentMethod).HasMaxLength(100);
        builder.HasIndex(c => new { c.Gateway, c.CustomerId }).IsUnique();
        builder.HasOne<Organization>().WithOne().HasForeignKey<BillingCustomer>(c => c.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<Subscription> builder)
    {
        builder.ToTable("subscriptions");
        // Two reports applied at once: the one saved second re-reads the row and is checked against the first.
        builder.Property(s => s.StateReadAt).IsConcurrencyToken();
        builder.Property(s => s.Gateway).HasMaxLength(16);
        builder.Property(s => s.ExternalId).HasMaxLength(100);
        builder.Property(s => s.PlanCode).HasMaxLength(32);
        builder.Property(s => s.PendingPlanCode).HasMaxLength(32);
        builder.Property(s => s.Status).HasConversion<string>().HasMaxLength(16);
        builder.HasIndex(s => new { s.Gateway, s.ExternalId }).IsUnique();
        builder.HasIndex(s => new { s.OrganizationId, s.Status });
        builder.HasIndex(s => new { s.Status, s.NextChargeAt });
    }

    public void Configure(EntityTypeBuilder<Payment> builder)
    {
        builder.ToTable("payments", t =>
        {
            t.HasCheckConstraint("ck_payments_amount", "amount_minor >= 0");
            t.HasCheckConstraint("ck_payments_refunded", "refunded_minor >= 0 AND refunded_minor <= amount_minor");
            t.HasCheckConstraint("ck_payments_credits", "credit_micros >= 0 AND clawed_back_micros >= 0 AND clawed_back_micros <= credit_micros");
        });
        builder.Property(p => p.Gateway).HasMaxLength(16);
        builder.Property(p => p.ExternalId).HasMaxLength(100);
        builder.Property(p => p.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(p => p.Status).HasConversion<string>().HasMaxLength(24);
        builder.Property(p => p.Currency).HasMaxLength(3);
        builder.Property(p => p.PlanCode).HasMaxLength(32);
        builder.Property(p => p.PackageCode).HasMaxLength(32);
        builder.Property(p => p.FailureMessage).HasMaxLength(500);
        builder.HasIndex(p => new { p.Gateway, p.ExternalId }).IsUnique();
        builder.HasIndex(p => new { p.OrganizationId, p.CreatedAt });
        builder.HasIndex(p => p.PaidAt);
    }

    public void Configure(EntityTypeBuilder<CheckoutSession> builder)
    {
        builder.ToTable("checkout_sessions");
        builder.Property(c => c.Gateway).HasMaxLength(16);
        builder.Property(c => c.ExternalId).HasMaxLength(512);
        builder.Property(c => c.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(c => c.Status).HasConversion<string>().HasMaxLength(16);
        builder.Property(c => c.PlanCode).HasMaxLength(32);
        builder.Property(c => c.PackageCode).HasMaxLength(32);
        builder.Property(c => c.Currency).HasMaxLength(3);
        builder.Property(c => c.FailureMessage).HasMaxLength(500);
        builder.HasIndex(c => new { c.Gateway, c.ExternalId }).IsUnique();
        builder.HasIndex(c => new { c.Status, c.CreatedAt });
        builder.HasOne<Organization>().WithMany().HasForeignKey(c => c.OrganizationId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<Invoice> builder)
    {
        builder.ToTable("invoices");
        builder.Property(i => i.Number).HasMaxLength(40);
        builder.Property(i => i.Kind).HasConversion<string>().HasMaxLength(16);
        builder.Property(i => i.Currency).HasMaxLength(3);
        builder.Property(i => i.SourceKey).HasMaxLength(200);
        builder.HasIndex(i => i.Sequence).IsUnique();
        builder.HasIndex(i => i.Number).IsUnique();
        builder.HasIndex(i => i.SourceKey).IsUnique();
        builder.HasIndex(i => new { i.OrganizationId, i.IssuedAt });
        builder.HasIndex(i => i.PaymentId);
    }

    public void Configure(EntityTypeBuilder<InvoiceCounter> builder)
    {
        builder.ToTable("invoice_counters", t => t.HasCheckConstraint("ck_invoice_counters_next", "next >= 1"));
        builder.Property(c => c.Id).ValueGeneratedNever();
        builder.HasData(new InvoiceCounter { Id = 1, Next = 1 });
    }

    public void Configure(EntityTypeBuilder<WebhookEvent> builder)
    {
        builder.ToTable("webhook_events");
        builder.Property(e => e.Gateway).HasMaxLength(16);
        builder.Property(e => e.EventId).HasMaxLength(255);
        builder.Property(e => e.Type).HasMaxLength(100);
        builder.Property(e => e.ObjectId).HasMaxLength(255);
        builder.Property(e => e.State).HasConversion<string>().HasMaxLength(16);
        builder.Property(e => e.Error).HasMaxLength(1000);
        builder.HasIndex(e => new { e.Gateway, e.EventId }).IsUnique();
        builder.HasIndex(e => new { e.State, e.ReceivedAt });
    }

    public void Configure(EntityTypeBuilder<ReconciliationRun> builder)
    {
        builder.ToTable("reconciliation_runs");
        builder.Property(r => r.Gateway).HasMaxLength(16);
        builder.HasIndex(r => r.RanAt);
    }
}
