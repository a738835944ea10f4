using AiHub.Credits.Pools.Emails;
using AiHub.Notifications;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AiHub.IntegrationTests.Credits;

/// <summary>The credit request mails: what a member typed is escaped, and the text carries what the HTML says.</summary>
public sealed class PoolEmailTests
{
    static readonly Uri Link = new("https://aihub.test/orgs/7/credits");

    [Fact]
    public async Task A_request_mail_escapes_the_reason_and_links_to_the_credits_page()
    {
        var html = await RenderAsync<CreditRequestEmail>(new()
        {
            [nameof(CreditRequestEmail.Requester)] = "Ada <ada@example.com>",
            [nameof(CreditRequestEmail.OrgName)] = "Acme",
            [nameof(CreditRequestEmail.Credits)] = "12.5",
            [nameof(CreditRequestEmail.Reason)] = "<script>alert(1)</script>",
            [nameof(CreditRequestEmail.Link)] = Link,
        });
        var text = PoolEmailText.Request("Ada <ada@example.com>", "Acme", "12.5", "<script>alert(1)</script>", Link);

        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.Contains("12.5 credits", html, StringComparison.Ordinal);
        Assert.Contains($"href=\"{Link.AbsoluteUri}\"", html, StringComparison.Ordinal);
        Assert.Contains("12.5 credits", text, StringComparison.Ordinal);
        Assert.Contains(Link.AbsoluteUri, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_decision_mail_says_what_was_granted_or_why_not()
    {
        var approved = await RenderAsync<CreditDecisionEmail>(Decision(approved: true, granted: "15", reason: null));
        var denied = await RenderAsync<CreditDecisionEmail>(Decision(approved: false, granted: null, reason: "No budget left"));

        Assert.Contains("approved for 15 credits", approved, StringComparison.Ordinal);
        Assert.Contains("is denied", denied, StringComparison.Ordinal);
        Assert.Contains("No budget left", denied, StringComparison.Ordinal);
        Assert.Contains("approved for 15 credits", PoolEmailText.Decision("Ada", "Acme", true, "20", "15", null, Link), StringComparison.Ordinal);
        Assert.Contains("No budget left", PoolEmailText.Decision("Ada", "Acme", false, "20", null, "No budget left", Link), StringComparison.Ordinal);
    }

    static Dictionary<string, object?> Decision(bool approved, string? granted, string? reason) => new()
    {
        [nameof(CreditDecisionEmail.DisplayName)] = "Ada",
        [nameof(CreditDecisionEmail.OrgName)] = "Acme",
        [nameof(CreditDecisionEmail.Approved)] = approved,
        [nameof(CreditDecisionEmail.Asked)] = "20",
        [nameof(CreditDecisionEmail.Granted)] = granted,
        [nameof(CreditDecisionEmail.Reason)] = reason,
        [nameof(CreditDecisionEmail.Link)] = Link,
    };

    static async Task<string> RenderAsync<T>(Dictionary<string, object?> parameters) where T : Microsoft.AspNetCore.Components.IComponent
    {
        await using var services = new ServiceCollection().AddLogging().BuildServiceProvider();
        return await new EmailRenderer(services, services.GetRequiredService<ILoggerFactory>()).RenderAsync<T>(parameters);
    }
}
