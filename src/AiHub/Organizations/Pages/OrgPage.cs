using AiHub.Data;
using AiHub.Identity;
using AiHub.Identity.Pages;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Forms;

namespace AiHub.Organizations.Pages;

public enum OrgPageState
{
    Loading,
    NotFound,
    Forbidden,
    Ready,
}

/// <summary>
/// A page under <c>/orgs/{orgId}</c>. The caller's grant is looked up like an API route's: someone who is not a
/// member sees "not found", as if the org did not exist, and a member whose role lacks the page's permission sees
/// "forbidden". Nothing of the org is loaded before both checks pass.
/// </summary>
/// <remarks>Public because Razor makes its pages public; what uses the feature's internal types is <c>private protected</c>.</remarks>
public abstract class OrgPage : OwningComponentBase
{
    [CascadingParameter]
    Task<AuthenticationState> AuthenticationState { get; set; } = default!;

    [CascadingParameter]
    HttpContext? HttpContext { get; set; }

    [Inject]
    OrgAccess Access { get; set; } = default!;

    [Inject]
    private protected CurrentOrg CurrentOrg { get; set; } = default!;

    [Inject]
    protected NavigationManager Navigation { get; set; } = default!;

    [Parameter]
    public Guid OrgId { get; set; }

    protected Guid UserId { get; private set; }

    private protected OrgGrant Grant { get; private set; } = new(Guid.Empty, OrgRole.Guest, []);

    private protected Organization? Org { get; private set; }

    protected OrgPageState State { get; private set; } = OrgPageState.Loading;

    protected (string Title, string? Detail)? Alert { get; set; }

    protected string? NoticeText { get; set; }

    protected bool Busy { get; private set; }

    /// <summary>What a member needs to see this page.</summary>
    protected abstract string Permission { get; }

    private protected Orgs Orgs => ScopedServices.GetRequiredService<Orgs>();

    protected bool Can(string permission) => Grant.Has(permission);

    /// <summary>
    /// Every <paramref name="every"/> until <paramref name="ct"/> ends, runs <paramref name="refresh"/> on the page's
    /// thread while the page is ready and <paramref name="active"/> holds: what another node changed reaches the page too.
    /// </summary>
    protected async Task RefreshWhileAsync(Func<bool> active, Func<Task> refresh, TimeSpan every, TimeProvider clock, CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(every, clock);
            while (await timer.WaitForNextTickAsync(ct))
            {
                await InvokeAsync(async () =>
                {
                    if (State != OrgPageState.Ready || !active())
                        return;
                    await refresh();
                    StateHasChanged();
                });
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            await DispatchExceptionAsync(e);
        }
    }

    protected override async Task OnParametersSetAsync()
    {
        (Alert, NoticeText) = (null, null);
        await ReloadAsync();
    }

    /// <summary>Looks the grant up again too: an action may have changed the caller's own role.</summary>
    protected async Task ReloadAsync()
    {
        UserId = (await AuthenticationState).User.UserId()!.Value;
        State = await CheckAsync();
        if (HttpContext is not null && State is OrgPageState.NotFound or OrgPageState.Forbidden)
            HttpContext.Response.StatusCode = State == OrgPageState.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status403Forbidden;
        if (State == OrgPageState.NotFound)
            return;
        if (RendererInfo.IsInteractive)
            await CurrentOrg.SelectAsync(UserId, OrgId);
        if (State == OrgPageState.Ready)
            await LoadAsync();
    }

    async Task<OrgPageState> CheckAsync()
    {
        Org = null;
        if (await Access.GetAsync(OrgId, UserId, CancellationToken.None) is not { } grant)
            return OrgPageState.NotFound;
        Grant = grant;
        // The second fence: this page's queries of tenant-owned rows see this org and no other.
        ScopedServices.GetRequiredService<AppDbContext>().TenantId = OrgId;
        try
        {
            Org = await Orgs.FindAsync(OrgId, CancellationToken.None);
        }
        catch (ProblemException)
        {
            return OrgPageState.NotFound;
        }
        return grant.Has(Permission) ? OrgPageState.Ready : OrgPageState.Forbidden;
    }

    protected abstract Task LoadAsync();

    /// <summary>Runs one action of the page, showing the server's problem if it fails, and the notice if it succeeds.</summary>
    protected async Task<bool> RunAsync(Func<Task> action, string? notice = null, EditContext? form = null)
    {
        Busy = true;
        (Alert, NoticeText) = (null, null);
        try
        {
            await action();
            NoticeText = notice;
            return true;
        }
        catch (ProblemException problem)
        {
            // The page's scope lives as long as the page: a half-made change must not ride along with the next save.
            ScopedServices.GetRequiredService<AppDbContext>().ChangeTracker.Clear();
            Alert = form is null ? (problem.Title, problem.Detail) : form.Show(problem);
            return false;
        }
        finally
        {
            Busy = false;
        }
    }
}
