using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.EndToEndTests.Knowledge;
using AiHub.IntegrationTests.Support;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

/// <summary>
/// Every page, in the light and the dark theme, at a desktop and a phone width: axe-core finds no WCAG 2.1 AA
/// violation, no page scrolls sideways on a phone, and each view is saved as page-width-theme.png.
/// </summary>
public sealed class AccessibilityTests(ChatFixture chat) : IClassFixture<ChatFixture>
{
    static readonly int[] Widths = [1280, 390];

    static readonly ColorScheme[] Themes = [ColorScheme.Light, ColorScheme.Dark];

    /// <summary>A page by name, its path, and whether it runs in a circuit (sign-in forms are static: they only ever show the light theme).</summary>
    sealed record Visit(string Name, string Path, bool Interactive = true);

    [Fact]
    public async Task Every_page_passes_axe_in_both_themes_at_desktop_and_phone_width_and_is_saved_as_screenshots()
    {
        var app = chat.App;
        var email = Unique("axe");
        await app.CreateAccountAsync(email, Password, "Alex Axe", AiHub.Identity.Roles.SuperAdmin);
        var axe = await File.ReadAllTextAsync(NodeClients.Module("axe-core/axe.min.js"), TestContext.Current.CancellationToken);
        var problems = new List<string>();

        var visitor = await app.NewPageAsync(injectsScripts: true);
        Visit[] anonymous =
        [
            new("landing", "/"),
            new("login", "/account/login", Interactive: false),
            new("register", "/account/register", Interactive: false),
            new("forgot-password", "/account/forgot-password", Interactive: false),
            new("plans-anonymous", "/plans"),
            new("not-found", "/no/such/page"),
        ];
        await SweepAsync(visitor, anonymous, axe, problems);
        await visitor.Context.CloseAsync();

        var page = await SignedInAsync(app, email, injectsScripts: true);
        await InteractiveAsync(page);
        // One answered question, so that the chat page shows messages and the usage pages have a row.
        await page.GotoAsync(new Uri(app.BaseAddress, "/chat").ToString());
        await Expect(page).ToHaveURLAsync(new Regex("/orgs/[0-9a-f-]{36}/workspaces/[0-9a-f-]{36}/chat$"));
        await InteractiveAsync(page);
        await page.GetByTestId("chat-input").FillAsync("Hello there");
        await page.GetByTestId("chat-input").PressAsync("Enter");
        await Expect(page.Locator("[data-testid=chat-message][data-role=assistant]").Last).ToHaveAttributeAsync("data-status", "complete", new() { Timeout = 30_000 });
        await Expect(page).ToHaveURLAsync(new Regex("/chat/[0-9a-f-]{36}$"));
        var conversation = new Uri(page.Url).AbsolutePath;
        var org = Regex.Match(conversation, "^/orgs/([0-9a-f-]{36})/").Groups[1].Value;
        var workspace = Regex.Match(conversation, "/workspaces/([0-9a-f-]{36})/").Groups[1].Value;
        var knowledge = await KnowledgeSamples.CreateAsync(app, email, Guid.Parse(org), Guid.Parse(workspace), TestContext.Current.CancellationToken);
        // One finished image, so that the gallery shows a card with its viewer button and actions.
        await Generation.GallerySamples.ImageAsync(app, email, Guid.Parse(org), Guid.Parse(workspace), $"mock/{Generation.GallerySamples.ImageModel}", TestContext.Current.CancellationToken);

        Visit[] signedIn =
        [
            new("chat", conversation),
            new("org", $"/orgs/{org}"),
            new("org-members", $"/orgs/{org}/members"),
            new("org-teams", $"/orgs/{org}/teams"),
            new("org-workspaces", $"/orgs/{org}/workspaces"),
            new("org-api-keys", $"/orgs/{org}/api-keys"),
            new("org-credits", $"/orgs/{org}/credits"),
            new("org-providers", $"/orgs/{org}/providers"),
            new("org-activity", $"/orgs/{org}/activity"),
            new("org-usage", $"/orgs/{org}/usage"),
            new("org-new", "/orgs/new"),
            new("orgs-deleted", "/orgs/deleted"),
            new("credits", "/credits"),
            new("usage", "/usage"),
            new("plans", "/plans"),
            new("account", "/account"),
            new("account-sessions", "/account/sessions"),
            new("account-two-factor", "/account/two-factor"),
            new("admin-plans", "/admin/plans"),
            new("admin-billing", "/admin/billing"),
            new("admin-models", "/admin/models"),
            new("admin-prices", "/admin/prices"),
            new("admin-credits", "/admin/credits"),
            new("admin-promo-codes", "/admin/promo-codes"),
            new("knowledge", $"/knowledge/{workspace}"),
            new("knowledge-base", $"/knowledge/{workspace}/bases/{knowledge.KnowledgeBaseId}"),
            new("knowledge-document", $"/knowledge/{workspace}/sources/{knowledge.DocumentId}"),
            new("knowledge-recording", $"/knowledge/{workspace}/sources/{knowledge.VideoId}"),
            new("gallery", $"/gallery/{workspace}"),
        ];
        await SweepAsync(page, signedIn, axe, problems);

        // The models table keeps a model's name and id on one line each, however many plan columns follow.
        await page.SetViewportSizeAsync(1280, 800);
        await page.GotoAsync(new Uri(app.BaseAddress, "/admin/models").ToString());
        await Expect(page.GetByTestId("model").First).ToBeVisibleAsync();
        var wrapped = await page.EvaluateAsync<string[]>(
            "() => [...document.querySelectorAll('.aihub-model-name > *')].filter(e => e.getBoundingClientRect().height > parseFloat(getComputedStyle(e).lineHeight) * 1.5).map(e => e.textContent)");
        problems.AddRange(wrapped.Select(name => $"admin-models at 1280px: '{name}' wraps over more than one line"));

        Assert.True(problems.Count == 0, $"{problems.Count} problems:\n" + string.Join("\n", problems));
    }

    async Task SweepAsync(IPage page, Visit[] visits, string axe, List<string> problems)
    {
        foreach (var theme in Themes)
        {
            await page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = theme });
            foreach (var width in Widths)
            {
                await page.SetViewportSizeAsync(width, width > 600 ? 800 : 844);
                foreach (var visit in visits)
                    problems.AddRange(await CheckAsync(page, visit, width, theme, axe));
            }
        }
    }

    async Task<List<string>> CheckAsync(IPage page, Visit visit, int width, ColorScheme theme, string axe)
    {
        var problems = new List<string>();
        var where = $"{visit.Name} ({visit.Path}) at {width}px, {theme.ToString().ToLowerInvariant()}";
        await page.GotoAsync(new Uri(chat.App.BaseAddress, visit.Path).ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });
        if (visit.Interactive)
        {
            await InteractiveAsync(page);
            // The layout reads the browser's colour scheme once it runs in a circuit.
            await page.Locator($"[data-theme={(theme == ColorScheme.Dark ? "dark" : "light")}]").First.WaitForAsync();
        }
        // Data arrives after the first render; the check is of the page as a user reads it, not of its spinner.
        try
        {
            await page.WaitForFunctionAsync("() => !document.querySelector('.mud-progress-linear, .mud-progress-circular')", null, new() { Timeout = 10_000 });
        }
        catch (TimeoutException)
        {
            problems.Add($"{where}: still loading after 10 s");
        }
        await page.Mouse.MoveAsync(0, 0);
        // A page reached by a full load starts without axe; one reached in the circuit keeps it.
        if (!await page.EvaluateAsync<bool>("() => typeof axe !== 'undefined'"))
            await page.AddScriptTagAsync(new PageAddScriptTagOptions { Content = axe });
        var result = await page.EvaluateAsync<JsonElement>(
            """
            async () => {
              const r = await axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] });
              // For contrast, the colours too: a selector alone does not say which palette entry to fix.
              const colours = n => { const d = (n.any[0] || {}).data; return d && d.fgColor ? ` (${d.fgColor} on ${d.bgColor}: ${d.contrastRatio})` : ''; };
              return r.violations.map(v => ({ id: v.id, help: v.help, targets: v.nodes.slice(0, 5).map(n => n.target.join(' ') + colours(n)) }));
            }
            """);
        foreach (var violation in result.EnumerateArray())
            problems.Add($"{where}: {violation.GetProperty("id").GetString()} ({violation.GetProperty("help").GetString()}): "
                + string.Join(" | ", violation.GetProperty("targets").EnumerateArray().Select(t => t.GetString())));

        if (width < 600)
        {
            var overflow = await page.EvaluateAsync<int[]>("() => [document.scrollingElement.scrollWidth, window.innerWidth]");
            if (overflow[0] > overflow[1])
                problems.Add($"{where}: the page is {overflow[0]}px wide in a {overflow[1]}px window");
        }

        await BrowserFixture.ScreenshotAsync(page, $"{visit.Name}-{width}-{theme.ToString().ToLowerInvariant()}.png");
        return problems;
    }
}
