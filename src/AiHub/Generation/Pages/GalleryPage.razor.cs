using AiHub.Credits.Pools;
using AiHub.Data;
using AiHub.Generation.Catalog;
using AiHub.Generation.Jobs;
using AiHub.Infrastructure.Errors;
using AiHub.Organizations;
using AiHub.Organizations.Pages;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using MudBlazor;

namespace AiHub.Generation.Pages;

/// <summary>
/// A workspace's gallery at <c>/gallery/{wsId}</c>: a form that shows a generation's price before it is asked for, and
/// the workspace's generations as they run and once they end, with their files to view, play and download.
/// </summary>
/// <remarks>
/// As on the knowledge pages, the address names the workspace alone; the org is the workspace's own, and <see cref="OrgPage"/>
/// checks the caller's grant in it. Each read and write runs in a scope of its own: live progress, the periodic refresh
/// and the form overlap, and must not share one DbContext.
/// </remarks>
public partial class GalleryPage : OrgPage
{
    /// <summary>Generations a page of the list holds; "load more" reads the next.</summary>
    internal const int PageSize = 12;

    /// <summary>How often unfinished generations are read again: one run on another node of a cluster moves only in the database.</summary>
    static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(5);

    readonly CancellationTokenSource _closed = new();
    bool _watching;

    [Inject]
    IServiceScopeFactory Scopes { get; set; } = default!;

    [Inject]
    GenerationProgress Progress { get; set; } = default!;

    [Inject]
    TimeProvider Clock { get; set; } = default!;

    [Inject]
    IDialogService Dialogs { get; set; } = default!;

    [Inject]
    IOptions<GenerationSettings> Settings { get; set; } = default!;

    [Parameter]
    public Guid WsId { get; set; }

    Workspace? _workspace;
    bool _workspaceMissing;
    List<GenerationModelResponse> _models = [];
    readonly List<GenerationResponse> _jobs = [];
    string? _cursor;
    GenerationKind? _filter;
    readonly FormFields _form = new();
    (decimal Credits, string? Problem)? _quote;
    byte[]? _reference;
    string? _referenceName;
    string? _referenceProblem;
    int _referenceInput;
    MudTextField<string>? _promptField;

    protected override string Permission => OrgPermissions.GenerationsUse;

    OrgPageState FrameState => _workspaceMissing ? OrgPageState.NotFound : State;

    string WorkspaceName => _workspace?.Name ?? "";

    GenerationModelResponse? Chosen => _models.FirstOrDefault(m => m.Id == _form.Model);

    protected override async Task OnParametersSetAsync()
    {
        var orgId = await ScopedAsync(db => db.Workspaces.AsNoTracking().IgnoreQueryFilters()
            .Where(w => w.Id == WsId).Select(w => (Guid?)w.OrganizationId).FirstOrDefaultAsync());
        // Only the membership check reads the org from here; every row after it is fetched by (org, id).
#pragma warning disable BL0005 // The route has no org: the workspace decides it before the base class checks the grant.
        OrgId = orgId ?? Guid.Empty;
#pragma warning restore BL0005
        await base.OnParametersSetAsync();
    }

    protected override async Task LoadAsync()
    {
        try
        {
            _workspace = await ScopedAsync(db => Workspaces.FindAsync(db, OrgId, WsId, CancellationToken.None));
            _workspaceMissing = false;
        }
        catch (ProblemException)
        {
            (_workspace, _workspaceMissing) = (null, true);
            return;
        }
        _models = await ScopedAsync((s, _) => s.GetRequiredService<GenerationModels>().ListAsync(OrgId, CancellationToken.None));
        if (Chosen is null)
            Choose(_models.FirstOrDefault());
        await QuoteAsync();
        await ListAsync();
    }

    async Task ListAsync()
    {
        var page = await ScopedAsync((s, _) => s.GetRequiredService<Generations>().ListAsync(OrgId, WsId, _filter, null, null, null, PageSize, CancellationToken.None));
        _jobs.Clear();
        _jobs.AddRange(page.Generations);
        _cursor = page.NextCursor;
    }

    async Task LoadMoreAsync()
    {
        if (_cursor is null)
            return;
        await RunAsync(async () =>
        {
            var page = await ScopedAsync((s, _) => s.GetRequiredService<Generations>().ListAsync(OrgId, WsId, _filter, null, null, _cursor, PageSize, CancellationToken.None));
            // A job that arrived live while the page was read is there already.
            _jobs.AddRange(page.Generations.Where(g => _jobs.All(j => j.Id != g.Id)));
            _cursor = page.NextCursor;
        });
    }

    async Task FilterAsync(GenerationKind? kind)
    {
        _filter = kind;
        await RunAsync(ListAsync);
    }

    // The form

    void Choose(GenerationModelResponse? model)
    {
        _form.Model = model?.Id;
        _form.Size = model?.DefaultSize;
        _form.Seconds = model?.DefaultSeconds;
        _form.Quality = model?.DefaultQuality;
        _form.Count = 1;
        if (model is not { AcceptsInputImage: true })
            ClearReference();
    }

    async Task ModelChangedAsync(string? id)
    {
        Choose(_models.FirstOrDefault(m => m.Id == id));
        await QuoteAsync();
    }

    /// <summary>Asks the same price list the submission holds from, so that the price shown is the price held.</summary>
    async Task QuoteAsync()
    {
        if (Chosen is not { } model)
        {
            _quote = null;
            return;
        }
        try
        {
            var quote = await ScopedAsync((s, _) => s.GetRequiredService<Generations>().QuoteAsync(OrgId, Body(model, "-"), CancellationToken.None));
            _quote = (quote.Credits, null);
        }
        catch (ProblemException problem)
        {
            _quote = (0, problem.Detail ?? problem.Title);
        }
    }

    GenerationRequest Body(GenerationModelResponse model, string? prompt) => new(
        model.Kind == GenerationKind.Video ? "video" : "image", model.Id, prompt, model.Kind == GenerationKind.Video ? _form.Seconds : null, _form.Size,
        model.Qualities.Count > 0 ? _form.Quality : null, model.Kind == GenerationKind.Image ? _form.Count : null, null, null);

    async Task ReferenceChosenAsync(InputFileChangeEventArgs e)
    {
        (_reference, _referenceName, _referenceProblem) = (null, null, null);
        var file = e.File;
        var max = Settings.Value.MaxInputImageBytes;
        if (file.Size > max)
        {
            _referenceProblem = $"{file.Name} is larger than {AiHub.Credits.Plans.QuotaService.Bytes(max)}, the most a reference image may be.";
            return;
        }
        try
        {
            // Read now: the browser's file is gone once the input is drawn again.
            using var copy = new MemoryStream((int)file.Size);
            await using (var content = file.OpenReadStream(max, _closed.Token))
                await content.CopyToAsync(copy, _closed.Token);
            (_reference, _referenceName) = (copy.ToArray(), file.Name);
        }
        catch (IOException)
        {
            _referenceProblem = $"{file.Name} could not be read: the browser stopped sending it. Pick it again.";
        }
    }

    void ClearReference()
    {
        (_reference, _referenceName, _referenceProblem) = (null, null, null);
        // A new input element, so that picking the same file again is a change.
        _referenceInput++;
    }

    async Task SubmitAsync()
    {
        if (Chosen is not { } model)
            return;
        var body = Body(model, _form.Prompt);
        var reference = model.AcceptsInputImage ? _reference : null;
        var name = _referenceName;
        GenerationResponse? job = null;
        if (await RunAsync(() => ScopedAsync(async (s, _) =>
            {
                await using var content = reference is null ? null : new MemoryStream(reference, writable: false);
                job = await s.GetRequiredService<Generations>().SubmitAsync(new Spender(OrgId, UserId, null, WsId), WsId, body,
                    content is null ? null : new UploadedImage(content, name), CancellationToken.None);
            }), model.Kind == GenerationKind.Video ? "The video is queued." : "The image is queued.") && job is not null)
            Show(job);
    }

    async Task ReuseAsync(GenerationResponse job)
    {
        if (_models.FirstOrDefault(m => m.Id == job.Model) is { } model)
        {
            Choose(model);
            _form.Size = model.Sizes.Contains(job.Size) ? job.Size : model.DefaultSize;
            _form.Seconds = job.Seconds is { } s && model.Seconds.Contains(s) ? s : model.DefaultSeconds;
            _form.Quality = job.Quality is { } q && model.Qualities.Contains(q) ? q : model.DefaultQuality;
            _form.Count = Math.Clamp(job.Count, 1, model.MaxCount);
            NoticeText = "The form holds the generation's prompt and settings.";
        }
        else
            NoticeText = $"The form holds the prompt; {job.Model} is no longer offered here, so choose a model.";
        _form.Prompt = job.Prompt;
        await QuoteAsync();
        if (_promptField is not null)
            await _promptField.FocusAsync();
    }

    // The generations

    async Task CancelAsync(GenerationResponse job)
    {
        GenerationResponse? cancelled = null;
        if (await RunAsync(async () => cancelled = await ScopedAsync((s, _) => s.GetRequiredService<Generations>().CancelAsync(OrgId, WsId, job.Id, CancellationToken.None)),
                "The generation is cancelled; nothing is charged for it.") && cancelled is not null)
            Show(cancelled);
    }

    async Task DeleteAsync(GenerationResponse job)
    {
        var what = job.Kind == GenerationKind.Video ? "video" : job.Count == 1 ? "image" : "images";
        if (await Dialogs.ShowMessageBoxAsync($"Delete this {what}?", $"\"{Shorten(job.Prompt, 80)}\" and its files are deleted, and their storage is given back. This cannot be undone.",
                yesText: "Delete", cancelText: "Cancel") != true)
            return;
        if (await RunAsync(() => ScopedAsync((s, _) => s.GetRequiredService<Generations>().DeleteAsync(OrgId, WsId, job.Id, CancellationToken.None)),
                $"The {what} is deleted."))
            _jobs.RemoveAll(j => j.Id == job.Id);
    }

    async Task RemixAsync(GenerationResponse job)
    {
        if (_models.FirstOrDefault(m => m.Id == job.Model) is not { Remix: true } model)
            return;
        string price;
        try
        {
            var quote = await ScopedAsync((s, _) => s.GetRequiredService<Generations>().QuoteAsync(OrgId,
                new GenerationRequest("video", model.Id, "-", job.Seconds, job.Size, job.Quality, null, null, null), CancellationToken.None));
            price = $"up to {Credits(quote.Credits)}";
        }
        catch (ProblemException problem)
        {
            (Alert, NoticeText) = ((problem.Title, problem.Detail), null);
            return;
        }
        var dialog = await Dialogs.ShowAsync<RemixDialog>("Remix the video", new DialogParameters<RemixDialog>
        {
            { d => d.Price, price },
            { d => d.MaxLength, model.MaxPromptLength },
        }, new DialogOptions { MaxWidth = MaxWidth.Small, FullWidth = true });
        if (await dialog.Result is not { Canceled: false, Data: string change })
            return;
        GenerationResponse? remix = null;
        if (await RunAsync(async () => remix = await ScopedAsync((s, _) => s.GetRequiredService<Generations>().RemixAsync(new Spender(OrgId, UserId, null, WsId), WsId, job.Id,
                new RemixRequest(change, null), CancellationToken.None)), "The remix is queued.") && remix is not null)
            Show(remix);
    }

    async Task ViewAsync(GenerationResponse job, GenerationOutputResponse output) =>
        await Dialogs.ShowAsync<GalleryViewer>(Shorten(job.Prompt, 60), new DialogParameters<GalleryViewer>
        {
            { v => v.Url, output.Url },
            { v => v.Alt, ImageAlt(job, output) },
        }, new DialogOptions { MaxWidth = MaxWidth.Large, FullWidth = true, CloseButton = true, CloseOnEscapeKey = true });

    /// <summary>Puts a job where it belongs in the list: replaced where it is, else at the top when it matches the filter.</summary>
    void Show(GenerationResponse job)
    {
        var at = _jobs.FindIndex(j => j.Id == job.Id);
        // Describe's UpdatedAt moves forward: an older message that arrives late does not undo a newer one.
        if (at >= 0 && _jobs[at].UpdatedAt <= job.UpdatedAt)
            _jobs[at] = job;
        else if (at < 0 && (_filter is null || _filter == job.Kind) && (_jobs.Count == 0 || job.Id.CompareTo(_jobs[^1].Id) > 0 || _cursor is null))
        {
            _jobs.Add(job);
            _jobs.Sort((a, b) => b.Id.CompareTo(a.Id));
        }
    }

    bool Running => _jobs.Any(j => j.Status is GenerationStatus.Queued or GenerationStatus.InProgress);

    protected override void OnAfterRender(bool firstRender)
    {
        if (!firstRender || !RendererInfo.IsInteractive || _watching)
            return;
        _watching = true;
        // Both: the event reaches pages on the node that runs the job at once; a job run on another node only shows
        // here when the page reads it again from the database.
        Progress.Changed += Moved;
        _ = RefreshWhileAsync(() => Running, RefreshRunningAsync, RefreshEvery, Clock, _closed.Token);
    }

    void Moved(Guid id, GenerationResponse? job)
    {
        if (job is not null && job.WorkspaceId != WsId)
            return;
        if (job is null && _jobs.All(j => j.Id != id))
            return;
        _ = InvokeAsync(async () =>
        {
            try
            {
                if (State != OrgPageState.Ready)
                    return;
                if (job is null)
                    _jobs.RemoveAll(j => j.Id == id);
                else
                    Show(job);
                StateHasChanged();
            }
            catch (Exception e)
            {
                await DispatchExceptionAsync(e);
            }
        });
    }

    /// <summary>Reads the running jobs again; one deleted meanwhile leaves the page.</summary>
    async Task RefreshRunningAsync()
    {
        foreach (var running in _jobs.Where(j => !Finished(j.Status)).ToList())
        {
            try
            {
                Show(await ScopedAsync((s, _) => s.GetRequiredService<Generations>().GetAsync(OrgId, WsId, running.Id, CancellationToken.None)));
            }
            catch (ProblemException)
            {
                _jobs.RemoveAll(j => j.Id == running.Id);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Progress.Changed -= Moved;
            // Not disposed: a callback still on its way may read the token.
            _closed.Cancel();
        }
        base.Dispose(disposing);
    }

    async Task<T> ScopedAsync<T>(Func<IServiceProvider, AppDbContext, Task<T>> action)
    {
        await using var scope = Scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        // The second fence, as on the page's own scope.
        if (OrgId != Guid.Empty)
            db.TenantId = OrgId;
        return await action(scope.ServiceProvider, db);
    }

    Task<T> ScopedAsync<T>(Func<AppDbContext, Task<T>> action) => ScopedAsync((_, db) => action(db));

    async Task ScopedAsync(Func<IServiceProvider, AppDbContext, Task> action) =>
        await ScopedAsync(async (s, db) =>
        {
            await action(s, db);
            return true;
        });

    // How a generation reads

    static bool Finished(GenerationStatus status) => status is GenerationStatus.Completed or GenerationStatus.Failed or GenerationStatus.Cancelled;

    internal static string Credits(decimal credits) => credits == 1 ? "1 credit" : $"{credits.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)} credits";

    internal static string StatusLabel(GenerationStatus status) => status switch
    {
        GenerationStatus.Queued => "Queued",
        GenerationStatus.InProgress => "Generating",
        GenerationStatus.Completed => "Done",
        GenerationStatus.Failed => "Failed",
        _ => "Cancelled",
    };

    internal static Color StatusColor(GenerationStatus status) => status switch
    {
        GenerationStatus.Completed => Color.Success,
        GenerationStatus.Failed => Color.Error,
        GenerationStatus.InProgress => Color.Primary,
        _ => Color.Default,
    };

    /// <summary>"sora-2 · 1280x720 · 8 s" or "gpt-image-1 · 1024x1024 · high · 2 images".</summary>
    internal static string SettingsText(GenerationResponse job)
    {
        var parts = new List<string> { job.Model, job.Size };
        if (job.Seconds is { } seconds)
            parts.Add($"{seconds} s");
        if (job.Quality is { } quality)
            parts.Add(quality);
        if (job.Kind == GenerationKind.Image)
            parts.Add(job.Count == 1 ? "1 image" : $"{job.Count} images");
        if (job.RemixOf is not null)
            parts.Add("remix");
        if (job.HasInputImage)
            parts.Add("from a reference image");
        return string.Join(" · ", parts);
    }

    /// <summary>Held while it runs, charged when done, nothing otherwise.</summary>
    internal static string Cost(GenerationResponse job) => job.Status switch
    {
        GenerationStatus.Queued or GenerationStatus.InProgress => $"{Credits(job.Cost.Held)} held",
        GenerationStatus.Completed => $"{Credits(job.Cost.Charged)} charged",
        _ => "not charged",
    };

    internal static string ImageAlt(GenerationResponse job, GenerationOutputResponse output) =>
        $"Image {output.Index + 1}{(job.Outputs.Count > 1 ? $" of {job.Outputs.Count}" : "")}: {Shorten(job.Prompt, 120)}";

    internal static string Shorten(string text, int max) => text.Length <= max ? text : text[..(max - 1)].TrimEnd() + "…";

    sealed class FormFields
    {
        public string? Model { get; set; }

        public string? Prompt { get; set; }

        public string? Size { get; set; }

        public int? Seconds { get; set; }

        public string? Quality { get; set; }

        public int Count { get; set; } = 1;
    }
}
