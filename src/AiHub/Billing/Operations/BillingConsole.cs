using System.Text.Json;
using AiHub.Billing.Manual;
using AiHub.Billing.Payments;
using AiHub.Billing.Subscriptions;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Audit;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace AiHub.Billing.Operations;

/// <summary>An organisation's billing as the admin console lists it.</summary>
/// <param name="State"><c>active</c>, <c>trialing</c>, <c>past_due</c>, <c>canceled</c>, <c>incomplete</c> (its latest subscription), <c>free</c> or <c>assigned</c> (a plan an admin set by hand, no subscription).</param>
internal sealed record OrgBillingState(
    Guid OrganizationId, string Name, string Plan, string State, string? Gateway, Guid? SubscriptionId, DateTimeOffset? PeriodEnd, bool CancelAtPeriodEnd,
    DateTimeOffset? PastDueSince, LastPayment? LastPayment, long PoolBalanceMicros, string PoolBalance);

internal sealed record LastPayment(Guid Id, string Gateway, string Kind, string Status, long AmountMinor, long RefundedMinor, string Currency, string Amount, DateTimeOffset? PaidAt, bool Manual);

internal sealed record PaymentRow(Guid Id, Guid OrganizationId, string Gateway, string ExternalId, string Kind, string Status, long AmountMinor, long RefundedMinor,
    string Currency, string Amount, string? PlanCode, string? PackageCode, DateTimeOffset CreatedAt, DateTimeOffset? PaidAt, bool Manual);

/// <param name="Kind"><c>plan</c> or <c>credits</c>.</param>
/// <param name="AmountMinor">What was paid, in the currency's smallest unit; the plan's or package's price when left out.</param>
/// <param name="ToPool">For credits: into the organisation's pool (true) or <paramref name="BuyerUserId"/>'s own account.</param>
internal sealed record ManualPaymentRequest(string? Kind, string? Plan, string? Package, long? AmountMinor, string? Currency, bool ToPool, Guid? BuyerUserId, string? Reason);

internal sealed record ManualRefundRequest(long? AmountMinor, string? Reason);

internal sealed record ReconciliationRow(Guid Id, string Gateway, DateTimeOffset From, DateTimeOffset To, DateTimeOffset RanAt, int Checked, int Repaired, int Differences,
    IReadOnlyList<JsonElement> Report);

internal sealed record WebhookRow(Guid Id, string Gateway, string EventId, string Type, string? ObjectId, string State, string? Error, DateTimeOffset ReceivedAt, DateTimeOffset? ProcessedAt);

/// <summary>
/// What an instance administrator does with billing: each organisation's state, payments taken outside AiHub
/// ("mark paid"), refunds, and the reconciliation and webhook failures to look into. Every change goes through
/// <see cref="PaymentRecorder"/>, the same path as a gateway's payments, with the admin's reason in the audit log.
/// </summary>
internal sealed class BillingConsole(
    AppDbContext db,
    PaymentRecorder recorder,
    SubscriptionSync subscriptions,
    PaymentGateways gateways,
    AuditLog audit,
    IOptions<BillingSettings> settings,
    TimeProvider clock)
{
    static readonly string[] States = ["active", "trialing", "past_due", "canceled", "incomplete", "free", "assigned"];

    public async Task<List<OrgBillingState>> OrgsAsync(string? state, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 1000)
            throw ProblemException.Invalid("limit", "limit is between 1 and 1000.");
        if (state is not null && !States.Contains(state))
            throw ProblemException.Invalid("state", $"state is one of {string.Join(", ", States)}.");
        var orgs = await db.Organizations.AsNoTracking().IgnoreQueryFilters().OrderBy(o => o.Name).ThenBy(o => o.Id).Select(o => new { o.Id, o.Name }).ToListAsync(ct);
        var plans = await db.Set<OrgPlan>().AsNoTracking().IgnoreQueryFilters().ToDictionaryAsync(p => p.OrganizationId, p => p.PlanCode, ct);
        var latest = (await db.Set<Subscription>().AsNoTracking().IgnoreQueryFilters().ToListAsync(ct))
            .GroupBy(s => s.OrganizationId)
            .ToDictionary(g => g.Key, g => g.OrderBy(s => s.Status == SubscriptionStatus.Canceled).ThenByDescending(s => s.UpdatedAt).First());
        var payments = (await db.Set<Payment>().AsNoTracking().IgnoreQueryFilters().Where(p => p.PaidAt != null).ToListAsync(ct))
            .GroupBy(p => p.OrganizationId).ToDictionary(g => g.Key, g => g.MaxBy(p => p.PaidAt)!);
        var pools = await db.Set<CreditAccount>().AsNoTracking().Where(a => a.Owner == CreditOwner.Organization && a.OrganizationId != null)
            .ToDictionaryAsync(a => a.OrganizationId!.Value, a => a.Balance, ct);

        var rows = new List<OrgBillingState>();
        foreach (var org in orgs)
        {
            var plan = plans.GetValueOrDefault(org.Id) ?? Plan.Free;
            var sub = latest.GetValueOrDefault(org.Id);
            var rowState = sub is not null ? StatusText(sub.Status) : plan == Plan.Free ? "free" : "assigned";
            if (state is not null && rowState != state)
                continue;
            var paid = payments.GetValueOrDefault(org.Id);
            var pool = pools.GetValueOrDefault(org.Id);
            rows.Add(new OrgBillingState(org.Id, org.Name, plan, rowState, sub?.Gateway, sub?.Id, sub?.CurrentPeriodEnd, sub?.CancelAtPeriodEnd ?? false, sub?.PastDueSince,
                paid is null ? null : new LastPayment(paid.Id, paid.Gateway, paid.Kind.ToString().ToLowerInvariant(), Invoices.Invoices.StatusText(paid.Status), paid.AmountMinor,
                    paid.RefundedMinor, paid.Currency, MoneyText.Format(paid.AmountMinor, paid.Currency), paid.PaidAt, paid.Manual),
                pool, Micros.Format(pool)));
            if (rows.Count == limit)
                break;
        }
        return rows;
    }

    /// <summary>An organisation's payments, newest first, for the refund dialog.</summary>
    public async Task<List<PaymentRow>> PaymentsAsync(Guid orgId, CancellationToken ct)
    {
        await RequireOrgAsync(orgId, ct);
        var rows = await db.Set<Payment>().AsNoTracking().IgnoreQueryFilters().Where(p => p.OrganizationId == orgId)
            .OrderByDescending(p => p.CreatedAt).Take(200).ToListAsync(ct);
        return rows.Select(Row).ToList();
    }

    /// <summary>Records money paid outside AiHub as a payment of the manual gateway; a plan also gets a month of a manual subscription that ends unless paid again.</summary>
    public async Task<PaymentRow> MarkPaidAsync(Guid orgId, ManualPaymentRequest body, Guid adminId, CancellationToken ct)
    {
        await RequireOrgAsync(orgId, ct);
        var reason = Reason(body.Reason);
        var now = clock.GetUtcNow();
        var external = $"manual_{Guid.CreateVersion7(now):N}";
        GatewayPayment payment;
        switch (body.Kind?.Trim().ToLowerInvariant())
        {
            case "plan":
            {
                var code = (body.Plan ?? "").Trim().ToUpperInvariant();
                var plan = await db.Set<Plan>().AsNoTracking().FirstOrDefaultAsync(p => p.Code == code, ct);
                if (plan is null || plan.Code == Plan.Free)
                    throw ProblemException.Invalid("plan", "plan is the code of a paid plan, such as PRO.");
                var (amount, currency) = Money(body, plan.PriceCents, plan.Currency);
                var subscription = await ExtendManualSubscriptionAsync(orgId, plan.Code, now, ct);
                payment = new GatewayPayment(ManualGateway.GatewayName, external, orgId, PaymentKind.Plan, PaymentStatus.Succeeded, amount, 0, currency, 0, false, now,
                    PlanCode: plan.Code, PeriodStart: subscription.PeriodStart, PeriodEnd: subscription.PeriodEnd, SubscriptionExternalId: subscription.ExternalId);
                break;
            }
            case "credits":
            {
                var package = settings.Value.Package(body.Package)
                    ?? throw ProblemException.Invalid("package", $"package is one of {string.Join(", ", settings.Value.OnSale.Select(p => p.Code))}.");
                if (!body.ToPool)
                {
                    if (body.BuyerUserId is not { } buyer)
                        throw ProblemException.Invalid("buyerUserId", "Name the member whose account gets the credits, or set toPool.");
                    if (!await db.Memberships.AsNoTracking().IgnoreQueryFilters().AnyAsync(m => m.OrganizationId == orgId && m.UserId == buyer, ct))
                        throw ProblemException.Invalid("buyerUserId", "buyerUserId is not a member of this organisation.");
                }
                var (amount, currency) = Money(body, package.PriceMinor, package.Currency);
                payment = new GatewayPayment(ManualGateway.GatewayName, external, orgId, PaymentKind.Credits, PaymentStatus.Succeeded, amount, 0, currency, 0, false, now,
                    PackageCode: package.Code, ToPool: body.ToPool, BuyerUserId: body.ToPool ? null : body.BuyerUserId);
                break;
            }
            default:
                throw ProblemException.Invalid("kind", "kind is plan or credits.");
        }
        var recorded = await recorder.RecordAsync(payment, ct, adminId);
        audit.Add(BillingAuditKinds.ManualPayment, recorded.BuyerUserId, new
        {
            payment = recorded.Id, kind = recorded.Kind.ToString(), plan = recorded.PlanCode, package = recorded.PackageCode, amountMinor = recorded.AmountMinor,
            currency = recorded.Currency, reason,
        }, adminId, orgId);
        await db.SaveChangesAsync(ct);
        return Row(recorded);
    }

    /// <summary>Gives money back through the gateway that took it (the manual one only records it), then records the payment as it stands.</summary>
    public async Task<PaymentRow> RefundAsync(Guid paymentId, ManualRefundRequest body, Guid adminId, CancellationToken ct)
    {
        var reason = Reason(body.Reason);
        var payment = await db.Set<Payment>().AsNoTracking().IgnoreQueryFilters().FirstOrDefaultAsync(p => p.Id == paymentId, ct)
            ?? throw new ProblemException(StatusCodes.Status404NotFound, "No such payment.", null, ProblemTypes.NotFound);
        if (payment.PaidAt is null)
            throw new ProblemException(StatusCodes.Status409Conflict, "This payment was not taken.", "Only a paid payment can be refunded.", ProblemTypes.Conflict);
        if (payment.Status == PaymentStatus.Disputed)
            throw new ProblemException(StatusCodes.Status409Conflict, "This payment is disputed.", "The card holder's bank decides a disputed payment; it cannot be refunded as well.", ProblemTypes.Conflict);
        var left = payment.AmountMinor - payment.RefundedMinor;
        if (body.AmountMinor is not { } amount || amount < 1 || amount > left)
            throw ProblemException.Invalid("amountMinor", left < 1
                ? "This payment is already refunded in full."
                : $"amountMinor is from 1 to {left}: what is left of the payment ({MoneyText.Format(left, payment.Currency)}), in the currency's smallest unit.");
        GatewayPayment after;
        try
        {
            after = await gateways.Of(payment.Gateway).RefundAsync(payment, amount, reason, ct);
        }
        catch (PaymentGatewayException e)
        {
            throw new ProblemException(StatusCodes.Status502BadGateway, "The payment gateway refused the refund.", e.Message, ProblemTypes.Conflict);
        }
        var recorded = await recorder.RecordAsync(after, ct, adminId);
        audit.Add(BillingAuditKinds.ManualRefund, recorded.BuyerUserId, new
        {
            payment = recorded.Id, gateway = recorded.Gateway, externalId = recorded.ExternalId, amountMinor = amount, currency = recorded.Currency, reason,
        }, adminId, recorded.OrganizationId);
        await db.SaveChangesAsync(ct);
        return Row(recorded);
    }

    public async Task<List<ReconciliationRow>> ReconciliationAsync(int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 200)
            throw ProblemException.Invalid("limit", "limit is between 1 and 200.");
        var runs = await db.Set<ReconciliationRun>().AsNoTracking().OrderByDescending(r => r.RanAt).Take(limit).ToListAsync(ct);
        return runs.Select(r => new ReconciliationRow(r.Id, r.Gateway, r.From, r.To, r.RanAt, r.Checked, r.Repaired, r.Differences, ReportLines(r.ReportJson))).ToList();
    }

    public async Task<List<WebhookRow>> WebhooksAsync(string? state, int limit, CancellationToken ct)
    {
        if (limit is < 1 or > 500)
            throw ProblemException.Invalid("limit", "limit is between 1 and 500.");
        var query = db.Set<WebhookEvent>().AsNoTracking();
        if (state is not null)
        {
            if (!Enum.TryParse<WebhookEventState>(state, ignoreCase: true, out var wanted) || int.TryParse(state, out _))
                throw ProblemException.Invalid("state", "state is received, processed, ignored or failed.");
            query = query.Where(e => e.State == wanted);
        }
        var events = await query.OrderByDescending(e => e.ReceivedAt).Take(limit).ToListAsync(ct);
        return events.Select(e => new WebhookRow(e.Id, e.Gateway, e.EventId, e.Type, e.ObjectId, e.State.ToString().ToLowerInvariant(), e.Error, e.ReceivedAt, e.ProcessedAt)).ToList();
    }

    /// <summary>A month more of the organisation's manual subscription to <paramref name="planCode"/>, from its end (paid again in time) or from now.</summary>
    async Task<GatewaySubscription> ExtendManualSubscriptionAsync(Guid orgId, string planCode, DateTimeOffset now, CancellationToken ct)
    {
        var live = await db.Set<Subscription>().AsNoTracking().IgnoreQueryFilters()
            .Where(s => s.OrganizationId == orgId && s.Gateway == ManualGateway.GatewayName && s.Status != SubscriptionStatus.Canceled)
            .OrderByDescending(s => s.CurrentPeriodEnd).FirstOrDefaultAsync(ct);
        var start = live is not null && live.CurrentPeriodEnd > now && live.PlanCode == planCode ? live.CurrentPeriodEnd : now;
        var external = live is not null && live.PlanCode == planCode ? live.ExternalId : $"manual_sub_{Guid.CreateVersion7(now):N}";
        if (live is not null && live.PlanCode != planCode)
            await subscriptions.EndNowAsync(orgId, live.Id, "replaced by a manual payment for another plan", ct);
        // Ends at the period's end unless an admin marks the next month paid.
        var reported = new GatewaySubscription(ManualGateway.GatewayName, external, orgId, planCode, SubscriptionStatus.Active,
            live?.ExternalId == external ? live.CurrentPeriodStart : start, start.AddMonths(1), null, CancelAtPeriodEnd: true);
        await subscriptions.ApplyAsync(reported, ct);
        return reported with { PeriodStart = start };
    }

    async Task RequireOrgAsync(Guid orgId, CancellationToken ct)
    {
        if (!await db.Organizations.AsNoTracking().IgnoreQueryFilters().AnyAsync(o => o.Id == orgId, ct))
            throw new ProblemException(StatusCodes.Status404NotFound, "No such organisation.", null, ProblemTypes.NotFound);
    }

    static (long Amount, string Currency) Money(ManualPaymentRequest body, long price, string currency)
    {
        var amount = body.AmountMinor ?? price;
        if (amount is < 0 or > 100_000_000_000)
            throw ProblemException.Invalid("amountMinor", "amountMinor is a whole number of the currency's smallest unit, from 0 to 100000000000.");
        var code = string.IsNullOrWhiteSpace(body.Currency) ? currency.ToUpperInvariant() : body.Currency.Trim().ToUpperInvariant();
        if (code.Length != 3 || !code.All(char.IsAsciiLetterUpper))
            throw ProblemException.Invalid("currency", "currency is a three-letter ISO 4217 code, such as USD.");
        return (amount, code);
    }

    static string Reason(string? reason)
    {
        var text = reason?.Trim();
        if (string.IsNullOrEmpty(text) || text.Length < 3 || text.Length > 500)
            throw ProblemException.Invalid("reason", "Give a reason of 3 to 500 characters; it is kept in the audit log.");
        return text;
    }

    static PaymentRow Row(Payment p) => new(p.Id, p.OrganizationId, p.Gateway, p.ExternalId, p.Kind.ToString().ToLowerInvariant(), Invoices.Invoices.StatusText(p.Status),
        p.AmountMinor, p.RefundedMinor, p.Currency, MoneyText.Format(p.AmountMinor, p.Currency), p.PlanCode, p.PackageCode, p.CreatedAt, p.PaidAt, p.Manual);

    static string StatusText(SubscriptionStatus s) => s switch
    {
        SubscriptionStatus.PastDue => "past_due",
        _ => s.ToString().ToLowerInvariant(),
    };

    /// <summary>The run's differences: a JSON array, or JSON lines, whichever the job wrote.</summary>
    static List<JsonElement> ReportLines(string json)
    {
        var text = json.Trim();
        if (text.Length == 0)
            return [];
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.ValueKind == JsonValueKind.Array ? [.. doc.RootElement.EnumerateArray().Select(e => e.Clone())] : [doc.RootElement.Clone()];
        }
        catch (JsonException)
        {
            var lines = new List<JsonElement>();
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    lines.Add(doc.RootElement.Clone());
                }
                catch (JsonException)
                {
                    lines.Add(JsonSerializer.SerializeToElement(line));
                }
            }
            return lines;
        }
    }
}
