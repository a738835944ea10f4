using Microsoft.JSInterop;

namespace AiHub.Organizations;

/// <summary>
/// The organisation the signed-in user is working in, for one circuit. The choice is kept in the browser's local
/// storage under the user's id, so that it survives a reload and two accounts on one browser do not share it.
/// </summary>
/// <remarks>Only for interactive components: local storage is out of reach while a page is prerendered.</remarks>
internal sealed class CurrentOrg(IServiceScopeFactory scopes, IJSRuntime js)
{
    Guid? _userId;

    public IReadOnlyList<OrgResponse> Orgs { get; private set; } = [];

    public OrgResponse? Org { get; private set; }

    public event Action? Changed;

    public async Task LoadAsync(Guid userId)
    {
        if (_userId == userId)
            return;
        _userId = userId;
        await ReadOrgsAsync(userId);
        var stored = Guid.TryParse(await js.InvokeAsync<string?>("localStorage.getItem", Key(userId)), out var id) ? id : (Guid?)null;
        // A page may have chosen the org from its address while the list was loading; the address wins.
        Org = Find(Org?.Id) ?? Find(stored) ?? Fallback();
        Changed?.Invoke();
    }

    public async Task SelectAsync(Guid userId, Guid orgId)
    {
        await LoadAsync(userId);
        if (Find(orgId) is null)
            await ReadOrgsAsync(userId);
        if (Find(orgId) is not { } org || org == Org)
            return;
        Org = org;
        await js.InvokeVoidAsync("localStorage.setItem", Key(userId), org.Id.ToString());
        Changed?.Invoke();
    }

    /// <summary>After an org was created, renamed, deleted, restored, joined or left.</summary>
    public async Task RefreshAsync()
    {
        if (_userId is not { } userId)
            return;
        await ReadOrgsAsync(userId);
        Org = Find(Org?.Id) ?? Fallback();
        Changed?.Invoke();
    }

    OrgResponse? Find(Guid? id) => id is null ? null : Orgs.FirstOrDefault(o => o.Id == id);

    OrgResponse? Fallback() => Orgs.FirstOrDefault(o => o.Personal) ?? (Orgs.Count > 0 ? Orgs[0] : null);

    async Task ReadOrgsAsync(Guid userId)
    {
        // Its own scope: the circuit outlives the pages, and must not share their DbContext.
        await using var scope = scopes.CreateAsyncScope();
        Orgs = await scope.ServiceProvider.GetRequiredService<Orgs>().ListAsync(userId, CancellationToken.None);
    }

    static string Key(Guid userId) => $"aihub.org.{userId:N}";
}
