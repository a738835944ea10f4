using System.Globalization;
using System.Text.RegularExpressions;
using AiHub.IntegrationTests.Support;
using Microsoft.Playwright;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.Core;
using UglyToad.PdfPig.Fonts.Standard14Fonts;
using UglyToad.PdfPig.Writer;
using static AiHub.EndToEndTests.AccountTests;
using static Microsoft.Playwright.Assertions;

namespace AiHub.EndToEndTests.Knowledge;

/// <summary>
/// A member builds a knowledge base in Chromium: uploads a PDF and a video (with a file that is refused and a PDF that
/// cannot be read among them), watches their ingestion reach its end without reloading, asks in chat and follows the
/// answer's citation chips to the cited page and second, corrects a segment of the transcript and downloads it as SRT.
/// </summary>
[Collection(SharedBrowser.Name)]
public sealed partial class KnowledgeBrowserTests(BrowserFixture fixture)
{
    /// <summary>pocketsphinx transcribes a few seconds of speech in seconds, but this machine's cores are shared.</summary>
    static readonly LocatorAssertionsToHaveAttributeOptions Ingested = new() { Timeout = 240_000 };

    [Theory]
    [InlineData(1280)]
    [InlineData(390)]
    public async Task A_pdf_and_a_video_are_ingested_live_and_a_citation_opens_them_at_its_page_and_second_with_a_transcript_to_correct_and_download(int width)
    {
        var ct = TestContext.Current.CancellationToken;
        var files = Directory.CreateTempSubdirectory("aihub-kb-e2e-").FullName;
        var pdf = Path.Combine(files, "handbook.pdf");
        await File.WriteAllBytesAsync(pdf, ThreePagePdf(), ct);
        var video = await SpeechFixtures.SynthesiseAsync([(0.5, "the quick brown fox jumps over the lazy dog"), (7.0, "please open the door and close the window")],
            Path.Combine(files, "speech"), asVideo: true);
        File.Move(video, Path.Combine(files, "lecture.mp4"));
        video = Path.Combine(files, "lecture.mp4");
        var junk = Path.Combine(files, "notes.bin");
        await File.WriteAllBytesAsync(junk, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 7919 % 251))], ct);
        var broken = Path.Combine(files, "broken.pdf");
        await File.WriteAllTextAsync(broken, "%PDF-1.7\nthis is not really a PDF at all\n", ct);

        var email = Unique("kb");
        await fixture.CreateAccountAsync(email, Password, "Kim Knowledge");
        var page = await SignedInAsync(fixture, email);
        await page.SetViewportSizeAsync(width, width > 600 ? 800 : 844);
        var ids = WorkspaceOf().Match(page.Url);
        var workspace = ids.Groups[2].Value;

        if (width > 600)
            await page.GetByTestId("nav-knowledge").ClickAsync();
        else
            await page.GotoAsync(Url($"/knowledge/{workspace}"));
        await Expect(page).ToHaveURLAsync(new Regex($"/knowledge/{workspace}$"));
        await InteractiveAsync(page);
        if (width > 600)
        {
            // The menu knows the workspace: its Knowledge link is lit, and its Chat link goes back to this workspace's chat.
            await Expect(page.GetByTestId("nav-knowledge")).ToHaveClassAsync(new Regex(@"\bactive\b"));
            await Expect(page.GetByTestId("nav-chat")).ToHaveAttributeAsync("href", new Regex($"workspaces/{workspace}/chat$"));
        }
        await Expect(page.GetByTestId("kbs-empty")).ToBeVisibleAsync();
        await page.GetByTestId("kb-new-name").FillAsync("Lectures");
        await page.GetByTestId("kb-new-description").FillAsync("What was said in class.");
        await page.GetByTestId("kb-new-save").ClickAsync();
        var kb = page.Locator("[data-testid=kb][data-name=Lectures]");
        await Expect(kb.GetByTestId("kb-model")).ToHaveTextAsync("words only");
        await Expect(kb.GetByTestId("kb-main")).ToBeVisibleAsync();
        await kb.GetByTestId("kb-focus").ClickAsync();
        await Expect(kb.GetByTestId("kb-focused")).ToBeVisibleAsync();

        // A second one, renamed and then deleted once the dialog is confirmed; the first stays main and focused.
        await page.GetByTestId("kb-new-name").FillAsync("Scratch");
        await page.GetByTestId("kb-new-save").ClickAsync();
        var scratch = page.Locator("[data-testid=kb][data-name=Scratch]");
        await Expect(scratch).ToHaveAttributeAsync("data-main", "false");
        await scratch.GetByTestId("kb-rename").ClickAsync();
        await page.GetByTestId("kb-rename-name").FillAsync("Old notes");
        await page.GetByTestId("kb-rename-save").ClickAsync();
        var renamed = page.Locator("[data-testid=kb][data-name='Old notes']");
        await Expect(renamed).ToBeVisibleAsync();
        await renamed.GetByTestId("kb-delete").ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete", Exact = true }).ClickAsync();
        await Expect(renamed).ToHaveCountAsync(0);
        await Expect(page.GetByTestId("kb")).ToHaveCountAsync(1);
        await Expect(kb).ToHaveAttributeAsync("data-focused", "true");
        await kb.GetByTestId("kb-open").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"/knowledge/{workspace}/bases/[0-9a-f-]{{36}}$"));

        await page.GetByTestId("kb-upload-input").SetInputFilesAsync([pdf, video, junk, broken]);
        var refused = page.Locator("[data-testid=kb-upload][data-name='notes.bin']");
        await Expect(refused).ToHaveAttributeAsync("data-state", "Refused", Ingested);
        await Expect(refused.GetByTestId("kb-upload-problem")).ToContainTextAsync("cannot be added");
        await Expect(page.Locator("[data-testid=kb-upload][data-name='lecture.mp4']")).ToHaveAttributeAsync("data-state", "Added", Ingested);

        // No reload from here on: the statuses move on the page by themselves.
        var lecture = Source(page, "lecture");
        var handbook = Source(page, "handbook");
        var unreadable = Source(page, "broken");
        await Expect(lecture.GetByTestId("source-kind")).ToHaveAttributeAsync("data-kind", "video");
        await Expect(handbook.GetByTestId("source-kind")).ToHaveAttributeAsync("data-kind", "document");
        await Expect(handbook).ToHaveAttributeAsync("data-status", "completed", Ingested);
        await Expect(lecture).ToHaveAttributeAsync("data-status", "completed", Ingested);
        await Expect(lecture.GetByTestId("source-progress-bar")).ToHaveCountAsync(0);
        await Expect(unreadable).ToHaveAttributeAsync("data-status", "failed", Ingested);
        await Expect(unreadable.GetByTestId("source-error")).Not.ToBeEmptyAsync();
        await Expect(handbook.GetByTestId("source-retry")).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(page, $"knowledge-sources-{width}.png");
        await AssertNoSidewaysScrollAsync(page, width);

        // Retry queues the failed source again; it cannot be read this time either, and says so again.
        await unreadable.GetByTestId("source-retry").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("queued again");
        await Expect(unreadable).ToHaveAttributeAsync("data-status", "failed", Ingested);
        await Expect(unreadable.GetByTestId("source-error")).Not.ToBeEmptyAsync();

        var lecturePath = await lecture.GetByTestId("source-open").GetAttributeAsync("href") ?? "";
        var handbookPath = await handbook.GetByTestId("source-open").GetAttributeAsync("href") ?? "";

        // Asked in the workspace's chat (no language model here: the retrieval-only answer), a citation chip opens the cited page.
        var chat = Url($"/orgs/{ids.Groups[1].Value}/workspaces/{workspace}/chat");
        var cited = await AskAsync(page, chat, "When did the harbour freeze in the great storm?", $"{handbookPath}#page=2");
        await cited.ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"{Regex.Escape(handbookPath)}#page=2$"));
        await LandedOnPageAsync(page, 2);
        // And a chip of the recording opens the player at the cited second.
        var moment = await AskAsync(page, chat, "Please open the door and close the window.", $"{lecturePath}#t=");
        var second = int.Parse(Second().Match(await moment.GetAttributeAsync("href") ?? "").Groups[1].Value, CultureInfo.InvariantCulture);
        await moment.ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"{Regex.Escape(lecturePath)}#t={second}$"));
        await PlayingFromAsync(page, second);

        // As a citation of the moment at 0:07 links it, opened from another page.
        await page.GotoAsync(Url(lecturePath) + "#t=7");
        await InteractiveAsync(page);
        await PlayingFromAsync(page, 7);
        var segments = page.GetByTestId("transcript-segment");
        await Expect(segments.First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("transcript-seek").First).ToHaveTextAsync(new Regex(@"^\d+:\d\d$"));
        await AssertNoSidewaysScrollAsync(page, width);

        // A segment corrected by hand keeps its new words after a reload.
        var first = segments.First;
        await first.GetByTestId("transcript-edit").ClickAsync();
        await page.GetByTestId("transcript-edit-text").FillAsync("The quick brown fox jumps over the lazy dog.");
        await page.GetByTestId("transcript-edit-save").ClickAsync();
        await Expect(first.GetByTestId("transcript-text")).ToHaveTextAsync("The quick brown fox jumps over the lazy dog.");
        await Expect(first.GetByTestId("transcript-edited")).ToBeVisibleAsync();
        await page.ReloadAsync();
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("transcript-segment").First.GetByTestId("transcript-text")).ToHaveTextAsync("The quick brown fox jumps over the lazy dog.");
        await BrowserFixture.ScreenshotAsync(page, $"knowledge-recording-{width}.png");

        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("transcript-srt").ClickAsync());
        Assert.EndsWith(".srt", download.SuggestedFilename, StringComparison.Ordinal);
        var srt = await File.ReadAllTextAsync(await download.PathAsync(), ct);
        var cues = ParseSrt(srt);
        Assert.NotEmpty(cues);
        Assert.Equal("The quick brown fox jumps over the lazy dog.", cues[0].Text);
        for (var i = 0; i < cues.Count; i++)
        {
            Assert.Equal(i + 1, cues[i].Number);
            Assert.True(cues[i].End > cues[i].Start, $"cue {i + 1} ends before it starts: {srt}");
            Assert.True(i == 0 || cues[i].Start >= cues[i - 1].Start, $"cue {i + 1} starts before the one before it: {srt}");
        }

        // As a citation of page 2 links it, opened from another page.
        await page.GotoAsync(Url(handbookPath) + "#page=2");
        await InteractiveAsync(page);
        await LandedOnPageAsync(page, 2);
        await Expect(page.GetByTestId("source-page")).ToHaveCountAsync(3);
        await AssertNoSidewaysScrollAsync(page, width);
        await BrowserFixture.ScreenshotAsync(page, $"knowledge-document-{width}.png");

        await page.Context.CloseAsync();
        Directory.Delete(files, recursive: true);
    }

    [Fact]
    public async Task Someone_outside_the_org_finds_no_knowledge_at_its_workspaces_address()
    {
        var owner = Unique("kb-owner");
        await fixture.CreateAccountAsync(owner, Password, "Olga Owner");
        var ownerPage = await SignedInAsync(fixture, owner);
        var ids = WorkspaceOf().Match(ownerPage.Url);
        await ownerPage.Context.CloseAsync();
        var workspace = Guid.Parse(ids.Groups[2].Value);
        var kb = await KnowledgeSamples.CreateBaseAsync(fixture, owner, Guid.Parse(ids.Groups[1].Value), workspace, "Secret plans", TestContext.Current.CancellationToken);

        var stranger = Unique("kb-stranger");
        await fixture.CreateAccountAsync(stranger, Password, "Sam Stranger");
        var page = await SignedInAsync(fixture, stranger);
        // Another org's workspace reads exactly like one that does not exist.
        foreach (var path in new[] { $"/knowledge/{workspace}", $"/knowledge/{workspace}/bases/{kb}", $"/knowledge/{Guid.NewGuid()}" })
        {
            var response = await page.GotoAsync(Url(path));
            Assert.Equal(404, response?.Status);
            await InteractiveAsync(page);
            await Expect(page.GetByTestId("org-not-found")).ToBeVisibleAsync();
            await Expect(page.GetByText("Secret plans")).ToHaveCountAsync(0);
        }
        await page.Context.CloseAsync();
    }

    /// <summary>Asks in a new conversation and returns the answer's citation chip whose link starts so.</summary>
    static async Task<ILocator> AskAsync(IPage page, string chat, string question, string linkStart)
    {
        await page.GotoAsync(chat);
        await InteractiveAsync(page);
        await Expect(page.GetByTestId("chat-knowledge")).ToBeVisibleAsync();
        var asked = page.Locator("[data-testid=chat-message][data-role=user]");
        for (var attempt = 1; ; attempt++)
        {
            await page.GetByTestId("chat-input").FillAsync(question);
            await page.GetByTestId("chat-input").PressAsync("Enter");
            try
            {
                // The question shows at once when it is sent; one typed while the page was still settling is typed again.
                await asked.First.WaitForAsync(new() { Timeout = 5_000 });
                break;
            }
            catch (TimeoutException) when (attempt < 3)
            {
            }
        }
        var answer = page.Locator("[data-testid=chat-message][data-role=assistant]").Last;
        await Expect(answer).ToHaveAttributeAsync("data-status", "complete", new() { Timeout = 30_000 });
        var chip = answer.Locator($"[data-testid=chat-citation][href^='{linkStart}']").First;
        await Expect(chip).ToBeVisibleAsync();
        return chip;
    }

    /// <summary>The page's section is scrolled to the top of the window, below the app bar, and the window did scroll to get there.</summary>
    static async Task LandedOnPageAsync(IPage page, int number)
    {
        var section = page.Locator($"#page-{number}");
        await Expect(section).ToContainTextAsync($"Chapter {number}");
        await page.WaitForFunctionAsync(
            "n => { const p = document.getElementById('page-' + n); if (!p) return false; const top = p.getBoundingClientRect().top; return window.scrollY > 0 && top >= 0 && top < 200; }",
            number);
        await Expect(section).ToBeInViewportAsync();
    }

    /// <summary>The player's metadata has loaded and it stands within a second of the cited moment.</summary>
    static async Task PlayingFromAsync(IPage page, int second) =>
        await page.WaitForFunctionAsync(
            "s => { const v = document.querySelector('[data-testid=source-player]'); return v && v.readyState >= 1 && Math.abs(v.currentTime - s) < 1; }",
            second);

    static ILocator Source(IPage page, string title) => page.Locator($"[data-testid=source][data-title='{title}']");

    string Url(string path) => new Uri(fixture.BaseAddress, path).ToString();

    static async Task AssertNoSidewaysScrollAsync(IPage page, int width)
    {
        var sizes = await page.EvaluateAsync<int[]>("() => [document.scrollingElement.scrollWidth, window.innerWidth]");
        Assert.True(sizes[0] <= sizes[1], $"At {width}px the page is {sizes[0]}px wide in a {sizes[1]}px window.");
    }

    /// <summary>Three A4 pages, each long enough that the next starts below the fold, each with a fact of its own.</summary>
    internal static byte[] ThreePagePdf()
    {
        var builder = new PdfDocumentBuilder();
        var font = builder.AddStandard14Font(Standard14Font.Helvetica);
        string[] facts =
        [
            "The lighthouse keeper lit the lamp every evening at dusk.",
            "The harbour froze in the winter of the great storm.",
            "Fishing boats returned to the harbour at dawn with silver herring.",
        ];
        for (var i = 0; i < facts.Length; i++)
        {
            var pdfPage = builder.AddPage(PageSize.A4);
            pdfPage.AddText($"Chapter {i + 1}", 14, new PdfPoint(50, 790), font);
            pdfPage.AddText(facts[i], 11, new PdfPoint(50, 765), font);
            for (var line = 0; line < 40; line++)
                pdfPage.AddText($"Chapter {i + 1}, note {line + 1}: the town kept its records of weather, tides and ships with care.", 10,
                    new PdfPoint(50, 740 - line * 17), font);
        }
        return builder.Build();
    }

    sealed record Cue(int Number, TimeSpan Start, TimeSpan End, string Text);

    static List<Cue> ParseSrt(string srt)
    {
        var cues = new List<Cue>();
        foreach (var block in srt.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var lines = block.Split('\n');
            var times = SrtTimes().Match(lines.Length > 1 ? lines[1] : "");
            Assert.True(lines.Length >= 3 && int.TryParse(lines[0], CultureInfo.InvariantCulture, out _) && times.Success, $"Not an SRT cue: '{block}'");
            cues.Add(new Cue(int.Parse(lines[0], CultureInfo.InvariantCulture), Time(times.Groups[1].Value), Time(times.Groups[2].Value), string.Join(' ', lines[2..])));
        }
        return cues;
    }

    static TimeSpan Time(string value) => TimeSpan.ParseExact(value, @"hh\:mm\:ss\,fff", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(\d\d:\d\d:\d\d,\d{3}) --> (\d\d:\d\d:\d\d,\d{3})$")]
    private static partial Regex SrtTimes();

    [GeneratedRegex("/orgs/([0-9a-f-]{36})/workspaces/([0-9a-f-]{36})/chat$")]
    private static partial Regex WorkspaceOf();

    [GeneratedRegex(@"#t=(\d+)$")]
    private static partial Regex Second();
}
