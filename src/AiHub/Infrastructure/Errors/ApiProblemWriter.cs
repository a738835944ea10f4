using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace AiHub.Infrastructure.Errors;

/// <summary>
/// Writes the ProblemDetails of every answer that is not a page, whatever the Accept header asks for: the default
/// writer stays silent when Accept does not allow JSON, so an SSE client would read a status without its reason.
/// </summary>
internal sealed class ApiProblemWriter(IOptions<ProblemDetailsOptions> options, IOptions<JsonOptions> json) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => !ErrorsExtensions.WantsPage(context.HttpContext.Request);

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        problem.Status ??= http.Response.StatusCode;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(problem.Status.Value) is { Length: > 0 } reason ? reason : null;
        options.Value.CustomizeProblemDetails?.Invoke(context);
        var type = json.Value.SerializerOptions.GetTypeInfo(problem.GetType());
        return new(http.Response.WriteAsJsonAsync(problem, type, "application/problem+json", http.RequestAborted));
    }
}
