namespace AiHub.Credits.Pages;

/// <summary>Tells the app bar's balance of an open page (one per circuit) that the page has just moved credits.</summary>
internal sealed class CreditChanges
{
    public event Action? Changed;

    public void Publish() => Changed?.Invoke();
}
