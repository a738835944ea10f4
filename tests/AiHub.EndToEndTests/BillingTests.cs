using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Fixtures;
using AiHub.Infrastructure.Hosting;
using AiHub.IntegrationTests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

/// <summary>AiHub taking payments through Stripe (the fake Stripe, with its hosted pages), with a chat model to use up the free plan on.</summary>
public sealed class BillingFixture : IAsyncLifetime
{
    public FakeLlm Fake { get; private set; } = null!;

    public FakeStripe Stripe { get; private set; } = null!;

    public BrowserFixture App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        Stripe = await FakeStripe.StartAsync();
        App = new BrowserFixture(new Dictionary<string, string?>
        {
            ["Providers:0:Name"] = "mock",
            ["Providers:0:Kind"] = "OpenAICompatible",
            ["Providers:0:BaseUrl"] = Fake.OpenAiEndpoint.ToString(),
            ["Providers:0:ApiKey"] = "test",
            ["Providers:0:Models:0"] = ChatFixture.Model,
            ["Billing:Gateway"] = "stripe",
            ["Billing:Stripe:SecretKey"] = "sk_test_browser",
            ["Billing:Stripe:WebhookSecret"] = Stripe.WebhookSecret,
            ["Billing:Stripe:ApiBase"] = Stripe.BaseAddress.AbsoluteUri,
        });
        await App.InitializeAsync();
        // Kestrel's port is known only once it listens: the hosted page's return address must name it, as production's public URL does.
        App.Services.GetRequiredService<IOptions<PublicUrlSettings>>().Value.PublicUrl = App.BaseAddress;
        Stripe.WebhookUrl = new Uri(App.BaseAddress, "/api/billing/stripe/webhook");
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await Stripe.DisposeAsync();
        await Fake.DisposeAsync();
    }
}

public sealed class BillingTests(BillingFixture billing) : IClassFixture<BillingFixture>
{
    static readonly LocatorAssertionsToHaveAttributeOptions Slowly = new() { Timeout = 30_000 };

    [Fact]
    public async Task A_free_user_at_the_chat_limit_upgrades_to_pro_on_the_hosted_page_and_the_badge_shows_it()
    {
        var email = Unique("upgrader");
        await billing.App.CreateAccountAsync(email, Password, "Uma Upgrade");
        var page = await SignedInAsync(billing.App, email);
        await ChatTests.GoToChatAsync(page);
        await Expect(page.GetByTestId("plan-badge")).ToHaveAttributeAsync("data-code", "FREE");
        for (var i = 1; i <= 3; i++)
        {
            await page.GetByTestId("chat-input").FillAsync($"Question {i}");
            await page.GetByTestId("chat-input").PressAsync("Enter");
            var answer = page.Locator("[data-testid=chat-message][data-role=assistant]").Last;
            await Expect(answer.GetByTestId("chat-message-content")).ToHaveTextAsync($"You said: Question {i}", new() { Timeout = 30_000 });
            await Expect(answer).ToHaveAttributeAsync("data-status", "complete", Slowly);
            // The first answer moves the page to its conversation's address; the next question is typed there.
            await Expect(page).ToHaveURLAsync(new Regex("/chat/[0-9a-f-]{36}$"));
            await Expect(page.GetByTestId("chat-message")).ToHaveCountAsync(2 * i);
            await Expect(page.GetByTestId("chat-input")).ToHaveValueAsync("");
        }
        await Expect(page.GetByTestId("chat-quota")).ToHaveAttributeAsync("data-remaining", "0", Slowly);
        await page.GetByTestId("chat-input").FillAsync("One too many");
        await page.GetByTestId("chat-send").ClickAsync();

        await page.GetByTestId("chat-upgrade").Locator("a").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/plans$"));
        var pro = page.Locator("[data-testid=plan-card][data-code=PRO]");
        await pro.GetByTestId("plan-choose").ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/orgs/[0-9a-f-]{36}/billing\\?plan=PRO$"));
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("billing-plan-name")).ToHaveTextAsync("Free");
        var offer = page.Locator("[data-testid=billing-plan-card][data-code=PRO]");
        await Expect(offer).ToHaveAttributeAsync("data-offered", "true");
        await Expect(page.Locator("[data-testid=billing-plan-card][data-code=FREE]")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("billing-package")).ToHaveCountAsync(3);
        await BrowserFixture.ScreenshotAsync(page, "billing-offer.png");

        await offer.GetByTestId("billing-choose").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(billing.Stripe.BaseAddress.AbsoluteUri)));
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("Subscribe to");
        await BrowserFixture.ScreenshotAsync(page, "billing-hosted-page.png");
        await page.GetByRole(AriaRole.Button, new() { Name = "Pay", Exact = true }).ClickAsync();

        await Expect(page).ToHaveURLAsync(new Regex("/orgs/[0-9a-f-]{36}/billing/return\\?checkout=[0-9a-f-]{36}$"));
        await Expect(page.GetByTestId("billing-return")).ToHaveAttributeAsync("data-status", "completed", Slowly);
        await Expect(page.GetByTestId("billing-return-plan")).ToHaveTextAsync("You are now on Pro.");
        await Expect(page.GetByTestId("plan-badge")).ToHaveAttributeAsync("data-code", "PRO", Slowly);
        await Expect(page.GetByTestId("plan-badge")).ToContainTextAsync("Pro");
        await BrowserFixture.ScreenshotAsync(page, "billing-return.png");

        await page.GetByTestId("billing-return-back").ClickAsync();
        await Expect(page.GetByTestId("billing-plan-name")).ToHaveTextAsync("Pro");
        await Expect(page.GetByTestId("billing-renews")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("billing-invoice")).ToHaveCountAsync(1, new() { Timeout = 30_000 });
        await Expect(page.GetByTestId("billing-invoice-pdf")).ToHaveAttributeAsync("href", new Regex("/billing/invoices/[0-9a-f-]{36}/pdf$"));
    }

    [Fact]
    public async Task The_billing_page_passes_axe_at_desktop_and_phone_width()
    {
        var email = Unique("billing-axe");
        await billing.App.CreateAccountAsync(email, Password, "Bea Billing");
        var page = await SignedInAsync(billing.App, email, injectsScripts: true);
        await ChatTests.GoToChatAsync(page);
        var org = Regex.Match(new Uri(page.Url).AbsolutePath, "^/orgs/([0-9a-f-]{36})/").Groups[1].Value;
        var axe = await File.ReadAllTextAsync(NodeClients.Module("axe-core/axe.min.js"), TestContext.Current.CancellationToken);
        var problems = new List<string>();

        foreach (var width in new[] { 1280, 375 })
        {
            await page.SetViewportSizeAsync(width, width < 600 ? 800 : 900);
            await page.GotoAsync(new Uri(billing.App.BaseAddress, $"/orgs/{org}/billing").ToString());
            await InteractiveAsync(page);
            await Expect(page.GetByTestId("billing-details-form")).ToBeVisibleAsync();
            await page.GetByTestId("billing-country").FillAsync("U1");
            await page.GetByTestId("billing-details-save").ClickAsync();
            await Expect(page.GetByTestId("billing-country-error")).ToContainTextAsync("two-letter");
            if (!await page.EvaluateAsync<bool>("() => typeof axe !== 'undefined'"))
                await page.AddScriptTagAsync(new PageAddScriptTagOptions { Content = axe });
            var result = await page.EvaluateAsync<JsonElement>(
                "async () => (await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] })).violations.map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))");
            problems.AddRange(result.EnumerateArray().Select(v => $"{width}px: {v.GetString()}"));
            var overflow = await page.EvaluateAsync<int[]>("() => [document.scrollingElement.scrollWidth, window.innerWidth]");
            if (overflow[0] > overflow[1])
                problems.Add($"{width}px: the page is {overflow[0]}px wide");
            await BrowserFixture.ScreenshotAsync(page, $"billing-{width}.png");
        }

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
