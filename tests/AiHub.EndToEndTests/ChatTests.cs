using System.Text.RegularExpressions;
using AiHub.Credits;
using AiHub.Data;
using AiHub.Organizations;
using AiHub.Fixtures;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

/// <summary>
/// AiHub in Chromium with one provider, the fake LLM, serving gpt-4o-mini to everyone; web search through the fake
/// SearXNG, and follow-up questions on.
/// </summary>
public sealed class ChatFixture : IAsyncLifetime
{
    public const string Model = "gpt-4o-mini";

    public FakeLlm Fake { get; private set; } = null!;

    public FakeSearch Search { get; private set; } = null!;

    public BrowserFixture App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        Search = await FakeSearch.StartAsync();
        App = new BrowserFixture(new Dictionary<string, string?>
        {
            ["Providers:0:Name"] = "mock",
            ["Providers:0:Kind"] = "OpenAICompatible",
            ["Providers:0:BaseUrl"] = Fake.OpenAiEndpoint.ToString(),
            ["Providers:0:ApiKey"] = "test",
            ["Providers:0:Models:0"] = Model,
            // An image model too, for the gallery's pages.
            ["Providers:0:ImageModels:0"] = Generation.GallerySamples.ImageModel,
            ["WebSearch:Provider"] = "SearXNG",
            ["WebSearch:BaseUrl"] = Search.SearxngUrl,
            ["Chat:FollowUps"] = "true",
        });
        await App.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await Search.DisposeAsync();
        await Fake.DisposeAsync();
    }
}

public sealed class ChatTests(ChatFixture chat) : IClassFixture<ChatFixture>
{
    /// <summary>Answers take seconds here by design (slow chunks), longer than Playwright's default wait.</summary>
    static readonly LocatorAssertionsToHaveAttributeOptions Slowly = new() { Timeout = 30_000 };

    [Fact]
    public async Task An_answer_streams_in_piece_by_piece_and_the_quota_badge_counts_the_question()
    {
        var page = await ChatPageAsync("streamer");
        await Expect(page.GetByTestId("chat-quota")).ToHaveAttributeAsync("data-remaining", "3");

        await AskAsync(page, "Tell me about **streams** [[fake:chunks=12;delay=150]]");

        var question = page.Locator("[data-testid=chat-message][data-role=user]").Last;
        await Expect(question.GetByTestId("chat-message-content")).ToHaveTextAsync("Tell me about **streams** [[fake:chunks=12;delay=150]]");
        var answer = Answer(page);
        var seen = await WatchStreamAsync(answer);
        Assert.True(seen.Count >= 3, $"only {seen.Count} intermediate states: {string.Join(" | ", seen)}");
        for (var i = 1; i < seen.Count; i++)
            Assert.True(seen[i].Length > seen[i - 1].Length && seen[i].StartsWith(seen[i - 1].TrimEnd(), StringComparison.Ordinal), $"'{seen[i]}' does not grow '{seen[i - 1]}'");

        await Expect(answer).ToHaveAttributeAsync("data-status", "complete", Slowly);
        var content = answer.GetByTestId("chat-message-content");
        await Expect(content).ToContainTextAsync("You said: Tell me about streams");
        // Markdown is rendered: the bold is an element, not asterisks.
        await Expect(content.Locator("strong")).ToHaveTextAsync("streams");
        var final = (await content.InnerTextAsync()).Trim();
        Assert.StartsWith(seen[^1], final);
        Assert.True(final.Length > seen[0].Length);
        await Expect(answer.GetByTestId("chat-message-notice")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("chat-quota")).ToHaveAttributeAsync("data-remaining", "2");
        await Expect(page.GetByTestId("chat-input")).ToHaveValueAsync("");
        await Expect(page.GetByTestId("chat-conversation")).ToHaveCountAsync(1);
        await Expect(page).ToHaveURLAsync(new Regex("/chat/[0-9a-f-]{36}$"));
        await BrowserFixture.ScreenshotAsync(page, "chat-streamed.png");
    }

    [Fact]
    public async Task Stopping_an_answer_halfway_keeps_the_partial_text_marked_stopped()
    {
        var page = await ChatPageAsync("stopper");
        await page.GetByTestId("chat-input").FillAsync("Count slowly [[fake:delay=200;chunks=30]]");
        await page.GetByTestId("chat-send").ClickAsync();

        var answer = Answer(page);
        var content = answer.GetByTestId("chat-message-content");
        await Expect(answer).ToHaveAttributeAsync("data-status", "streaming", Slowly);
        await Expect(content).ToContainTextAsync("You said: Count slowly", new() { Timeout = 30_000 });
        await page.GetByTestId("chat-stop").ClickAsync();

        await Expect(answer).ToHaveAttributeAsync("data-status", "cancelled", Slowly);
        await Expect(answer.GetByTestId("chat-message-notice")).ToContainTextAsync("Stopped");
        var partial = (await content.InnerTextAsync()).Trim();
        Assert.StartsWith("You said: Count slowly", partial);
        // 30 chunks at 200 ms take six seconds; a stop after the first few leaves most of them unsent.
        Assert.True(partial.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length < 25, partial);
        await Expect(page.GetByTestId("chat-send")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("chat-stop")).ToHaveCountAsync(0);

        // What arrived was stored, not only shown.
        await page.ReloadAsync();
        await InteractiveAsync(page);
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "cancelled");
        await Expect(Answer(page).GetByTestId("chat-message-content")).ToHaveTextAsync(partial);
        await BrowserFixture.ScreenshotAsync(page, "chat-stopped.png");
    }

    [Fact]
    public async Task Editing_a_message_makes_a_second_branch_and_the_arrows_bring_the_first_back_until_the_plan_runs_out()
    {
        var page = await ChatPageAsync("editor");
        await AskAsync(page, "First question");
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "complete", Slowly);
        await Expect(Answer(page).GetByTestId("chat-message-content")).ToHaveTextAsync("You said: First question");
        await Expect(page.GetByTestId("chat-branch-counter")).ToHaveCountAsync(0);

        var question = page.Locator("[data-testid=chat-message][data-role=user]").First;
        await question.GetByTestId("chat-edit").ClickAsync();
        await page.GetByTestId("chat-edit-input").FillAsync("Second question");
        await page.GetByTestId("chat-edit-save").ClickAsync();

        await Expect(Answer(page).GetByTestId("chat-message-content")).ToHaveTextAsync("You said: Second question", new() { Timeout = 30_000 });
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "complete", Slowly);
        question = page.Locator("[data-testid=chat-message][data-role=user]").First;
        await Expect(question.GetByTestId("chat-message-content")).ToHaveTextAsync("Second question");
        await Expect(question.GetByTestId("chat-branch-counter")).ToHaveTextAsync("2 / 2");
        await Expect(page.GetByTestId("chat-message")).ToHaveCountAsync(2);
        await BrowserFixture.ScreenshotAsync(page, "chat-branch-2.png");

        await question.GetByTestId("chat-branch-prev").ClickAsync();
        await Expect(question.GetByTestId("chat-branch-counter")).ToHaveTextAsync("1 / 2");
        await Expect(question.GetByTestId("chat-message-content")).ToHaveTextAsync("First question");
        await Expect(Answer(page).GetByTestId("chat-message-content")).ToHaveTextAsync("You said: First question");
        await question.GetByTestId("chat-branch-next").ClickAsync();
        await Expect(question.GetByTestId("chat-message-content")).ToHaveTextAsync("Second question");

        // The FREE plan has three questions in all: the third is the last, the fourth is refused with a way to upgrade.
        await AskAsync(page, "Third question");
        await Expect(Answer(page).GetByTestId("chat-message-content")).ToHaveTextAsync("You said: Third question", new() { Timeout = 30_000 });
        await Expect(page.GetByTestId("chat-input")).ToHaveValueAsync("");
        await Expect(page.GetByTestId("chat-quota")).ToHaveAttributeAsync("data-remaining", "0", Slowly);
        await page.GetByTestId("chat-input").FillAsync("One too many");
        await page.GetByTestId("chat-send").ClickAsync();
        await Expect(page.GetByTestId("chat-problem")).ToHaveAttributeAsync("data-type", "urn:aihub:problem:chat-limit-exceeded");
        await Expect(page.GetByTestId("chat-upgrade").Locator("a")).ToHaveAttributeAsync("href", "/plans");
        await Expect(page.GetByTestId("chat-input")).ToHaveValueAsync("One too many");
        await Expect(page.GetByTestId("chat-message")).ToHaveCountAsync(4);
        // The refusal says each thing once, in words for people: no second "used up" line, no raw URL for programs.
        var refusal = await page.GetByTestId("chat-problem").InnerTextAsync();
        AssertSaidOnce(refusal);
        Assert.DoesNotContain("http", refusal, StringComparison.Ordinal);
        Assert.Equal(1, Regex.Count(refusal, "3 of 3 questions"));
        await BrowserFixture.ScreenshotAsync(page, "chat-quota-refusal.png");
    }

    /// <summary>No sentence of <paramref name="text"/> comes twice.</summary>
    internal static void AssertSaidOnce(string text)
    {
        var sentences = Regex.Split(text, @"(?<=[.!?])\s+|\n").Select(x => x.Trim()).Where(x => x.Length > 0).ToList();
        var repeated = sentences.GroupBy(x => x, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(repeated.Count == 0, $"said twice: {string.Join(" | ", repeated)} in '{text}'");
    }

    [Fact]
    public async Task A_web_search_shows_as_a_folded_tool_panel_and_regenerating_makes_a_second_version()
    {
        var page = await ChatPageAsync("searcher");
        await AskAsync(page, """Find the tallest tower [[fake:tool=web_search;args={"query":"tallest tower"}]]""");

        var answer = Answer(page);
        await Expect(answer).ToHaveAttributeAsync("data-status", "complete", Slowly);
        await Expect(answer.GetByTestId("chat-message-content")).ToContainTextAsync("Tool returned:");
        var panel = answer.GetByTestId("chat-tool-call");
        await Expect(panel).ToContainTextAsync("Tool: web_search");
        var result = panel.Locator("pre").Nth(1);
        await Expect(result).ToBeHiddenAsync();
        await panel.GetByText("Tool: web_search").ClickAsync();
        await Expect(panel.Locator(".mud-collapse-entered")).ToBeVisibleAsync();
        await Expect(panel.Locator("pre").First).ToContainTextAsync(new Regex("\"query\":\\s*\"tallest tower\""));
        await Expect(result).ToContainTextAsync("tallest tower – result 1");
        await Expect(result).ToContainTextAsync("https://example.com/tallest%20tower/1");
        await BrowserFixture.ScreenshotAsync(page, "chat-tool-call.png");

        await answer.GetByTestId("chat-regenerate").ClickAsync();
        await Expect(Answer(page).GetByTestId("chat-branch-counter")).ToHaveTextAsync("2 / 2", new() { Timeout = 30_000 });
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "complete", Slowly);
        await Expect(page.GetByTestId("chat-message")).ToHaveCountAsync(2);
        await Answer(page).GetByTestId("chat-branch-prev").ClickAsync();
        await Expect(Answer(page).GetByTestId("chat-branch-counter")).ToHaveTextAsync("1 / 2");
        await Expect(page.GetByTestId("chat-quota")).ToHaveAttributeAsync("data-remaining", "1");
    }

    [Fact]
    public async Task Suggested_follow_ups_appear_under_the_answer_and_one_click_asks_one()
    {
        var page = await ChatPageAsync("follower");
        // The answer, then the title and the follow-ups on the cheap model, which is the same one here.
        chat.Fake.Enqueue(FakeScript.Reply("Paris is the capital of France."), ChatFixture.Model);
        chat.Fake.Enqueue(FakeScript.Reply("Capital of France"), ChatFixture.Model);
        chat.Fake.Enqueue(FakeScript.Reply("1. How big is Paris?\n2. What about Lyon?\n3. Who built the Eiffel Tower?"), ChatFixture.Model);
        await AskAsync(page, "What is the capital of France?");

        await Expect(page.GetByTestId("chat-follow-up")).ToHaveTextAsync(["How big is Paris?", "What about Lyon?", "Who built the Eiffel Tower?"], new() { Timeout = 30_000 });
        await Expect(page.GetByTestId("chat-title")).ToHaveTextAsync("Capital of France");
        await Expect(page.GetByTestId("chat-conversation")).ToHaveTextAsync("Capital of France");
        await BrowserFixture.ScreenshotAsync(page, "chat-follow-ups.png");

        await page.GetByTestId("chat-follow-up").Nth(1).ClickAsync();
        await Expect(Answer(page).GetByTestId("chat-message-content")).ToHaveTextAsync("You said: What about Lyon?", new() { Timeout = 30_000 });
        await Expect(page.Locator("[data-testid=chat-message][data-role=user]").Last.GetByTestId("chat-message-content")).ToHaveTextAsync("What about Lyon?");
        await Expect(page.GetByTestId("chat-input")).ToHaveValueAsync("");
    }

    [Fact]
    public async Task The_sidebar_search_finds_a_conversation_by_a_word_of_its_messages()
    {
        var page = await ChatPageAsync("finder");
        await AskAsync(page, "Tell me about otters");
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "complete", Slowly);
        await page.GetByTestId("chat-new").ClickAsync();
        await Expect(page.GetByTestId("chat-empty")).ToBeVisibleAsync();
        await AskAsync(page, "Tell me about volcanoes");
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "complete", Slowly);
        await Expect(page.GetByTestId("chat-conversation")).ToHaveCountAsync(2);

        await page.GetByTestId("chat-search").FillAsync("otters");
        await Expect(page.GetByTestId("chat-conversation")).ToHaveCountAsync(1);
        await Expect(page.GetByTestId("chat-conversation")).ToContainTextAsync("otters");
        await page.GetByTestId("chat-search").FillAsync("penguins");
        await Expect(page.GetByTestId("chat-list-empty")).ToHaveTextAsync("Nothing matches.");
        await page.GetByTestId("chat-search").FillAsync("");
        await Expect(page.GetByTestId("chat-conversation")).ToHaveCountAsync(2);
    }

    [Fact]
    public async Task Without_credits_the_page_says_where_to_add_them_and_keeps_the_question()
    {
        var email = Unique("broke");
        await chat.App.CreateAccountAsync(email, Password, "Bo Broke");
        await using (var scope = chat.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var ct = TestContext.Current.CancellationToken;
            var user = await db.Users.AsNoTracking().SingleAsync(u => u.Email == email, ct);
            var account = await db.Set<CreditAccount>().SingleAsync(a => a.Owner == CreditOwner.User && a.UserId == user.Id, ct);
            await scope.ServiceProvider.GetRequiredService<Ledger>().PostAsync(account.Id, CreditKind.Adjustment, -account.Balance, "empty it", null, $"empty:{account.Id}", ct);
        }
        var page = await SignedInAsync(chat.App, email);
        await OpenChatAsync(page);

        await page.GetByTestId("chat-input").FillAsync("Am I broke?");
        await page.GetByTestId("chat-send").ClickAsync();
        await Expect(page.GetByTestId("chat-problem")).ToHaveAttributeAsync("data-type", "urn:aihub:problem:insufficient-credits");
        await Expect(page.GetByTestId("chat-credits").Locator("a")).ToHaveAttributeAsync("href", "/credits");
        await Expect(page.GetByTestId("chat-input")).ToHaveValueAsync("Am I broke?");
        await Expect(page.GetByTestId("chat-message")).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(page, "chat-no-credits.png");
    }

    [Fact]
    public async Task On_a_phone_the_conversation_list_folds_away_and_opens_from_the_header()
    {
        var email = Unique("phone");
        await chat.App.CreateAccountAsync(email, Password, "Pia Phone");
        var page = await SignedInAsync(chat.App, email);
        await page.SetViewportSizeAsync(390, 844);
        await OpenChatAsync(page);

        await Expect(page.GetByTestId("chat-sidebar")).ToBeHiddenAsync();
        await Expect(page.GetByTestId("chat-input")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("chat-send")).ToBeVisibleAsync();
        await page.GetByTestId("chat-sidebar-toggle").ClickAsync();
        await Expect(page.GetByTestId("chat-sidebar")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("chat-search")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "chat-phone.png");
        await page.GetByTestId("chat-sidebar-close").ClickAsync();
        await Expect(page.GetByTestId("chat-sidebar")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task A_long_title_is_cut_with_an_ellipsis_and_the_conversation_list_keeps_its_width()
    {
        var page = await ChatPageAsync("longtitle");
        var sidebar = page.GetByTestId("chat-sidebar");
        var before = (await sidebar.BoundingBoxAsync())!.Width;
        var title = string.Concat(Enumerable.Repeat("A rather long conversation title, ", 6))[..200];
        var match = Regex.Match(page.Url, "/orgs/(?<org>[0-9a-f-]{36})/workspaces/(?<ws>[0-9a-f-]{36})/chat");
        var (org, ws) = (Guid.Parse(match.Groups["org"].Value), Guid.Parse(match.Groups["ws"].Value));
        await using (var scope = chat.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            db.TenantId = org;
            var user = await db.Memberships.AsNoTracking().Where(m => m.OrganizationId == org).Select(m => m.UserId).SingleAsync(TestContext.Current.CancellationToken);
            await scope.ServiceProvider.GetRequiredService<AiHub.Chat.Conversations.ConversationService>()
                .CreateAsync(org, ws, user, title, null, null, TestContext.Current.CancellationToken);
        }
        await page.ReloadAsync();
        await InteractiveAsync(page);

        var item = page.GetByTestId("chat-conversation-title");
        await Expect(item).ToHaveAttributeAsync("title", title);
        var after = (await sidebar.BoundingBoxAsync())!.Width;
        Assert.InRange(after, 250, 270);
        Assert.Equal(before, after, 1.0);
        // Cut, not wrapped: the text is wider than the room it is shown in, on one line.
        Assert.True(await item.EvaluateAsync<bool>("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).textOverflow === 'ellipsis'"));
        Assert.True((await item.BoundingBoxAsync())!.Height < 30);
        await BrowserFixture.ScreenshotAsync(page, "chat-long-title.png");
    }

    [Fact]
    public async Task The_app_bar_balance_drops_after_an_answer_without_a_reload()
    {
        var email = Unique("balance");
        await chat.App.CreateAccountAsync(email, Password, "Bea Balance");
        var page = await SignedInAsync(chat.App, email);
        await OpenChatAsync(page);
        var balance = page.GetByTestId("credit-balance");
        await Expect(balance).ToHaveTextAsync("10 credits");
        var before = long.Parse((await balance.GetAttributeAsync("data-micros"))!, System.Globalization.CultureInfo.InvariantCulture);

        await AskAsync(page, "What does this cost?");
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "complete", Slowly);

        await Expect(balance).Not.ToHaveAttributeAsync("data-micros", before.ToString(System.Globalization.CultureInfo.InvariantCulture), new() { Timeout = 15_000 });
        await Expect(page.GetByTestId("chat-follow-ups")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        // It settles on what the ledger says once the answer (and its side calls) are paid for.
        long available;
        await using (var scope = chat.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var ct = TestContext.Current.CancellationToken;
            var user = await db.Users.AsNoTracking().SingleAsync(u => u.Email == email, ct);
            var account = await db.Set<CreditAccount>().AsNoTracking().SingleAsync(a => a.Owner == CreditOwner.User && a.UserId == user.Id, ct);
            available = account.Balance - account.Reserved;
        }
        await Expect(balance).ToHaveAttributeAsync("data-micros", available.ToString(System.Globalization.CultureInfo.InvariantCulture), new() { Timeout = 15_000 });
        Assert.True(available < before);
    }

    [Fact]
    public async Task The_credits_history_shows_one_line_per_call_with_its_model_and_conversation_and_no_empty_lines()
    {
        var email = Unique("history");
        await chat.App.CreateAccountAsync(email, Password, "Hal History");
        var page = await SignedInAsync(chat.App, email);
        await OpenChatAsync(page);
        await AskAsync(page, "Where did my credits go?");
        await Expect(Answer(page)).ToHaveAttributeAsync("data-status", "complete", Slowly);
        await Expect(page.GetByTestId("chat-follow-ups")).ToBeVisibleAsync(new() { Timeout = 15_000 });
        var conversationUrl = new Uri(page.Url).AbsolutePath;
        int calls;
        await using (var scope = chat.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var ct = TestContext.Current.CancellationToken;
            var user = await db.Users.AsNoTracking().SingleAsync(u => u.Email == email, ct);
            var account = await db.Set<CreditAccount>().AsNoTracking().SingleAsync(a => a.Owner == CreditOwner.User && a.UserId == user.Id, ct);
            calls = await db.Set<LedgerHold>().AsNoTracking().CountAsync(h => h.PayerAccountId == account.Id && h.State == HoldState.Posted && h.ActualCost > 0, ct);
            // A bookkeeping line of the old ledger, which moved no credits: the history leaves it out.
            db.Add(new CreditEntry
            {
                Id = Guid.CreateVersion7(), AccountId = account.Id, Kind = CreditKind.Reservation, Amount = 0, ReservedAmount = 5_000,
                Reference = $"AI call by user {user.Id:N}", IdempotencyKey = $"legacy:{Guid.NewGuid():N}", CreatedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync(ct);
        }
        Assert.True(calls >= 1);

        await page.GetByTestId("nav-credits").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/credits$"));
        var usage = page.Locator("[data-testid=credits-entry][data-kind=usage]");
        await Expect(usage).ToHaveCountAsync(calls);
        await Expect(page.Locator("[data-testid=credits-entry][data-kind=reservation]")).ToHaveCountAsync(0);
        var answer = usage.Filter(new() { HasText = "Chat ·" });
        await Expect(answer).ToHaveCountAsync(1);
        await Expect(answer.GetByTestId("credits-entry-model")).ToContainTextAsync(ChatFixture.Model);
        await Expect(answer.GetByTestId("credits-entry-conversation")).ToHaveAttributeAsync("href", conversationUrl);
        await Expect(answer.GetByTestId("credits-entry-amount")).ToHaveTextAsync(new Regex(@"^-0\.\d+$"));
        foreach (var amount in await page.GetByTestId("credits-entry-amount").AllInnerTextsAsync())
            Assert.NotEqual(0m, decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture));
        await Expect(page.GetByTestId("credits-history")).Not.ToContainTextAsync("AI call by user");
        await BrowserFixture.ScreenshotAsync(page, "credits-history-calls.png");

        await answer.GetByTestId("credits-entry-conversation").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex(Regex.Escape(conversationUrl) + "$"));
    }

    /// <summary>Types a message and sends it with Enter, as a user would.</summary>
    static async Task AskAsync(IPage page, string text)
    {
        await page.GetByTestId("chat-input").FillAsync(text);
        await page.GetByTestId("chat-input").PressAsync("Enter");
    }

    static ILocator Answer(IPage page) => page.Locator("[data-testid=chat-message][data-role=assistant]").Last;

    /// <summary>The distinct texts the answer showed while it was still streaming, in order.</summary>
    static async Task<List<string>> WatchStreamAsync(ILocator answer)
    {
        var seen = new List<string>();
        var until = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < until)
        {
            var status = await answer.GetAttributeAsync("data-status");
            var text = (await answer.GetByTestId("chat-message-content").InnerTextAsync()).Trim();
            if (status == "streaming" && text.Length > 0 && (seen.Count == 0 || seen[^1] != text))
                seen.Add(text);
            if (status is not null and not "streaming")
                break;
            await Task.Delay(30);
        }
        return seen;
    }

    async Task<IPage> ChatPageAsync(string who)
    {
        var email = Unique(who);
        await chat.App.CreateAccountAsync(email, Password, "Cai Chat");
        var page = await SignedInAsync(chat.App, email);
        await OpenChatAsync(page);
        return page;
    }

    /// <summary>Through <c>/chat</c>, which takes a new account to its personal org's first workspace (made with the org at sign-up).</summary>
    static async Task OpenChatAsync(IPage page)
    {
        await GoToChatAsync(page);
        await Expect(page.GetByTestId("chat-input")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("chat-model")).ToBeVisibleAsync();
    }

    internal static async Task GoToChatAsync(IPage page)
    {
        await InteractiveAsync(page);
        await page.GotoAsync(new Uri(new Uri(page.Url), "/chat").ToString());
        await Expect(page).ToHaveURLAsync(new Regex("/orgs/[0-9a-f-]{36}/workspaces/[0-9a-f-]{36}/chat$"));
        await InteractiveAsync(page);
    }
}

/// <summary>AiHub with no provider at all: the chat page says so, and how to add one.</summary>
public sealed class ChatWithoutProviderTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task Sending_shows_how_an_administrator_or_the_org_adds_a_provider_and_keeps_the_question()
    {
        var email = Unique("unserved");
        await fixture.CreateAccountAsync(email, Password, "Una Served");
        var page = await SignedInAsync(fixture, email);
        await ChatTests.GoToChatAsync(page);
        await Expect(page.GetByTestId("chat-no-models")).ToHaveTextAsync("No models available.");

        await page.GetByTestId("chat-input").FillAsync("Is anyone there?");
        await page.GetByTestId("chat-send").ClickAsync();
        await Expect(page.GetByTestId("chat-problem")).ToHaveAttributeAsync("data-type", "urn:aihub:problem:no-provider");
        var hint = page.GetByTestId("chat-no-provider");
        await Expect(hint).ToContainTextAsync("Providers:0:BaseUrl");
        // The settings keys are listed once, by the page, not again in the API's detail above them.
        var refusal = await page.GetByTestId("chat-problem").InnerTextAsync();
        Assert.Equal(1, Regex.Count(refusal, @"\bBaseUrl\b"));
        Assert.Equal(1, Regex.Count(refusal, "Providers page"));
        ChatTests.AssertSaidOnce(refusal);
        await Expect(hint.Locator("a")).ToHaveAttributeAsync("href", new Regex("^/orgs/[0-9a-f-]{36}/providers$"));
        await Expect(page.GetByTestId("chat-input")).ToHaveValueAsync("Is anyone there?");
        await BrowserFixture.ScreenshotAsync(page, "chat-no-provider.png");
    }
}
