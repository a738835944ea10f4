using AiHub.Billing.Checkout;
using AiHub.Billing.Payments;
using AiHub.Billing.Subscriptions;
using AiHub.Data;
using AiHub.Infrastructure.Jobs;
using Microsoft.EntityFrameworkCore;
using S = global::Stripe;

namespace AiHub.Billing.Stripe;

internal sealed record StripeEventPayload(Guid WebhookEventId);

/// <summary>What a handler made of an event: done, or ignored with the reason (not AiHub's, an unknown customer).</summary>
internal sealed record StripeEventOutcome(bool Ignored, string? Reason)
{
    public static readonly StripeEventOutcome Processed = new(false, null);

    public static StripeEventOutcome Ignore(string reason) => new(true, reason);
}

/// <summary>One kind of Stripe event. A handler reads the object's current state from Stripe, never the event's copy, so order and repeats do not matter.</summary>
internal interface IStripeEventHandler
{
    IReadOnlyCollection<string> Types { get; }

    Task<StripeEventOutcome> HandleAsync(WebhookEvent evt, CancellationToken ct);
}

internal static class StripeEventHandlers
{
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        "checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed", "checkout.session.expired",
        "invoice.paid", "invoice.payment_failed",
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
        "charge.refunded", "charge.dispute.created", "charge.dispute.closed",
    };

    public static bool Handles(string type) => All.Contains(type);
}

/// <summary>Runs a stored Stripe event through its handler and records how it ended.</summary>
/// <remarks>
/// Each run gets a scope of its own: the billing services clear their context's change tracker, which must not touch
/// the work runner's tracked item.
/// </remarks>
internal sealed partial class StripeEventWork(
    IServiceScopeFactory scopes,
    TimeProvider clock,
    ILogger<StripeEventWork> log) : IWorkHandler
{
    public const string Kind = "billing.stripe-event";

    string IWorkHandler.Kind => Kind;

    public async Task<WorkResult> RunAsync(WorkItem item, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var handlers = scope.ServiceProvider.GetServices<IStripeEventHandler>();
        var payload = System.Text.Json.JsonSerializer.Deserialize<StripeEventPayload>(item.Payload, System.Text.Json.JsonSerializerOptions.Web);
        var evt = payload is null ? null : await db.Set<WebhookEvent>().AsNoTracking().FirstOrDefaultAsync(e => e.Id == payload.WebhookEventId, ct);
        if (evt is null)
            return WorkResult.Fatal;
        if (evt.State is WebhookEventState.Processed or WebhookEventState.Ignored)
            return WorkResult.Success;
        var handler = handlers.FirstOrDefault(h => h.Types.Contains(evt.Type));
        if (handler is null || evt.ObjectId is null)
        {
            await MarkAsync(db, evt, WebhookEventState.Ignored, handler is null ? "Not an event AiHub handles." : "The event names no object.", ct);
            return WorkResult.Success;
        }
        try
        {
            var outcome = await handler.HandleAsync(evt, ct);
            if (outcome.Ignored)
                LogIgnored(evt.EventId, evt.Type, outcome.Reason ?? "");
            await MarkAsync(db, evt, outcome.Ignored ? WebhookEventState.Ignored : WebhookEventState.Processed, outcome.Reason, ct);
            return WorkResult.Success;
        }
        catch (Exception e) when (!ct.IsCancellationRequested && (StripeApi.IsTransient(e) || e is PaymentGatewayException { Transient: true }))
        {
            db.ChangeTracker.Clear();
            LogWillRetry(evt.EventId, evt.Type, e.GetType().Name);
            await db.Set<WebhookEvent>().Where(w => w.Id == evt.Id).ExecuteUpdateAsync(u => u.SetProperty(w => w.Error, Describe(e)), ct);
            return WorkResult.Transient;
        }
        catch (Exception e) when (e is PaymentGatewayException or S.StripeException)
        {
            db.ChangeTracker.Clear();
            LogFailed(evt.EventId, evt.Type, Describe(e));
            await MarkAsync(db, evt, WebhookEventState.Failed, Describe(e), ct);
            return WorkResult.Fatal;
        }
    }

    public async Task GaveUpAsync(WorkItem item, string? error, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var payload = System.Text.Json.JsonSerializer.Deserialize<StripeEventPayload>(item.Payload, System.Text.Json.JsonSerializerOptions.Web);
        if (payload is null)
            return;
        var now = clock.GetUtcNow();
        await db.Set<WebhookEvent>().Where(w => w.Id == payload.WebhookEventId && w.State == WebhookEventState.Received)
            .ExecuteUpdateAsync(u => u.SetProperty(w => w.State, WebhookEventState.Failed).SetProperty(w => w.ProcessedAt, now)
                .SetProperty(w => w.Error, w => w.Error ?? Truncate(error)), ct);
    }

    async Task MarkAsync(AppDbContext db, WebhookEvent evt, WebhookEventState state, string? error, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        await db.Set<WebhookEvent>().Where(w => w.Id == evt.Id)
            .ExecuteUpdateAsync(u => u.SetProperty(w => w.State, state).SetProperty(w => w.ProcessedAt, now).SetProperty(w => w.Error, Truncate(error)), ct);
    }

    /// <summary>Stripe's message about the request, or the exception's kind: never a key or a card.</summary>
    static string Describe(Exception e) => Truncate(e switch
    {
        PaymentGatewayException p => p.Message,
        S.StripeException s => $"Stripe {(int)s.HttpStatusCode}: {s.StripeError?.Message ?? s.GetType().Name}",
        _ => e.GetType().Name,
    })!;

    static string? Truncate(string? text) => text is null || text.Length <= 1000 ? text : text[..1000];

    [LoggerMessage(Level = LogLevel.Information, Message = "Stripe event {EventId} ({Type}) ignored: {Reason}")]
    partial void LogIgnored(string eventId, string type, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stripe event {EventId} ({Type}) will be retried ({Error})")]
    partial void LogWillRetry(string eventId, string type, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stripe event {EventId} ({Type}) failed: {Error}")]
    partial void LogFailed(string eventId, string type, string error);
}

/// <summary>Whether an object at Stripe belongs to an organisation here: it exists, and its billing customer is the object's customer.</summary>
internal sealed class StripeOwners(AppDbContext db)
{
    public async Task<string?> RefusalAsync(Guid orgId, string? customerId, CancellationToken ct)
    {
        if (!await db.Organizations.AsNoTracking().AnyAsync(o => o.Id == orgId, ct))
            return $"The organisation {orgId} named in the metadata does not exist here.";
        if (customerId is null)
            return "The object names no Stripe customer.";
        var known = await db.Set<BillingCustomer>().AsNoTracking().IgnoreQueryFilters()
            .AnyAsync(c => c.OrganizationId == orgId && c.Gateway == StripeMapping.Gateway && c.CustomerId == customerId, ct);
        return known ? null : $"The Stripe customer {customerId} is not the billing customer of organisation {orgId}.";
    }
}

/// <summary>A Checkout Session ended (paid, a bank transfer settled or failed, expired): the AiHub checkout it names is completed from Stripe's answer.</summary>
internal sealed class StripeCheckoutEvents(StripeApi api, Checkouts checkouts, AppDbContext db) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } =
        ["checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed", "checkout.session.expired"];

    public async Task<StripeEventOutcome> HandleAsync(WebhookEvent evt, CancellationToken ct)
    {
        var session = await new S.Checkout.SessionService(api.Client).GetAsync(evt.ObjectId!, cancellationToken: ct);
        var org = StripeMetadata.GetGuid(session.Metadata, StripeMetadata.Org);
        var checkout = StripeMetadata.GetGuid(session.Metadata, StripeMetadata.Checkout);
        if (org is null || checkout is null)
            return StripeEventOutcome.Ignore("The Checkout Session carries no AiHub metadata.");
        var ours = await db.Set<CheckoutSession>().AsNoTracking().IgnoreQueryFilters()
            .AnyAsync(c => c.OrganizationId == org && c.Id == checkout && c.Gateway == StripeMapping.Gateway && c.ExternalId == session.Id, ct);
        if (!ours)
            return StripeEventOutcome.Ignore($"No AiHub checkout {checkout} of organisation {org} is this Checkout Session.");
        await checkouts.CompleteAsync(org.Value, checkout.Value, ct);
        return StripeEventOutcome.Processed;
    }
}

/// <summary>An invoice was paid or its payment failed: its payment is recorded and its subscription brought up to date.</summary>
internal sealed class StripeInvoiceEvents(StripeGateway gateway, StripeOwners owners, SubscriptionSync subscriptions, PaymentRecorder payments, TimeProvider clock)
    : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["invoice.paid", "invoice.payment_failed"];

    public async Task<StripeEventOutcome> HandleAsync(WebhookEvent evt, CancellationToken ct)
    {
        var invoice = await new S.InvoiceService(gateway.Client).GetAsync(evt.ObjectId!, cancellationToken: ct);
        var subscriptionId = invoice.Parent?.SubscriptionDetails?.SubscriptionId;
        if (subscriptionId is null)
            return StripeEventOutcome.Ignore("The invoice is not for a subscription.");
        var readAt = clock.GetUtcNow();
        var subscription = await gateway.GetSubscriptionAsync(subscriptionId, ct);
        var (payment, _) = await gateway.ReadInvoiceAsync(invoice.Id, subscription, ct);
        if (payment is null)
            return StripeEventOutcome.Ignore("The invoice's subscription carries no AiHub metadata.");
        if (await owners.RefusalAsync(payment.OrganizationId, invoice.CustomerId, ct) is { } refusal)
            return StripeEventOutcome.Ignore(refusal);
        if (StripeMapping.ToSubscription(subscription, clock.GetUtcNow(), readAt) is { } reported)
            await subscriptions.ApplyAsync(reported, ct);
        await payments.RecordAsync(payment, ct);
        return StripeEventOutcome.Processed;
    }
}

/// <summary>A subscription was made, changed or ended: AiHub's copy and the organisation's plan follow its current state.</summary>
internal sealed class StripeSubscriptionEvents(StripeGateway gateway, StripeOwners owners, SubscriptionSync subscriptions, TimeProvider clock) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"];

    public async Task<StripeEventOutcome> HandleAsync(WebhookEvent evt, CancellationToken ct)
    {
        var readAt = clock.GetUtcNow();
        var subscription = await gateway.GetSubscriptionAsync(evt.ObjectId!, ct);
        if (StripeMapping.ToSubscription(subscription, clock.GetUtcNow(), readAt) is not { } reported)
            return StripeEventOutcome.Ignore("The subscription carries no AiHub metadata.");
        if (await owners.RefusalAsync(reported.OrganizationId, subscription.CustomerId, ct) is { } refusal)
            return StripeEventOutcome.Ignore(refusal);
        await subscriptions.ApplyAsync(reported, ct);
        return StripeEventOutcome.Processed;
    }
}

/// <summary>A charge was refunded or disputed: its payment (a package's, or a plan period's) is recorded as it stands, which takes the credits back.</summary>
internal sealed class StripeChargeEvents(StripeGateway gateway, StripeOwners owners, PaymentRecorder payments) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["charge.refunded", "charge.dispute.created", "charge.dispute.closed"];

    public async Task<StripeEventOutcome> HandleAsync(WebhookEvent evt, CancellationToken ct)
    {
        var charge = await gateway.GetChargeAsync(evt.ObjectId!, ct);
        if (charge.PaymentIntentId is null)
            return StripeEventOutcome.Ignore("The charge has no payment intent.");
        var (payment, _) = await gateway.ReadIntentAsync(charge.PaymentIntentId, ct);
        if (payment is null)
            return StripeEventOutcome.Ignore("The charge paid for nothing AiHub sold.");
        if (await owners.RefusalAsync(payment.OrganizationId, charge.CustomerId, ct) is { } refusal)
            return StripeEventOutcome.Ignore(refusal);
        await payments.RecordAsync(payment, ct);
        return StripeEventOutcome.Processed;
    }
}
