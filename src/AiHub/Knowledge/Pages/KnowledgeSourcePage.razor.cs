using System.Text.Json;
using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Errors;
using AiHub.Knowledge.Bases;
using AiHub.Knowledge.Ingestion;
using AiHub.Knowledge.Sources;
using AiHub.Knowledge.Transcripts;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Routing;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.JSInterop;

namespace AiHub.Knowledge.Pages;

/// <summary>
/// One source: a document's text page by page, or a recording's player beside its transcript. A citation's link lands
/// here with <c>#page=N</c> (the page is scrolled into view) or <c>#t=SECONDS</c> (the player starts there).
/// </summary>
public partial class KnowledgeSourcePage : KnowledgePage
{
    [Inject]
    IJSRuntime JS { get; set; } = default!;

    [Parameter]
    public Guid SourceId { get; set; }

    SourceResponse? _source;
    string? _kbName;
    bool _missing;
    List<DocumentPage> _pages = [];
    List<TranscriptSegmentResponse> _segments = [];
    ElementReference _player;
    IJSObjectReference? _module;
    bool _land;
    bool _listening;
    int? _editing;
    string? _editText;

    string? KbUrl => _source is { } s ? $"/knowledge/{WsId}/bases/{s.KnowledgeBaseId}" : null;

    /// <summary>A transcript is corrected once its ingestion has finished, as the service requires.</summary>
    bool CanCorrect => CanManage && _source?.Status is SourceStatus.Completed or SourceStatus.Failed;

    protected override bool Ingesting => _source?.Status is not (null or SourceStatus.Completed or SourceStatus.Failed);

    protected override async Task LoadKnowledgeAsync()
    {
        try
        {
            var (source, kbName) = await ScopedAsync(async (s, db) =>
            {
                var found = await s.GetRequiredService<KnowledgeSources>().FindAsync(OrgId, WsId, SourceId, CancellationToken.None);
                var kb = await s.GetRequiredService<KnowledgeBases>().FindAsync(OrgId, WsId, found.KnowledgeBaseId, CancellationToken.None);
                return (KnowledgeSources.Describe(found), kb.Name);
            });
            (_source, _kbName, _missing, _editing) = (source, kbName, false, null);
        }
        catch (ProblemException)
        {
            (_source, _missing, _pages, _segments) = (null, true, [], []);
            return;
        }
        await LoadContentAsync();
        _land = true;
    }

    /// <summary>The document's extracted text, or the recording's transcript, as far as ingestion has made them.</summary>
    async Task LoadContentAsync()
    {
        if (_source is not { } source)
            return;
        if (KnowledgeView.IsRecording(source.Format))
        {
            _pages = [];
            var result = await ScopedAsync((s, _) => s.GetRequiredService<RecordingTranscripts>().GetAsync(OrgId, WsId, SourceId, null, CancellationToken.None));
            _segments = result is Ok<TranscriptResponse> { Value: { } transcript } ? [.. transcript.Segments] : [];
            return;
        }
        _segments = [];
        var document = await ScopedAsync(async (s, _) =>
        {
            await using var json = await s.GetRequiredService<IBlobStore>().OpenReadAsync(SourceBlobs.Extracted(OrgId, SourceId), CancellationToken.None);
            return json is null ? null : await JsonSerializer.DeserializeAsync<ExtractedDocument>(json, JsonSerializerOptions.Web);
        });
        // Blocks without a page (formats that have none) are one section; a PDF's are one section per page.
        _pages = document is null
            ? []
            : [.. document.Blocks.Where(b => !string.IsNullOrWhiteSpace(b.Text)).GroupBy(b => b.Page ?? 0).OrderBy(g => g.Key).Select(g => new DocumentPage(g.Key, [.. g]))];
    }

    protected override async Task RefreshAsync()
    {
        var before = _source?.Status;
        try
        {
            _source = await ScopedAsync(async (s, _) =>
                KnowledgeSources.Describe(await s.GetRequiredService<KnowledgeSources>().FindAsync(OrgId, WsId, SourceId, CancellationToken.None)));
        }
        catch (ProblemException)
        {
            (_source, _missing) = (null, true);
            return;
        }
        if (_source.Status != before)
            await LoadContentAsync();
    }

    private protected override async Task SourceMovedAsync(SourceResponse source)
    {
        if (source.Id != SourceId || _source is null)
            return;
        var before = _source.Status;
        _source = source;
        if (source.Status != before)
            await LoadContentAsync();
    }

    protected override async Task OnAfterRenderAsync(bool firstRender)
    {
        if (!RendererInfo.IsInteractive)
            return;
        if (!_listening)
        {
            _listening = true;
            Navigation.LocationChanged += LocationChanged;
        }
        if (!_land || _source is null)
            return;
        _land = false;
        try
        {
            _module ??= await JS.InvokeAsync<IJSObjectReference>("import", "/" + Assets["knowledge.js"]);
            if (KnowledgeView.IsRecording(_source.Format))
                await _module.InvokeVoidAsync("startAt", _player);
            else
                await _module.InvokeVoidAsync("landOnPage");
        }
        catch (JSDisconnectedException)
        {
            // The tab went away; there is nowhere to land.
        }
    }

    /// <summary>Another citation of the same source changes only the address's fragment: land again.</summary>
    void LocationChanged(object? sender, LocationChangedEventArgs e) => _ = InvokeAsync(() =>
    {
        _land = true;
        StateHasChanged();
    });

    async Task SeekAsync(double seconds)
    {
        if (_module is null)
            return;
        try
        {
            await _module.InvokeVoidAsync("seek", _player, seconds);
        }
        catch (JSDisconnectedException)
        {
        }
    }

    async Task RetryAsync()
    {
        if (await ManageAsync(() => ScopedAsync((s, _) => s.GetRequiredService<KnowledgeSources>().RetryAsync(OrgId, WsId, SourceId, CancellationToken.None)),
                "The source is queued again."))
            await RefreshAsync();
    }

    void StartEdit(TranscriptSegmentResponse segment)
    {
        (Alert, NoticeText) = (null, null);
        (_editing, _editText) = (segment.Index, segment.Text);
    }

    async Task SaveSegmentAsync(TranscriptSegmentResponse segment)
    {
        TranscriptSegmentResponse? saved = null;
        var text = _editText;
        if (await ManageAsync(async () => saved = await ScopedAsync((s, _) =>
                s.GetRequiredService<RecordingTranscripts>().CorrectAsync(OrgId, WsId, SourceId, segment.Index, text, CancellationToken.None)),
                $"The text at {segment.Label} is corrected; answers cite the new words once it is indexed again."))
        {
            var at = _segments.FindIndex(s => s.Index == segment.Index);
            if (at >= 0 && saved is not null)
                _segments[at] = saved;
            _editing = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _listening)
            Navigation.LocationChanged -= LocationChanged;
        base.Dispose(disposing);
    }

    /// <param name="Number">1-based; 0 for the text of a format without pages.</param>
    sealed record DocumentPage(int Number, IReadOnlyList<DocumentBlock> Blocks)
    {
        /// <summary>What <c>#page=N</c> scrolls to.</summary>
        public string? Anchor => Number > 0 ? $"page-{Number}" : null;

        public string TitleId => $"page-title-{Number}";

        public string Title => Number > 0 ? $"Page {Number}" : "Text";
    }
}
