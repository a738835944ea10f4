namespace AiHub.Identity.Pages;

/// <summary>Tells the app bar of an open page (one per circuit) that the user has just renamed themselves.</summary>
internal sealed class DisplayNameChanges
{
    public event Action<string>? Changed;

    public void Publish(string shownName) => Changed?.Invoke(shownName);
}
