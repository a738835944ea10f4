namespace AiHub.Organizations;

/// <summary>Lets the feature that knows the models (Chat, a layer above) refuse a workspace default that could not answer.</summary>
internal interface IDefaultModelCheck
{
    /// <exception cref="Infrastructure.Errors.ProblemException">400 naming <paramref name="field"/> when the org cannot chat with the model.</exception>
    Task RequireUsableAsync(Guid orgId, string model, string field, CancellationToken ct);
}
