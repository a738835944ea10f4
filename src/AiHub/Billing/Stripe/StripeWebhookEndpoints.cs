using System.Text;
using System.Text.Json;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using S = global::Stripe;

namespace AiHub.Billing.Stripe;

/// <summary>
/// Stripe's webhook: the signature and its age are checked, the event is stored once by its id, and a durable work
/// item handles it, so Stripe hears "200" quickly and a crash or a retry never handles an event twice.
/// </summary>
internal static partial class StripeWebhookEndpoints
{
    public const string Path = "/api/billing/stripe/webhook";

    /// <summary>Stripe's events are a few KB; anything near this is not Stripe.</summary>
    public const long MaxBodyBytes = 1024 * 1024;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost(Path, Receive).AllowAnonymous().WithTags("Billing")
            .WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes))
            .WithSummary("Receives Stripe's signed events (configure this URL as the webhook endpoint in Stripe's dashboard).")
            .ExcludeFromDescription();

    static async Task<Ok<WebhookAnswer>> Receive(
        HttpRequest request, AppDbContext db, WorkQueue queue, IOptions<BillingSettings> settings, TimeProvider clock,
        ILoggerFactory logs, CancellationToken ct)
    {
        var log = logs.CreateLogger(typeof(StripeWebhookEndpoints).FullName!);
        var stripe = settings.Value.Stripe;
        if (string.IsNullOrWhiteSpace(stripe.WebhookSecret))
            throw new ProblemException(StatusCodes.Status404NotFound, "Stripe is not set up on this deployment.",
                "Billing:Stripe:WebhookSecret is not set, so no Stripe event can be verified.", ProblemTypes.NotFound);
        var signature = request.Headers["Stripe-Signature"].ToString();
        if (signature.Length == 0)
            throw Refused("The request has no Stripe-Signature header.");
        string json;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8))
            json = await reader.ReadToEndAsync(ct);

        S.Event evt;
        try
        {
            evt = S.EventUtility.ConstructEvent(json, signature, stripe.WebhookSecret, (long)stripe.WebhookTolerance.TotalSeconds,
                clock.GetUtcNow().ToUnixTimeSeconds(), throwOnApiVersionMismatch: false);
        }
        catch (S.StripeException)
        {
            LogRefused(log, "signature");
            throw Refused("The Stripe-Signature does not match this endpoint's secret, or its timestamp is outside the tolerance window.");
        }
        catch (Newtonsoft.Json.JsonException)
        {
            LogRefused(log, "body");
            throw Refused("The body is not a Stripe event in JSON.");
        }
        if (string.IsNullOrEmpty(evt.Id) || string.IsNullOrEmpty(evt.Type) || evt.Id.Length > 255 || evt.Type.Length > 100)
            throw Refused("The event has no id or type.");

        var known = StripeEventHandlers.Handles(evt.Type);
        var now = clock.GetUtcNow();
        var row = new WebhookEvent
        {
            Id = Guid.CreateVersion7(now), Gateway = StripeMapping.Gateway, EventId = evt.Id, Type = evt.Type, ObjectId = ObjectId(json, evt.Type),
            Payload = json, State = known ? WebhookEventState.Received : WebhookEventState.Ignored,
            Error = known ? null : "Not an event AiHub handles.", ReceivedAt = now, ProcessedAt = known ? null : now,
        };
        db.Add(row);
        if (known)
            queue.Add(StripeEventWork.Kind, new StripeEventPayload(row.Id));
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException e) when (UniqueViolation.Is(e))
        {
            // Stripe delivers at least once: a repeat is answered as a success and changes nothing.
            db.ChangeTracker.Clear();
            LogDuplicate(log, evt.Id, evt.Type);
            return TypedResults.Ok(new WebhookAnswer(true, true));
        }
        queue.DispatchAdded();
        LogReceived(log, evt.Id, evt.Type, known);
        return TypedResults.Ok(new WebhookAnswer(true, false));
    }

    /// <summary>The id of what the event is about; for a dispute, the charge it disputes, which is what AiHub reads back.</summary>
    static string? ObjectId(string json, string type)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            throw Refused("The body is not a Stripe event in JSON.");
        }
        using var _ = doc;
        if (!doc.RootElement.TryGetProperty("data", out var data) || !data.TryGetProperty("object", out var obj) || obj.ValueKind != JsonValueKind.Object)
            return null;
        var key = type.StartsWith("charge.dispute.", StringComparison.Ordinal) ? "charge" : "id";
        return obj.TryGetProperty(key, out var id) && id.ValueKind == JsonValueKind.String && id.GetString() is { Length: <= 255 } s ? s : null;
    }

    static ProblemException Refused(string detail) =>
        new(StatusCodes.Status400BadRequest, "The Stripe event was refused.", detail, ProblemTypes.Validation);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A Stripe webhook was refused: bad {What}")]
    static partial void LogRefused(ILogger log, string what);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stripe event {EventId} ({Type}) was delivered again; nothing to do")]
    static partial void LogDuplicate(ILogger log, string eventId, string type);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stripe event {EventId} ({Type}) stored; handled: {Handled}")]
    static partial void LogReceived(ILogger log, string eventId, string type, bool handled);
}

/// <summary>What Stripe reads back: whether the event was taken, and whether it had been before.</summary>
internal sealed record WebhookAnswer(bool Received, bool Duplicate);
