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

    [Fact]
    public async Task A_budget_mail_names_the_key_the_share_spent_and_when_the_budget_resets()
    {
        var resets = new DateTimeOffset(2031, 2, 1, 0, 0, 0, TimeSpan.Zero);
        var html = await RenderAsync<AiHub.Notifications.Templates.BudgetWarningEmail>(new()
        {
            [nameof(AiHub.Notifications.Templates.BudgetWarningEmail.DisplayName)] = "Ada",
            [nameof(AiHub.Notifications.Templates.BudgetWarningEmail.KeyName)] = "ci <bot>",
            [nameof(AiHub.Notifications.Templates.BudgetWarningEmail.OrgName)] = "Acme",
            [nameof(AiHub.Notifications.Templates.BudgetWarningEmail.Percent)] = 100,
            [nameof(AiHub.Notifications.Templates.BudgetWarningEmail.Budget)] = "10",
            [nameof(AiHub.Notifications.Templates.BudgetWarningEmail.ResetsAt)] = resets,
            [nameof(AiHub.Notifications.Templates.BudgetWarningEmail.KeysLink)] = Link,
        });
        var text = AiHub.Notifications.Templates.EmailText.BudgetWarning("Ada", "ci <bot>", "Acme", 90, "10", resets, Link);

        Assert.Contains("ci &lt;bot&gt;", html, StringComparison.Ordinal);
        Assert.Contains("monthly budget of 10 credits", html, StringComparison.Ordinal);
        Assert.Contains("refused until the budget resets on 2031-02-01", html, StringComparison.Ordinal);
        Assert.Contains("90% of its monthly budget of 10 credits", text, StringComparison.Ordinal);
        Assert.Contains(Link.AbsoluteUri, text, StringComparison.Ordinal);
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
