namespace AiHub.Credits.Plans;

/// <summary>Tells the app bar's plan badge of an open page (one per circuit) that the page has just seen the plan change.</summary>
internal sealed class PlanChanges
{
    public event Action? Changed;

    public void Publish() => Changed?.Invoke();
}
