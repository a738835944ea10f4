namespace AiHub.Organizations.ApiKeys;

/// <summary>A model id for the SDK snippets of the API-keys page, from the feature that knows the org's models.</summary>
internal interface IKeySnippetModel
{
    /// <summary>The model a key of the org can call by default, as a client names it; null when it can call none.</summary>
    Task<string?> ExampleModelAsync(Guid orgId, CancellationToken ct);
}
