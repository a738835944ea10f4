using AiHub.Data;
using AiHub.Infrastructure.Errors;
using AiHub.Knowledge.Sources;
using AiHub.Organizations;
using AiHub.Organizations.Pages;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;

namespace AiHub.Knowledge.Pages;

/// <summary>
/// A page under <c>/knowledge/{wsId}</c>. The address names the workspace alone, so that a citation's link stays
/// short; the org is the workspace's own, and <see cref="OrgPage"/> then checks the caller's grant in it as it does
/// for every org page: a stranger sees "not found" whether the workspace exists or not.
/// </summary>
/// <remarks>
/// Each read and write runs in a scope of its own: uploads, live progress and the periodic refresh overlap, and must
/// not share one DbContext.
/// </remarks>
public abstract class KnowledgePage : OrgPage
{
    /// <summary>How often what the page shows is read again while a source on it is still being ingested.</summary>
    static readonly TimeSpan RefreshEvery = TimeSpan.FromSeconds(5);

    readonly CancellationTokenSource _closed = new();
    bool _watching;

    [Inject]
    IServiceScopeFactory Scopes { get; set; } = default!;

    [Inject]
    SourceProgress Progress { get; set; } = default!;

    [Inject]
    TimeProvider Clock { get; set; } = default!;

    [Parameter]
    public Guid WsId { get; set; }

    private protected Workspace? Workspace { get; private set; }

    /// <summary>The workspace went away between the grant check and its reading.</summary>
    protected bool WorkspaceMissing { get; private set; }

    protected override string Permission => OrgPermissions.KnowledgeRead;

    protected OrgPageState FrameState => WorkspaceMissing ? OrgPageState.NotFound : State;

    protected bool CanManage => Can(OrgPermissions.KnowledgeManage);

    protected string WorkspaceName => Workspace?.Name ?? "";

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

    protected sealed override async Task LoadAsync()
    {
        try
        {
            Workspace = await ScopedAsync(db => Workspaces.FindAsync(db, OrgId, WsId, CancellationToken.None));
            WorkspaceMissing = false;
        }
        catch (ProblemException)
        {
            (Workspace, WorkspaceMissing) = (null, true);
            return;
        }
        await LoadKnowledgeAsync();
    }

    /// <summary>Loads what the page shows, once the grant and the workspace are known.</summary>
    protected abstract Task LoadKnowledgeAsync();

    /// <summary>
    /// A change to the workspace's knowledge: refused here too for a role without the permission, though its buttons are
    /// not drawn for one, since the services do not check the permission themselves (the API's route groups do).
    /// </summary>
    protected async Task<bool> ManageAsync(Func<Task> action, string? notice = null)
    {
        if (!CanManage)
        {
            (Alert, NoticeText) = (("You cannot change this knowledge.", $"Your role in {Org?.Name} ({Grant.Role}) can read the workspace's knowledge but not change it."), null);
            return false;
        }
        return await RunAsync(action, notice);
    }

    /// <summary>Cancelled when the page goes away: for its uploads and its refresh.</summary>
    protected CancellationToken Closed => _closed.Token;

    /// <summary>Whether a source the page shows is still being ingested, so that the page reads it again from time to time.</summary>
    protected virtual bool Ingesting => false;

    /// <summary>Reads again what may have moved; called on the renderer's thread.</summary>
    protected virtual Task RefreshAsync() => Task.CompletedTask;

    /// <summary>A source of this workspace moved on this node; called on the renderer's thread, which redraws after it.</summary>
    private protected virtual Task SourceMovedAsync(SourceResponse source) => Task.CompletedTask;

    protected override void OnAfterRender(bool firstRender)
    {
        if (!firstRender || !RendererInfo.IsInteractive || _watching)
            return;
        _watching = true;
        // Both: the event reaches pages on the node that ingests at once; a source ingested on another node of a
        // cluster only shows here when the page reads it again from the database.
        Progress.Changed += Moved;
        _ = RefreshWhileAsync(() => Ingesting, RefreshAsync, RefreshEvery, Clock, _closed.Token);
    }

    void Moved(SourceResponse source)
    {
        if (source.WorkspaceId != WsId)
            return;
        _ = InvokeAsync(async () =>
        {
            try
            {
                if (State != OrgPageState.Ready)
                    return;
                await SourceMovedAsync(source);
                StateHasChanged();
            }
            catch (Exception e)
            {
                await DispatchExceptionAsync(e);
            }
        });
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

    private protected async Task<T> ScopedAsync<T>(Func<IServiceProvider, AppDbContext, Task<T>> action)
    {
        await using var scope = Scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<AppDbContext>();
        // The second fence, as on the page's own scope.
        if (OrgId != Guid.Empty)
            db.TenantId = OrgId;
        return await action(scope.ServiceProvider, db);
    }

    private protected Task<T> ScopedAsync<T>(Func<AppDbContext, Task<T>> action) => ScopedAsync((_, db) => action(db));

    private protected Task ScopedAsync(Func<IServiceProvider, AppDbContext, Task> action) =>
        ScopedAsync(async (s, db) =>
        {
            await action(s, db);
            return true;
        });
}
