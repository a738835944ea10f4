using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Chat.Conversations;
using AiHub.Chat.Grounding;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Knowledge;
using AiHub.Knowledge.Ingestion;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests;

/// <summary>What a grounded answer and the creator's insight look like in the browser, on a phone's width.</summary>
public sealed class KnowledgeGroundingTests(ChatFixture chat) : IClassFixture<ChatFixture>
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly LocatorAssertionsToHaveAttributeOptions Slowly = new() { Timeout = 30_000 };

    /// <summary>Signed in on a phone-sized window, in the personal org's first workspace's chat; its org and workspace ids.</summary>
    async Task<(IPage Page, Guid OrgId, Guid WorkspaceId, Guid UserId)> PhoneChatAsync(string who)
    {
        var email = Unique(who);
        await chat.App.CreateAccountAsync(email, Password, "Kim Knowledge");
        var page = await SignedInAsync(chat.App, email);
        await page.SetViewportSizeAsync(390, 844);
        await ChatTests.GoToChatAsync(page);
        var ids = Regex.Match(page.Url, "/orgs/([0-9a-f-]{36})/workspaces/([0-9a-f-]{36})/chat");
        await using var scope = chat.App.Services.CreateAsyncScope();
        var userId = await scope.ServiceProvider.GetRequiredService<AppDbContext>().Users.Where(u => u.Email == email).Select(u => u.Id).SingleAsync(Ct);
        return (page, Guid.Parse(ids.Groups[1].Value), Guid.Parse(ids.Groups[2].Value), userId);
    }

    static async Task AssertNoSidewaysScrollAsync(IPage page)
    {
        var widths = await page.EvaluateAsync<int[]>("() => [document.documentElement.scrollWidth, window.innerWidth]");
        var (scroll, inner) = (widths[0], widths[1]);
        Assert.True(scroll <= inner, $"the page is {scroll}px wide in a {inner}px window");
    }

    [Fact]
    public async Task A_cited_answer_shows_numbered_source_chips_and_its_markers_open_the_source_at_its_page()
    {
        var (page, orgId, workspaceId, _) = await PhoneChatAsync("cites");
        chat.Fake.Enqueue(FakeScript.Reply("Refunds are paid within fourteen days [1], and the video shows how [2]."), ChatFixture.Model);
        await page.GetByTestId("chat-input").FillAsync("How are refunds paid?");
        await page.GetByTestId("chat-input").PressAsync("Enter");
        var answer = page.Locator("[data-testid=chat-message][data-role=assistant]").Last;
        await Expect(answer).ToHaveAttributeAsync("data-status", "complete", Slowly);
        // The sources as grounding stores them with the answer.
        var source = Guid.CreateVersion7();
        var video = Guid.CreateVersion7();
        ChatCitation[] cited =
        [
            new(1, source, 11, "Refund policy with a title long enough to wrap on a phone", 3, null, null, "p. 3", "Refunds are paid within fourteen days.", $"/knowledge/{workspaceId}/sources/{source}#page=3"),
            new(2, video, 12, "Refunds explained", null, 83, 97, "1:23", "In this video…", $"/knowledge/{workspaceId}/sources/{video}#t=83"),
        ];
        await using (var scope = chat.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var stored = await db.Set<StoredMessage>().Where(m => m.OrganizationId == orgId && m.Role == MessageRole.Assistant).OrderByDescending(m => m.CreatedAt).FirstAsync(Ct);
            stored.Citations = JsonSerializer.Serialize(cited, JsonSerializerOptions.Web);
            await db.SaveChangesAsync(Ct);
        }
        await page.ReloadAsync();
        await InteractiveAsync(page);

        var chips = page.GetByTestId("chat-citation");
        await Expect(chips).ToHaveCountAsync(2);
        await Expect(chips.First).ToBeVisibleAsync();
        await Expect(chips.Nth(1)).ToHaveTextAsync("[2] Refunds explained · 1:23");
        await Expect(chips.Nth(1)).ToHaveAttributeAsync("href", $"/knowledge/{workspaceId}/sources/{video}#t=83");
        var marker = page.GetByTestId("chat-citation-marker").First;
        await Expect(marker).ToHaveTextAsync("[1]");
        await Expect(marker).ToHaveAttributeAsync("href", $"/knowledge/{workspaceId}/sources/{source}#page=3");
        await AssertNoSidewaysScrollAsync(page);
        await BrowserFixture.ScreenshotAsync(page, "chat-citations-phone.png");

        await chips.First.ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"/knowledge/{workspaceId}/sources/{source}#page=3$"));
    }

    [Fact]
    public async Task The_insight_page_lists_questions_gaps_sources_and_moments_on_a_phone_and_offers_the_csv()
    {
        var (page, orgId, workspaceId, userId) = await PhoneChatAsync("insights");
        var now = DateTimeOffset.UtcNow;
        await using (var scope = chat.App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var kb = new KnowledgeBase { Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = workspaceId, Name = "Course", CreatedBy = userId, CreatedAt = now, UpdatedAt = now };
            var lesson = new KnowledgeSource
            {
                Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = workspaceId, KnowledgeBaseId = kb.Id, Title = "Lesson one: a long recording title that has to wrap",
                Format = SourceFormat.Video, BlobKey = "e2e/lesson", Status = SourceStatus.Completed, CreatedBy = userId, CreatedAt = now, UpdatedAt = now,
            };
            db.AddRange(kb, lesson);
            var chunk = new KnowledgeChunk { OrganizationId = orgId, KnowledgeBaseId = kb.Id, SourceId = lesson.Id, Ordinal = 0, Text = "Welcome.", StartSeconds = 83 };
            db.Add(chunk);
            await db.SaveChangesAsync(Ct);
            foreach (var (text, answered) in new[] { ("How long do lessons stay online?", true), ("How long do lessons stay online?", true), ("Is there a certificate?", false) })
            {
                var question = new KnowledgeQuestion
                {
                    Id = Guid.CreateVersion7(), OrganizationId = orgId, WorkspaceId = workspaceId, Text = text, Normalized = text.ToLowerInvariant().TrimEnd('?'),
                    TopScore = answered ? 0.03 : null, Answered = answered, AskedAt = now,
                };
                db.Add(question);
                if (answered)
                    db.Add(new KnowledgeCitation { OrganizationId = orgId, QuestionId = question.Id, SourceId = lesson.Id, ChunkId = chunk.Id, StartSeconds = 83, Rank = 1 });
            }
            await db.SaveChangesAsync(Ct);
        }

        await page.GotoAsync(new Uri(chat.App.BaseAddress, $"/knowledge/{workspaceId}/insights").ToString());
        await InteractiveAsync(page);

        await Expect(page.GetByTestId("insights-question").First).ToContainTextAsync("How long do lessons stay online? · 2 times");
        await Expect(page.GetByTestId("insights-gap")).ToContainTextAsync("Is there a certificate?");
        await Expect(page.GetByTestId("insights-moment")).ToContainTextAsync("1:23 · 2 times");
        await Expect(page.GetByTestId("insights-source")).ToContainTextAsync("Lesson one");
        await Expect(page.GetByTestId("insights-csv")).ToHaveAttributeAsync("href", $"/api/orgs/{orgId}/workspaces/{workspaceId}/knowledge/insights.csv?days=30");
        await AssertNoSidewaysScrollAsync(page);
        await BrowserFixture.ScreenshotAsync(page, "knowledge-insights-phone.png");
    }
}
