using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using AiHub.Billing;
using AiHub.Credits;
using AiHub.Data;
using AiHub.Infrastructure.Jobs;
using AiHub.IntegrationTests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace AiHub.IntegrationTests.Billing;

/// <summary>Stripe's webhook refuses what Stripe did not sign, or signed too long ago, and stores nothing for it; a repeat is stored once.</summary>
public abstract class StripeWebhookTests(IdentityHost host)
{
    internal const string Secret = "whsec_webhook_tests_secret";
    const string Path = "/api/billing/stripe/webhook";

    static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Billing:Gateway"] = "stripe",
        ["Billing:Stripe:SecretKey"] = "sk_test_webhook_tests",
        ["Billing:Stripe:WebhookSecret"] = Secret,
        // Nothing listens here: these events must be refused or ignored before anyone asks Stripe.
        ["Billing:Stripe:ApiBase"] = "http://127.0.0.1:9",
    };

    [Fact]
    public async Task A_bad_signature_a_replay_an_unsigned_body_and_a_body_that_is_not_json_are_refused_and_nothing_is_stored()
    {
        var id = $"evt_{Guid.NewGuid():N}";
        var body = Event(id, "charge.refunded", $$"""{"id":"ch_{{Guid.NewGuid():N}}","object":"charge"}""");
        var now = DateTimeOffset.UtcNow;

        var refused = new (string Why, string Body, string? Signature)[]
        {
            ("signed with another secret", body, Sign(body, now, "whsec_someone_else")),
            ("body changed after signing", body.Replace("charge.refunded", "invoice.paid", StringComparison.Ordinal), Sign(body, now)),
            ("replayed outside the tolerance", body, Sign(body, now.AddMinutes(-6))),
            ("from the future beyond the tolerance", body, Sign(body, now.AddMinutes(6))),
            ("unsigned", body, null),
            ("a signature header that is not Stripe's", body, "sha256=abc"),
            ("signed but not JSON", "this is not json {", Sign("this is not json {", now)),
        };
        using var client = host.Client();
        foreach (var (why, payload, signature) in refused)
        {
            using var response = await PostAsync(client, payload, signature);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{why}: {(int)response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }

        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        Assert.False(await db.Set<WebhookEvent>().AnyAsync(e => e.EventId == id, Ct));
        Assert.False(await db.WorkItems.AnyAsync(w => w.Payload.Contains(id), Ct));
    }

    [Fact]
    public async Task An_event_aihub_does_not_handle_is_stored_as_ignored_and_a_repeat_is_stored_once()
    {
        var id = $"evt_{Guid.NewGuid():N}";
        var body = Event(id, "customer.tax_id.created", $$"""{"id":"txi_{{Guid.NewGuid():N}}","object":"tax_id"}""");
        using var client = host.Client();

        for (var i = 0; i < 3; i++)
        {
            using var response = await PostAsync(client, body, Sign(body, DateTimeOffset.UtcNow));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await using var scope = host.App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var stored = await db.Set<WebhookEvent>().SingleAsync(e => e.EventId == id, Ct);
        Assert.Equal(WebhookEventState.Ignored, stored.State);
        Assert.Equal("customer.tax_id.created", stored.Type);
    }

    [Fact]
    public async Task A_body_over_a_mebibyte_is_refused_as_too_large()
    {
        var body = Event($"evt_{Guid.NewGuid():N}", "charge.refunded", $$"""{"id":"ch_x","object":"charge","description":"{{new string('x', 1_100_000)}}"}""");
        using var client = host.Client();
        using var response = await PostAsync(client, body, Sign(body, DateTimeOffset.UtcNow));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    internal static string Event(string id, string type, string dataObject) =>
        $$"""{"id":"{{id}}","object":"event","api_version":"2026-10-28.endive","created":{{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}},"livemode":false,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"{{type}}","data":{"object":""" + dataObject + "}}";

    /// <summary>Stripe's scheme: <c>t={unix},v1={hex HMAC-SHA256(secret, "{t}.{body}")}</c>.</summary>
    internal static string Sign(string body, DateTimeOffset at, string secret = Secret)
    {
        var t = at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{t}.{body}"));
        return $"t={t},v1={Convert.ToHexStringLower(mac)}";
    }

    static Task<HttpResponseMessage> PostAsync(HttpClient client, string body, string? signature)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, Path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (signature is not null)
            request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
        return client.SendAsync(request, Ct);
    }
}

public sealed class StripeWebhookFixtureOnSqlite() : IdentityFixture("Sqlite", StripeWebhookTests.Settings);

public sealed class StripeWebhookFixtureOnPostgres() : IdentityFixture("Postgres", StripeWebhookTests.Settings);

public sealed class StripeWebhookOnSqlite(StripeWebhookFixtureOnSqlite fixture) : StripeWebhookTests(fixture.Host), IClassFixture<StripeWebhookFixtureOnSqlite>;

public sealed class StripeWebhookOnPostgres(StripeWebhookFixtureOnPostgres fixture) : StripeWebhookTests(fixture.Host), IClassFixture<StripeWebhookFixtureOnPostgres>;
