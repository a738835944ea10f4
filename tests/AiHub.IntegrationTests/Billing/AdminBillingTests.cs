using System.Net;
using System.Text.Json;
using AiHub.Billing;
using AiHub.Billing.Manual;
using AiHub.Billing.Payments;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Money;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static AiHub.IntegrationTests.Organizations.OrgApi;
using static AiHub.IntegrationTests.Support.IdentityHost;

namespace AiHub.IntegrationTests.Billing;

/// <summary>The administrators' billing console: money taken outside AiHub, refunds with a reason, revenue and each organisation's state.</summary>
public abstract class AdminBillingTests(IdentityHost host)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Mark_paid_for_credits_fills_the_pool_once_through_the_manual_gateway_and_audits_the_reason()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (_, orgId) = await OrgAsync(client, "Bank Transfer Co");

        var payment = await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/orgs/{orgId}/payments",
            new { kind = "credits", package = "CREDITS_50", toPool = true, reason = "Bank transfer ref 4471" }, HttpStatusCode.Created);

        Assert.Equal("manual", payment.GetProperty("gateway").GetString());
        Assert.StartsWith("manual_", payment.GetProperty("externalId").GetString(), StringComparison.Ordinal);
        Assert.Equal(4_500, payment.GetProperty("amountMinor").GetInt64());
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Equal(50 * Micros.PerCredit, await PoolAsync(orgId));
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var row = await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.Id == payment.GetProperty("id").GetGuid(), Ct);
        Assert.True(row.Manual);
        var audit = await db.AuditEvents.AsNoTracking().SingleAsync(e => e.Kind == BillingAuditKinds.ManualPayment && e.OrganizationId == orgId, Ct);
        Assert.Equal(UserIdOf(admin), audit.ActorId);
        Assert.Contains("Bank transfer ref 4471", audit.Data, StringComparison.Ordinal);
        Assert.Single(await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.PaymentId == row.Id).ToListAsync(Ct));
    }

    [Fact]
    public async Task Mark_paid_without_a_reason_or_with_a_bad_choice_is_refused_and_changes_nothing()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (owner, orgId) = await OrgAsync(client, "No Reason Ltd");
        var path = $"/api/admin/billing/orgs/{orgId}/payments";

        foreach (var (body, field) in new (object, string)[]
        {
            (new { kind = "credits", package = "CREDITS_10", toPool = true, reason = " " }, "reason"),
            (new { kind = "credits", package = "NOPE", toPool = true, reason = "a reason" }, "package"),
            (new { kind = "credits", package = "CREDITS_10", toPool = false, reason = "a reason" }, "buyerUserId"),
            (new { kind = "plan", plan = "FREE", reason = "a reason" }, "plan"),
            (new { kind = "gift", reason = "a reason" }, "kind"),
            (new { kind = "credits", package = "CREDITS_10", toPool = true, amountMinor = -5, reason = "a reason" }, "amountMinor"),
            (new { kind = "credits", package = "CREDITS_10", toPool = true, currency = "dollars", reason = "a reason" }, "currency"),
        })
        {
            using var response = await client.SendAsync(As(admin, HttpMethod.Post, path, body), Ct);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.True((await ProblemAsync(response)).GetProperty("errors").TryGetProperty(field, out _), $"no error for {field}");
        }
        await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/orgs/{Guid.NewGuid()}/payments",
            new { kind = "credits", package = "CREDITS_10", toPool = true, reason = "a reason" }, HttpStatusCode.NotFound);
        await SendAsync(client, owner, HttpMethod.Post, path, new { kind = "credits", package = "CREDITS_10", toPool = true, reason = "a reason" }, HttpStatusCode.Forbidden);

        await using var scope = host.App.Services.CreateAsyncScope();
        Assert.False(await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<Payment>().IgnoreQueryFilters().AnyAsync(p => p.OrganizationId == orgId, Ct));
        Assert.Equal(0, await PoolAsync(orgId));
    }

    [Fact]
    public async Task Mark_paid_for_a_plan_moves_the_org_to_it_for_a_month_that_ends_unless_paid_again()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (owner, orgId) = await OrgAsync(client, "Plan By Hand");

        await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/orgs/{orgId}/payments", new { kind = "plan", plan = "pro", reason = "Invoice 77 paid by wire" }, HttpStatusCode.Created);
        var plan = await SendAsync(client, owner, HttpMethod.Get, $"/api/orgs/{orgId}/plan");
        var state = (await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/orgs?state=active&limit=1000")).EnumerateArray().Single(o => o.GetProperty("organizationId").GetGuid() == orgId);
        await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/orgs/{orgId}/payments", new { kind = "plan", plan = "PRO", reason = "Next month paid" }, HttpStatusCode.Created);

        Assert.Equal("PRO", plan.GetProperty("plan").GetProperty("code").GetString());
        Assert.Equal("PRO", state.GetProperty("plan").GetString());
        Assert.Equal("manual", state.GetProperty("gateway").GetString());
        Assert.True(state.GetProperty("cancelAtPeriodEnd").GetBoolean());
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var subscription = await db.Set<Subscription>().IgnoreQueryFilters().SingleAsync(s => s.OrganizationId == orgId, Ct);
        Assert.Equal(ManualGateway.GatewayName, subscription.Gateway);
        Assert.True(subscription.CancelAtPeriodEnd);
        // The second month runs on from the first: two months in all.
        Assert.InRange((subscription.CurrentPeriodEnd - subscription.CurrentPeriodStart).TotalDays, 58, 62);
        var payments = await db.Set<Payment>().IgnoreQueryFilters().Where(p => p.OrganizationId == orgId).OrderBy(p => p.CreatedAt).ToListAsync(Ct);
        Assert.Equal(2, payments.Count);
        Assert.All(payments, p => Assert.Equal(subscription.Id, p.SubscriptionId));
        Assert.Equal(payments[0].PeriodEnd, payments[1].PeriodStart);
        var free = (await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/orgs?state=free&limit=1000")).EnumerateArray();
        Assert.DoesNotContain(free, o => o.GetProperty("organizationId").GetGuid() == orgId);
        await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/orgs?state=sleeping", expected: HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_refund_takes_back_credits_in_proportion_with_a_credit_note_and_an_over_refund_is_refused()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (_, orgId) = await OrgAsync(client, "Refund Me");
        var payment = await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/orgs/{orgId}/payments",
            new { kind = "credits", package = "CREDITS_10", toPool = true, reason = "Cheque 12" }, HttpStatusCode.Created);
        var refundPath = $"/api/admin/billing/payments/{payment.GetProperty("id").GetGuid()}/refund";

        var refunded = await SendAsync(client, admin, HttpMethod.Post, refundPath, new { amountMinor = 250, reason = "Customer overpaid" });
        using var over = await client.SendAsync(As(admin, HttpMethod.Post, refundPath, new { amountMinor = 751, reason = "Too much" }), Ct);
        var noReason = await client.SendAsync(As(admin, HttpMethod.Post, refundPath, new { amountMinor = 10 }), Ct);

        Assert.Equal("partially_refunded", refunded.GetProperty("status").GetString());
        Assert.Equal(250, refunded.GetProperty("refundedMinor").GetInt64());
        Assert.Equal(HttpStatusCode.BadRequest, over.StatusCode);
        Assert.Contains("750", (await ProblemAsync(over)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        Assert.Equal(7_500_000, await PoolAsync(orgId));
        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.Equal(250, (await db.Set<Payment>().IgnoreQueryFilters().SingleAsync(p => p.OrganizationId == orgId, Ct)).RefundedMinor);
        Assert.Single(await db.Set<Invoice>().IgnoreQueryFilters().Where(i => i.OrganizationId == orgId && i.Kind == InvoiceKind.CreditNote && i.TotalMinor == -250).ToListAsync(Ct));
        var audit = await db.AuditEvents.AsNoTracking().SingleAsync(e => e.Kind == BillingAuditKinds.ManualRefund && e.OrganizationId == orgId, Ct);
        Assert.Contains("Customer overpaid", audit.Data, StringComparison.Ordinal);
        Assert.Equal(UserIdOf(admin), audit.ActorId);
        await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/payments/{Guid.NewGuid()}/refund", new { amountMinor = 1, reason = "none" }, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Revenue_by_month_sums_MRR_new_subscriptions_payments_and_refunds_per_currency_and_as_CSV()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var (_, orgId) = await OrgAsync(client, "Revenue Org");
        // Currencies no other test uses, so the month's sums are this test's alone.
        var code = UniqueCode("SEKPLAN");
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Add(new Plan { Code = code, Name = "Swedish", PriceCents = 29_900, Currency = "SEK", Active = true, SortOrder = 99 });
            await db.SaveChangesAsync(Ct);
        }
        await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/orgs/{orgId}/payments", new { kind = "plan", plan = code, reason = "Paid in kronor" }, HttpStatusCode.Created);
        var credits = await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/orgs/{orgId}/payments",
            new { kind = "credits", package = "CREDITS_10", toPool = true, amountMinor = 12_345, currency = "CHF", reason = "Paid in francs" }, HttpStatusCode.Created);
        await SendAsync(client, admin, HttpMethod.Post, $"/api/admin/billing/payments/{credits.GetProperty("id").GetGuid()}/refund", new { amountMinor = 345, reason = "Fee returned" });
        var month = DateTimeOffset.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);

        var report = await SendAsync(client, admin, HttpMethod.Get, $"/api/admin/billing/revenue?from={month}&to={month}");
        var rows = report.GetProperty("months").EnumerateArray().ToList();
        var sek = rows.Single(r => r.GetProperty("currency").GetString() == "SEK");
        var chf = rows.Single(r => r.GetProperty("currency").GetString() == "CHF");
        using var csv = await client.SendAsync(As(admin, HttpMethod.Get, $"/api/admin/billing/revenue.csv?from={month}&to={month}"), Ct);
        var text = await csv.Content.ReadAsStringAsync(Ct);

        Assert.Equal(29_900, sek.GetProperty("mrrMinor").GetInt64());
        Assert.Equal(1, sek.GetProperty("newSubscriptions").GetInt32());
        Assert.Equal(29_900, sek.GetProperty("grossMinor").GetInt64());
        Assert.Equal(12_345, chf.GetProperty("grossMinor").GetInt64());
        Assert.Equal(345, chf.GetProperty("refundsMinor").GetInt64());
        Assert.Equal(12_000, chf.GetProperty("netMinor").GetInt64());
        Assert.Equal(0, chf.GetProperty("mrrMinor").GetInt64());
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("month,currency,mrr_minor,active_subscriptions,new_subscriptions,churned,gross_minor,refunds_minor,net_minor\r\n", text, StringComparison.Ordinal);
        Assert.Contains($"{month},CHF,0,0,0,0,12345,345,12000\r\n", text, StringComparison.Ordinal);
        Assert.Equal(text, await (await client.SendAsync(As(admin, HttpMethod.Get, $"/api/admin/billing/revenue?from={month}&to={month}&format=csv"), Ct)).Content.ReadAsStringAsync(Ct));
        await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/revenue?from=2026-13", expected: HttpStatusCode.BadRequest);
        await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/revenue?from=2026-05&to=2026-01", expected: HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_console_lists_reconciliation_runs_with_their_differences_and_failed_webhooks_with_their_error()
    {
        using var client = host.Client();
        var admin = await host.SuperAdminAsync(client);
        var eventId = $"evt_{Guid.NewGuid():N}";
        var runId = Guid.CreateVersion7();
        await using (var scope = host.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.Add(new WebhookEvent { Id = Guid.CreateVersion7(), Gateway = "stripe", EventId = eventId, Type = "invoice.paid", Payload = "{}", State = WebhookEventState.Failed,
                Error = "The plan 'GOLD' does not exist here.", ReceivedAt = DateTimeOffset.UtcNow });
            db.Add(new WebhookEvent { Id = Guid.CreateVersion7(), Gateway = "stripe", EventId = eventId + "_ok", Type = "invoice.paid", Payload = "{}", State = WebhookEventState.Processed,
                ReceivedAt = DateTimeOffset.UtcNow });
            db.Add(new ReconciliationRun { Id = runId, Gateway = "stripe", From = DateTimeOffset.UtcNow.AddDays(-3), To = DateTimeOffset.UtcNow, RanAt = DateTimeOffset.UtcNow.AddYears(1),
                Checked = 12, Repaired = 1, Differences = 1, ReportJson = """[{"externalId":"pi_123","problem":"amount differs"}]""" });
            await db.SaveChangesAsync(Ct);
        }

        var failed = await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/webhooks?state=failed&limit=500");
        var runs = await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/reconciliation");

        var hook = failed.EnumerateArray().Single(e => e.GetProperty("eventId").GetString() == eventId);
        Assert.Equal("The plan 'GOLD' does not exist here.", hook.GetProperty("error").GetString());
        Assert.DoesNotContain(failed.EnumerateArray(), e => e.GetProperty("eventId").GetString() == eventId + "_ok");
        var run = runs[0];
        Assert.Equal(runId, run.GetProperty("id").GetGuid());
        Assert.Equal("amount differs", run.GetProperty("report")[0].GetProperty("problem").GetString());
        await SendAsync(client, admin, HttpMethod.Get, "/api/admin/billing/webhooks?state=exploded", expected: HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_manual_gateway_offers_no_checkout()
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        var manual = scope.ServiceProvider.GetRequiredService<PaymentGateways>().Of(ManualGateway.GatewayName);

        var problem = await Assert.ThrowsAsync<ProblemException>(() => manual.StartCheckoutAsync(null!, Ct));

        Assert.Equal(409, problem.Status);
        Assert.False(manual.RenewsItself);
    }

    async Task<(AuthTokens Owner, Guid OrgId)> OrgAsync(HttpClient client, string name)
    {
        var owner = await host.NewUserAsync(client);
        return (owner, await CreateOrgAsync(client, owner, name));
    }

    async Task<long> PoolAsync(Guid orgId)
    {
        await using var scope = host.App.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<CreditAccount>().AsNoTracking()
            .Where(a => a.Owner == CreditOwner.Organization && a.OrganizationId == orgId).Select(a => a.Balance).SingleOrDefaultAsync(Ct);
    }

    static string UniqueCode(string stem) => AiHub.IntegrationTests.Credits.CreditSupport.UniqueCode(stem);
}

public sealed class AdminBillingOnSqlite(SqliteIdentityFixture fixture) : AdminBillingTests(fixture.Host), IClassFixture<SqliteIdentityFixture>;

public sealed class AdminBillingOnPostgres(PostgresIdentityFixture fixture) : AdminBillingTests(fixture.Host), IClassFixture<PostgresIdentityFixture>;
