using System.Text.Json;
using System.Text.RegularExpressions;
using AiHub.Credits;
using AiHub.Credits.Plans;
using AiHub.Data;
using AiHub.Fixtures;
using AiHub.Generation;
using AiHub.Organizations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests.Generation;

/// <summary>AiHub in Chromium with the fake OpenAI serving gpt-image-1, dall-e-3, sora-2 and sora-2-pro, polled quickly.</summary>
public sealed class GalleryFixture : IAsyncLifetime
{
    public FakeLlm Fake { get; private set; } = null!;

    public BrowserFixture App { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeLlm.StartAsync();
        App = new BrowserFixture(new Dictionary<string, string?>
        {
            ["Providers:0:Name"] = "openai",
            ["Providers:0:Kind"] = "OpenAI",
            ["Providers:0:BaseUrl"] = Fake.OpenAiEndpoint.AbsoluteUri,
            ["Providers:0:ApiKey"] = Fake.ApiKey ?? "test-key",
            ["Providers:0:ImageModels:0"] = "gpt-image-1",
            ["Providers:0:ImageModels:1"] = "dall-e-3",
            ["Providers:0:VideoModels:0"] = "sora-2",
            ["Providers:0:VideoModels:1"] = "sora-2-pro",
            // A video is polled every few hundred milliseconds, so that its progress moves on the page while a test watches.
            ["Generation:PollInterval"] = "00:00:00.2",
            ["Generation:MaxPollInterval"] = "00:00:00.4",
        });
        await App.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await App.DisposeAsync();
        await Fake.DisposeAsync();
    }
}

/// <summary>
/// A creator in the gallery: sees the price before asking, watches an image and a video being made, views the image,
/// plays the video, reuses a prompt, remixes and deletes; a refused prompt says why and costs nothing; a guest is told
/// they may not generate.
/// </summary>
public sealed partial class GalleryTests(GalleryFixture gallery) : IClassFixture<GalleryFixture>
{
    /// <summary>Generation runs in the background on a shared two-core machine.</summary>
    static readonly LocatorAssertionsToHaveAttributeOptions Generated = new() { Timeout = 60_000 };

    /// <summary>Enough for every test's generations, in micro-credits.</summary>
    const long Funds = 1_000 * 1_000_000L;

    BrowserFixture App => gallery.App;

    [Fact]
    public async Task An_image_and_a_video_are_priced_before_they_are_asked_for_then_made_live_viewed_played_reused_remixed_and_deleted()
    {
        var ct = TestContext.Current.CancellationToken;
        var (page, orgId, workspace) = await CreatorAsync("maker");

        // From the menu, which knows the workspace on screen.
        await page.GetByTestId("nav-gallery").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"/gallery/{workspace}$"));
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("nav-gallery")).ToHaveClassAsync(new Regex(@"\bactive\b"));
        await Expect(page.GetByTestId("gallery-empty")).ToBeVisibleAsync();

        // The first model is gpt-image-1 at 1024x1024, medium: 4.2 credits an image; the price follows the choices.
        var price = page.GetByTestId("gallery-price");
        await Expect(price).ToContainTextAsync("Price: 4.2 credits");
        await page.GetByTestId("gallery-count").FillAsync("2");
        await Expect(price).ToContainTextAsync("Price: 8.4 credits");
        await ChooseAsync(page, "gallery-quality", "high");
        await Expect(price).ToContainTextAsync("Price: 33.4 credits");
        await ChooseAsync(page, "gallery-quality", "low");
        await Expect(price).ToContainTextAsync("Price: 2.2 credits");

        await page.GetByTestId("gallery-prompt").FillAsync("A lighthouse at dusk, oil painting");
        await page.GetByTestId("gallery-submit").ClickAsync();
        var image = page.Locator("[data-testid=generation][data-kind=image]").First;
        await Expect(image).ToBeVisibleAsync();
        await Expect(image.GetByTestId("generation-prompt")).ToHaveTextAsync("A lighthouse at dusk, oil painting");
        await Expect(image.GetByTestId("generation-settings")).ToHaveTextAsync("openai/gpt-image-1 · 1024x1024 · low · 2 images");
        await Expect(image).ToHaveAttributeAsync("data-status", "completed", Generated);
        await Expect(image.GetByTestId("generation-cost")).ToHaveTextAsync("2.2 credits charged");
        await Expect(image.GetByTestId("generation-image")).ToHaveCountAsync(2);
        await Expect(image.GetByTestId("generation-download")).ToHaveCountAsync(2);

        // The viewer shows the image itself, loaded at its full size.
        await image.GetByTestId("generation-image").First.ClickAsync();
        var viewer = page.GetByTestId("gallery-viewer-image");
        await Expect(viewer).ToBeVisibleAsync();
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('[data-testid=gallery-viewer-image]'); return i && i.complete && i.naturalWidth === 1024; }");
        await page.GetByTestId("gallery-viewer-close").ClickAsync();
        await Expect(viewer).ToHaveCountAsync(0);

        // A video: Sora 2 at 8 seconds is 80 credits, held while it runs and charged when it is done.
        await ChooseAsync(page, "gallery-model", "Sora 2 (video, openai)");
        await Expect(price).ToContainTextAsync("Price: 40 credits");
        await ChooseAsync(page, "gallery-seconds", "8 seconds");
        await Expect(price).ToContainTextAsync("Price: 80 credits");
        await Expect(page.GetByTestId("gallery-quality")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("gallery-count")).ToHaveCountAsync(0);
        await page.GetByTestId("gallery-prompt").FillAsync("A paper boat drifts across a pond [[fake:steps=8;step-delay=600]]");
        await page.GetByTestId("gallery-submit").ClickAsync();
        var video = page.Locator("[data-testid=generation][data-kind=video]").First;
        await Expect(video).ToBeVisibleAsync();
        await Expect(video.GetByTestId("generation-cost")).ToHaveTextAsync("80 credits held");
        var seen = await WatchProgressAsync(video);
        Assert.True(seen.Count(p => p is > 0 and < 100) >= 2, $"the progress did not move on the page: {string.Join(", ", seen)}");
        Assert.Equal(seen.Order(), seen);
        await Expect(video).ToHaveAttributeAsync("data-status", "completed", Generated);
        await Expect(video.GetByTestId("generation-cost")).ToHaveTextAsync("80 credits charged");
        await Expect(video.GetByTestId("generation-progress")).ToHaveCountAsync(0);
        // Its poster is the thumbnail the job made of its first frame.
        await Expect(video.GetByTestId("generation-video")).ToHaveAttributeAsync("poster", new Regex("/outputs/0/thumbnail$"));
        await Expect(video.GetByTestId("generation-cancel")).ToHaveCountAsync(0);

        // The player plays the stored video.
        var played = await page.EvaluateAsync<JsonElement>(
            """
            async () => {
              const v = document.querySelector('[data-testid=generation][data-kind=video] video');
              v.muted = true;
              await v.play();
              return { readyState: v.readyState, duration: v.duration, src: v.currentSrc };
            }
            """);
        Assert.True(played.GetProperty("readyState").GetInt32() >= 1, played.ToString());
        Assert.True(played.GetProperty("duration").GetDouble() > 0, played.ToString());
        Assert.Contains($"/api/orgs/{orgId}/workspaces/{workspace}/generations/", played.GetProperty("src").GetString());
        await BrowserFixture.ScreenshotAsync(page, "gallery-made.png");

        // Reusing the image's prompt puts its model, settings and price back in the form.
        await image.GetByTestId("generation-reuse").ClickAsync();
        await Expect(page.GetByTestId("gallery-prompt")).ToHaveValueAsync("A lighthouse at dusk, oil painting");
        await Expect(price).ToContainTextAsync("Price: 2.2 credits");
        await Expect(page.GetByTestId("gallery-count")).ToHaveValueAsync("2");

        // A remix starts a new video from the finished one.
        await video.GetByTestId("generation-remix").ClickAsync();
        await page.GetByTestId("gallery-remix-prompt").FillAsync("Make it night, with lanterns");
        await page.GetByTestId("gallery-remix-confirm").ClickAsync();
        var remix = page.Locator("[data-testid=generation][data-kind=video]").Filter(new() { HasText = "Make it night, with lanterns" });
        await Expect(remix.GetByTestId("generation-settings")).ToContainTextAsync("remix");
        await Expect(remix).ToHaveAttributeAsync("data-status", "completed", Generated);

        // The kind filter shows images or videos alone.
        await page.GetByTestId("gallery-filter-image").ClickAsync();
        await Expect(page.GetByTestId("generation")).ToHaveCountAsync(1);
        await page.GetByTestId("gallery-filter-video").ClickAsync();
        await Expect(page.GetByTestId("generation")).ToHaveCountAsync(2);
        await page.GetByTestId("gallery-filter-all").ClickAsync();
        await Expect(page.GetByTestId("generation")).ToHaveCountAsync(3);

        // Deleting the first video takes it off the page and gives its storage back.
        var used = await StorageUsedAsync(orgId, ct);
        var videoBytes = await JobStorageAsync(orgId, await video.GetAttributeAsync("data-id"), ct);
        Assert.True(videoBytes > 0);
        var videoId = await video.GetAttributeAsync("data-id");
        await page.Locator($"[data-testid=generation][data-id='{videoId}']").GetByTestId("generation-delete").ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete", Exact = true }).ClickAsync();
        await Expect(page.Locator($"[data-testid=generation][data-id='{videoId}']")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("generation")).ToHaveCountAsync(2);
        Assert.Equal(used - videoBytes, await StorageUsedAsync(orgId, ct));

        // What the page said is what the database holds.
        await page.ReloadAsync();
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("generation")).ToHaveCountAsync(2);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_prompt_the_provider_refuses_ends_failed_with_its_reason_and_costs_nothing()
    {
        var ct = TestContext.Current.CancellationToken;
        var (page, orgId, workspace) = await CreatorAsync("refused");
        await page.GotoAsync(Url($"/gallery/{workspace}"));
        await InteractiveAsync(page);
        var balance = await BalanceAsync(orgId, ct);

        await Expect(page.GetByTestId("gallery-price")).ToContainTextAsync("Price: 4.2 credits");
        await page.GetByTestId("gallery-prompt").FillAsync("Something the safety system refuses [[fake:moderation=violence]]");
        await page.GetByTestId("gallery-submit").ClickAsync();
        var job = page.Locator("[data-testid=generation]").First;
        await Expect(job).ToHaveAttributeAsync("data-status", "failed", Generated);
        await Expect(job.GetByTestId("generation-status")).ToHaveTextAsync("Failed");
        await Expect(job.GetByTestId("generation-error")).ToHaveAttributeAsync("data-code", GenerationErrors.Refused);
        await Expect(job.GetByTestId("generation-error")).ToContainTextAsync("rejected by the safety system");
        await Expect(job.GetByTestId("generation-error")).ToContainTextAsync("violence");
        await Expect(job.GetByTestId("generation-cost")).ToHaveTextAsync("not charged");
        await Expect(job.GetByTestId("generation-image")).ToHaveCountAsync(0);
        await Expect(job.GetByTestId("generation-download")).ToHaveCountAsync(0);
        await WaitForNoHoldAsync(orgId, ct);
        Assert.Equal(balance, await BalanceAsync(orgId, ct));
        await BrowserFixture.ScreenshotAsync(page, "gallery-refused.png");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_reference_image_is_sent_with_the_prompt_and_a_file_that_is_not_an_image_is_refused_with_nothing_held()
    {
        var ct = TestContext.Current.CancellationToken;
        var (page, orgId, workspace) = await CreatorAsync("reference");
        var files = Directory.CreateTempSubdirectory("aihub-gallery-e2e-").FullName;
        var png = Path.Combine(files, "pebble.png");
        // A 1x1 PNG.
        await File.WriteAllBytesAsync(png, Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="), ct);
        var text = Path.Combine(files, "notes.png");
        await File.WriteAllTextAsync(text, "these are notes, not a picture", ct);
        await page.GotoAsync(Url($"/gallery/{workspace}"));
        await InteractiveAsync(page);
        var balance = await BalanceAsync(orgId, ct);

        await page.GetByTestId("gallery-reference").SetInputFilesAsync(text);
        await Expect(page.GetByTestId("gallery-reference-name")).ToHaveTextAsync("notes.png");
        await page.GetByTestId("gallery-prompt").FillAsync("The same pebble, painted gold");
        await page.GetByTestId("gallery-submit").ClickAsync();
        await Expect(page.GetByTestId("form-problem")).ToContainTextAsync("The reference image is not an image.");
        await Expect(page.GetByTestId("generation")).ToHaveCountAsync(0);
        await WaitForNoHoldAsync(orgId, ct);
        Assert.Equal(balance, await BalanceAsync(orgId, ct));

        await page.GetByTestId("gallery-reference-clear").ClickAsync();
        await Expect(page.GetByTestId("gallery-reference-name")).ToHaveCountAsync(0);
        await page.GetByTestId("gallery-reference").SetInputFilesAsync(png);
        await Expect(page.GetByTestId("gallery-reference-name")).ToHaveTextAsync("pebble.png");
        await page.GetByTestId("gallery-submit").ClickAsync();
        var job = page.Locator("[data-testid=generation]").First;
        await Expect(job.GetByTestId("generation-settings")).ToContainTextAsync("from a reference image");
        await Expect(job).ToHaveAttributeAsync("data-status", "completed", Generated);
        await Expect(job.GetByTestId("generation-image")).ToHaveCountAsync(1);
        await page.Context.CloseAsync();
        Directory.Delete(files, recursive: true);
    }

    [Fact]
    public async Task A_running_video_is_cancelled_from_its_card_and_its_hold_is_given_back()
    {
        var ct = TestContext.Current.CancellationToken;
        var (page, orgId, workspace) = await CreatorAsync("canceller");
        await page.GotoAsync(Url($"/gallery/{workspace}"));
        await InteractiveAsync(page);
        var balance = await BalanceAsync(orgId, ct);

        await ChooseAsync(page, "gallery-model", "Sora 2 (video, openai)");
        await Expect(page.GetByTestId("gallery-price")).ToContainTextAsync("Price: 40 credits");
        await page.GetByTestId("gallery-prompt").FillAsync("A very slow sunrise [[fake:steps=100;step-delay=1000]]");
        await page.GetByTestId("gallery-submit").ClickAsync();
        var job = page.Locator("[data-testid=generation]").First;
        await Expect(job.GetByTestId("generation-cost")).ToHaveTextAsync("40 credits held");
        await job.GetByTestId("generation-cancel").ClickAsync();
        await Expect(job).ToHaveAttributeAsync("data-status", "cancelled");
        await Expect(job.GetByTestId("generation-status")).ToHaveTextAsync("Cancelled");
        await Expect(job.GetByTestId("generation-cost")).ToHaveTextAsync("not charged");
        await Expect(job.GetByTestId("generation-cancel")).ToHaveCountAsync(0);
        await Expect(job.GetByTestId("generation-progress")).ToHaveCountAsync(0);
        await WaitForNoHoldAsync(orgId, ct);
        Assert.Equal(balance, await BalanceAsync(orgId, ct));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task At_phone_width_the_form_sits_above_the_generations_and_nothing_scrolls_sideways()
    {
        var (page, _, workspace) = await CreatorAsync("phone");
        await page.SetViewportSizeAsync(390, 844);
        await page.GotoAsync(Url($"/gallery/{workspace}"));
        await InteractiveAsync(page);
        await page.GetByTestId("gallery-prompt").FillAsync("A very long prompt about a fox that wanders through a snowy forest at night, " +
            "past frozen streams and sleeping owls, until it finds a cabin with a warm light in its window and a door left ajar");
        await page.GetByTestId("gallery-submit").ClickAsync();
        var job = page.Locator("[data-testid=generation]").First;
        await Expect(job).ToHaveAttributeAsync("data-status", "completed", Generated);

        var form = await page.GetByTestId("gallery-form-box").BoundingBoxAsync();
        var card = await job.BoundingBoxAsync();
        Assert.NotNull(form);
        Assert.NotNull(card);
        Assert.True(form.Y + form.Height <= card.Y, $"the form ends at {form.Y + form.Height}px, below the first card's top at {card.Y}px");
        Assert.True(card.Width <= 390, $"a card is {card.Width}px wide");
        var sizes = await page.EvaluateAsync<int[]>("() => [document.scrollingElement.scrollWidth, window.innerWidth]");
        Assert.True(sizes[0] <= sizes[1], $"At 390px the page is {sizes[0]}px wide in a {sizes[1]}px window.");
        await BrowserFixture.ScreenshotAsync(page, "gallery-390.png");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_page_holds_twelve_generations_and_load_more_brings_the_older_ones()
    {
        var ct = TestContext.Current.CancellationToken;
        var (page, orgId, workspace) = await CreatorAsync("pager");
        await using (var scope = App.Services.CreateAsyncScope())
        {
            var services = scope.ServiceProvider;
            var db = services.GetRequiredService<AppDbContext>();
            db.TenantId = orgId;
            var userId = await db.Memberships.Where(m => m.OrganizationId == orgId).Select(m => m.UserId).SingleAsync(ct);
            for (var i = 1; i <= 14; i++)
                await services.GetRequiredService<AiHub.Generation.Jobs.Generations>().SubmitAsync(new AiHub.Credits.Pools.Spender(orgId, userId, null, workspace), workspace,
                    new GenerationRequest("image", "openai/gpt-image-1", $"Sample {i:00}", null, null, "low", 1, null, null), null, ct);
        }
        await page.GotoAsync(Url($"/gallery/{workspace}"));
        await InteractiveAsync(page);
        var cards = page.GetByTestId("generation");
        await Expect(cards).ToHaveCountAsync(12);
        await Expect(cards.First.GetByTestId("generation-prompt")).ToHaveTextAsync("Sample 14");
        await page.GetByTestId("gallery-more").ClickAsync();
        await Expect(cards).ToHaveCountAsync(14);
        await Expect(cards.Last.GetByTestId("generation-prompt")).ToHaveTextAsync("Sample 01");
        await Expect(page.GetByTestId("gallery-more")).ToHaveCountAsync(0);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task A_guest_has_no_gallery_link_and_the_gallery_says_they_may_not_generate()
    {
        var ct = TestContext.Current.CancellationToken;
        var owner = Unique("gallery-owner");
        var guest = Unique("gallery-guest");
        await App.CreateAccountAsync(owner, Password, "Olga Owner");
        await App.CreateAccountAsync(guest, Password, "Gus Guest");
        Guid workspace;
        await using (var scope = App.Services.CreateAsyncScope())
        {
            var services = scope.ServiceProvider;
            var db = services.GetRequiredService<AppDbContext>();
            var ownerId = await db.Users.Where(u => u.Email == owner).Select(u => u.Id).SingleAsync(ct);
            var guestId = await db.Users.Where(u => u.Email == guest).Select(u => u.Id).SingleAsync(ct);
            var org = await services.GetRequiredService<Orgs>().CreateAsync(ownerId, "Studio", ct);
            db.Add(new Membership { OrganizationId = org.Id, UserId = guestId, Role = OrgRole.Guest, JoinedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(ct);
            var grant = (await services.GetRequiredService<OrgAccess>().GetAsync(org.Id, ownerId, ct))!;
            workspace = (await services.GetRequiredService<Workspaces>().FirstAsync(grant, ownerId, ct))!.Value;
        }

        var page = await SignedInAsync(App, guest);
        // In their own org the link is there; in the studio, where they are a guest, it is not.
        await Expect(page.GetByTestId("nav-gallery")).ToBeVisibleAsync();
        await page.GotoAsync(Url($"/gallery/{workspace}"));
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("gallery-forbidden")).ToContainTextAsync("Your role in Studio (Guest) may not generate images or videos");
        await Expect(page.GetByTestId("gallery-form")).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("nav-org")).ToContainTextAsync("Studio");
        await Expect(page.GetByTestId("nav-knowledge")).ToBeVisibleAsync();
        await Expect(page.GetByTestId("nav-gallery")).ToHaveCountAsync(0);
        await page.Context.CloseAsync();
    }

    /// <summary>A new user signed in on their chat, with credits enough in their personal org.</summary>
    async Task<(IPage Page, Guid OrgId, Guid Workspace)> CreatorAsync(string name)
    {
        var email = Unique(name);
        await App.CreateAccountAsync(email, Password, "Cora Creator");
        await using (var scope = App.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
            var ct = TestContext.Current.CancellationToken;
            var user = await db.Users.AsNoTracking().SingleAsync(u => u.Email == email, ct);
            var account = await db.Set<CreditAccount>().SingleAsync(a => a.Owner == CreditOwner.User && a.UserId == user.Id, ct);
            await scope.ServiceProvider.GetRequiredService<Ledger>().PostAsync(account.Id, CreditKind.Adjustment, Funds, "for the gallery", null, $"gallery:{account.Id}", ct);
        }
        var page = await SignedInAsync(App, email);
        var ids = WorkspaceOf().Match(page.Url);
        await InteractiveAsync(page);
        return (page, Guid.Parse(ids.Groups[1].Value), Guid.Parse(ids.Groups[2].Value));
    }

    /// <summary>Picks an item of a MudSelect by its text.</summary>
    static async Task ChooseAsync(IPage page, string testId, string item)
    {
        await page.GetByTestId(testId).ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item").Filter(new() { HasTextRegex = new Regex($"^\\s*{Regex.Escape(item)}\\s*$") }).First.ClickAsync();
        await Expect(page.Locator(".mud-popover-open .mud-list-item")).ToHaveCountAsync(0);
    }

    /// <summary>The percentages the card shows until it is done, each new one once.</summary>
    static async Task<List<int>> WatchProgressAsync(ILocator card)
    {
        var seen = new List<int>();
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (DateTimeOffset.UtcNow < deadline)
        {
            var status = await card.GetAttributeAsync("data-status");
            if (status is "completed" or "failed" or "cancelled")
                break;
            if (int.TryParse(await card.GetAttributeAsync("data-progress"), out var progress) && (seen.Count == 0 || seen[^1] != progress))
                seen.Add(progress);
            // Sampling, not waiting for a state: the point is to see the states in between.
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        return seen;
    }

    async Task<long> StorageUsedAsync(Guid orgId, CancellationToken ct)
    {
        await using var scope = App.Services.CreateAsyncScope();
        return (await scope.ServiceProvider.GetRequiredService<IQuotaService>().GetAsync(orgId, QuotaKind.StorageBytes, ct)).Used;
    }

    async Task<long> JobStorageAsync(Guid orgId, string? jobId, CancellationToken ct)
    {
        await using var scope = App.Services.CreateAsyncScope();
        var id = Guid.Parse(jobId!);
        return await scope.ServiceProvider.GetRequiredService<AppDbContext>().Set<GenerationJob>().IgnoreQueryFilters()
            .Where(j => j.OrganizationId == orgId && j.Id == id).Select(j => j.StorageBytes).SingleAsync(ct);
    }

    async Task<long> BalanceAsync(Guid orgId, CancellationToken ct)
    {
        await using var scope = App.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        var userId = await db.Memberships.Where(m => m.OrganizationId == orgId && m.Role == OrgRole.Owner).Select(m => m.UserId).SingleAsync(ct);
        return await db.Set<CreditAccount>().Where(a => a.Owner == CreditOwner.User && a.UserId == userId).Select(a => a.Balance).SingleAsync(ct);
    }

    async Task WaitForNoHoldAsync(Guid orgId, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (true)
        {
            await using (var scope = App.Services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
                if (!await db.Set<LedgerHold>().IgnoreQueryFilters().AnyAsync(h => h.OrganizationId == orgId && h.State == HoldState.Pending, ct))
                    return;
            }
            Assert.True(DateTimeOffset.UtcNow < deadline, "a hold stayed pending for 30 s after the generation failed");
            await Task.Delay(200, ct);
        }
    }

    string Url(string path) => new Uri(App.BaseAddress, path).ToString();

    [GeneratedRegex("/orgs/([0-9a-f-]{36})/workspaces/([0-9a-f-]{36})/chat$")]
    private static partial Regex WorkspaceOf();
}
