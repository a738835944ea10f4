using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Streams;
using AiHub.Knowledge.Bases;
using AiHub.Knowledge.Sources;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using MudBlazor;

namespace AiHub.Knowledge.Pages;

/// <summary>A knowledge base's sources with their ingestion as it happens; uploads, imports, retries and deletions.</summary>
public partial class KnowledgeBasePage : KnowledgePage
{
    /// <summary>The most files one pick may hold; more are refused with a word rather than silently dropped.</summary>
    const int MaxFilesAtOnce = 50;

    [Inject]
    IDialogService Dialogs { get; set; } = default!;

    [Inject]
    IOptions<KnowledgeSettings> Settings { get; set; } = default!;

    [Parameter]
    public Guid KbId { get; set; }

    KnowledgeBaseResponse? _kb;
    bool _missing;
    List<SourceResponse> _sources = [];
    readonly List<UploadRow> _uploads = [];
    bool _uploading;
    string? _importUrl;

    string SourceUrl(Guid id) => $"/knowledge/{WsId}/sources/{id}";

    protected override async Task LoadKnowledgeAsync()
    {
        try
        {
            _kb = await ScopedAsync((s, _) => s.GetRequiredService<KnowledgeBases>().GetAsync(OrgId, WsId, KbId, UserId, CancellationToken.None));
            _missing = false;
        }
        catch (ProblemException)
        {
            (_kb, _missing, _sources) = (null, true, []);
            return;
        }
        await ListSourcesAsync();
    }

    async Task ListSourcesAsync() =>
        _sources = await ScopedAsync(async db => (await db.Set<KnowledgeSource>().AsNoTracking()
                .Where(s => s.OrganizationId == OrgId && s.WorkspaceId == WsId && s.KnowledgeBaseId == KbId && s.Status != SourceStatus.Uploading)
                .OrderByDescending(s => s.CreatedAt).ToListAsync())
            .Select(KnowledgeSources.Describe).ToList());

    protected override async Task RefreshAsync()
    {
        await ListSourcesAsync();
        // The counts in the heading move with the sources.
        try
        {
            _kb = await ScopedAsync((s, _) => s.GetRequiredService<KnowledgeBases>().GetAsync(OrgId, WsId, KbId, UserId, CancellationToken.None));
        }
        catch (ProblemException)
        {
            (_kb, _missing) = (null, true);
        }
    }

    protected override bool Ingesting => _sources.Any(s => s.Status is not (SourceStatus.Completed or SourceStatus.Failed));

    private protected override Task SourceMovedAsync(SourceResponse source)
    {
        if (source.KnowledgeBaseId != KbId)
            return Task.CompletedTask;
        var at = _sources.FindIndex(s => s.Id == source.Id);
        if (at >= 0)
            _sources[at] = source;
        else if (source.Status != SourceStatus.Uploading)
            _sources.Insert(0, source);
        return Task.CompletedTask;
    }

    /// <summary>Each file in turn: a refused one shows the server's reason and the others go on.</summary>
    async Task UploadAsync(InputFileChangeEventArgs e)
    {
        if (_kb is null || _uploading || !await ManageAsync(() => Task.CompletedTask))
            return;
        _uploading = true;
        (Alert, NoticeText) = (null, null);
        try
        {
            _uploads.Clear();
            if (e.FileCount > MaxFilesAtOnce)
            {
                Alert = ("Too many files at once.", $"Pick at most {MaxFilesAtOnce} files at a time.");
                return;
            }
            var rows = e.GetMultipleFiles(MaxFilesAtOnce).Select(f => (File: f, Row: new UploadRow(f.Name, f.Size))).ToList();
            _uploads.AddRange(rows.Select(r => r.Row));
            foreach (var (file, row) in rows)
                await UploadOneAsync(file, row);
            await RefreshAsync();
        }
        finally
        {
            _uploading = false;
        }
    }

    async Task UploadOneAsync(IBrowserFile file, UploadRow row)
    {
        row.State = UploadState.Sending;
        StateHasChanged();
        var shown = 0;
        try
        {
            long sent = 0;
            await using var content = new ReadCountingStream(file.OpenReadStream(Settings.Value.MaxFileBytes, Closed), n =>
            {
                if (n == 0)
                    return;
                sent += n;
                row.Sent = sent;
                // One redraw per percent at most: a large file is read in many small pieces.
                if (row.Percent != shown)
                {
                    shown = row.Percent;
                    _ = InvokeAsync(StateHasChanged);
                }
            });
            var source = await ScopedAsync(async (s, _) =>
            {
                var kb = await s.GetRequiredService<KnowledgeBases>().FindAsync(OrgId, WsId, KbId, Closed);
                return await s.GetRequiredService<KnowledgeSources>().UploadAsync(kb, UserId, file.Name, content, file.Size, Closed);
            });
            (row.State, row.SourceId) = (UploadState.Added, source.Id);
        }
        catch (ProblemException problem)
        {
            (row.State, row.Problem) = (UploadState.Refused, (problem.Title, problem.Detail));
        }
        catch (IOException) when (file.Size > Settings.Value.MaxFileBytes)
        {
            (row.State, row.Problem) = (UploadState.Refused, ("The file is too large.", $"Files can be at most {AiHub.Credits.Plans.QuotaService.Bytes(Settings.Value.MaxFileBytes)} here."));
        }
        catch (IOException)
        {
            // The browser stopped sending (the tab was closed or the file changed on disk); nothing was kept.
            (row.State, row.Problem) = (UploadState.Refused, ("The file could not be read.", "The browser stopped sending it. Try again."));
        }
        StateHasChanged();
    }

    async Task ImportAsync()
    {
        if (_kb is null || string.IsNullOrWhiteSpace(_importUrl))
            return;
        var url = _importUrl.Trim();
        if (await ManageAsync(() => ScopedAsync(async (s, _) =>
            {
                var kb = await s.GetRequiredService<KnowledgeBases>().FindAsync(OrgId, WsId, KbId, CancellationToken.None);
                return await s.GetRequiredService<KnowledgeSources>().ImportAsync(kb, UserId, new ImportRequest(url, null), CancellationToken.None);
            }), $"{url} is queued for import."))
        {
            _importUrl = null;
            await RefreshAsync();
        }
    }

    async Task RetryAsync(SourceResponse source)
    {
        if (await ManageAsync(() => ScopedAsync((s, _) => s.GetRequiredService<KnowledgeSources>().RetryAsync(OrgId, WsId, source.Id, CancellationToken.None)),
                $"{source.Title} is queued again."))
            await RefreshAsync();
    }

    async Task DeleteAsync(SourceResponse source)
    {
        if (await Dialogs.ShowMessageBoxAsync($"Delete {source.Title}?", "Its text, transcript and file are deleted, and answers stop citing it. This cannot be undone.",
                yesText: "Delete", cancelText: "Cancel") != true)
            return;
        if (await ManageAsync(() => ScopedAsync((s, _) => s.GetRequiredService<KnowledgeSources>().DeleteAsync(OrgId, WsId, source.Id, CancellationToken.None)),
                $"{source.Title} is deleted."))
            await RefreshAsync();
    }

    static string UploadText(UploadRow row) => row.State switch
    {
        UploadState.Waiting => "waiting",
        UploadState.Sending => $"uploading {row.Percent} %",
        UploadState.Added => "uploaded: ingestion follows below",
        _ => "refused",
    };

    enum UploadState
    {
        Waiting,
        Sending,
        Added,
        Refused,
    }

    sealed class UploadRow(string name, long size)
    {
        public string Name { get; } = name;

        public long Size { get; } = size;

        public long Sent { get; set; }

        public UploadState State { get; set; } = UploadState.Waiting;

        public (string Title, string? Detail)? Problem { get; set; }

        public Guid? SourceId { get; set; }

        public int Percent => Size <= 0 ? 100 : (int)Math.Min(100, Sent * 100 / Size);
    }
}
