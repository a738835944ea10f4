using System.Globalization;
using AiHub.Gateway.Completions;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Gateway;

/// <summary>How the gateway's refusals differ from the rest of the API: statuses and error bodies as OpenAI's and Anthropic's clients expect.</summary>
internal static class GatewayProblems
{
    public const string Prefix = "/v1";

    /// <summary>When credits or an allowance run short there is no set time to wait; a client that retries then asks again.</summary>
    public static readonly TimeSpan ShortOfCreditsRetry = TimeSpan.FromSeconds(60);

    /// <summary>A refusal for money or the plan's quota: OpenAI answers these with 429 <c>insufficient_quota</c>, not 402.</summary>
    public static bool IsQuota(ProblemDetails problem) => problem.Type is ProblemTypes.InsufficientCredits or ProblemTypes.AllowanceExceeded
        or ProblemTypes.ApiKeyBudgetExceeded or ProblemTypes.ChatLimitExceeded;

    public static bool IsGateway(HttpRequest request) => request.Path.StartsWithSegments(Prefix, StringComparison.OrdinalIgnoreCase);

    /// <summary>How long until a quota refusal can succeed: the budget's or the plan period's reset, else a minute.</summary>
    public static TimeSpan RetryAfter(ProblemDetails problem, TimeProvider clock)
    {
        if (problem.Extensions.TryGetValue("resetsAt", out var value) && value switch
            {
                DateTimeOffset d => d,
                DateTime t => new DateTimeOffset(t.ToUniversalTime()),
                _ => (DateTimeOffset?)null,
            } is { } resets && resets > clock.GetUtcNow())
            return resets - clock.GetUtcNow();
        return ShortOfCreditsRetry;
    }

    public static string Seconds(TimeSpan wait) => Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Writes every problem of a <c>/v1</c> path in the wire format of its caller: Anthropic's for <c>/v1/messages</c> when
/// that format is served, OpenAI's everywhere else, whoever raised it (the key check, the rate limit, routing, a handler).
/// </summary>
/// <remarks>Registered before the default writers, so it answers first for <c>/v1</c> and never elsewhere.</remarks>
internal sealed class GatewayProblemWriter(IServiceProvider services, TimeProvider clock) : IProblemDetailsWriter
{
    IWireFormat? _anthropic;
    int _resolved;

    public bool CanWrite(ProblemDetailsContext context) => GatewayProblems.IsGateway(context.HttpContext.Request);

    public async ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        problem.Status ??= http.Response.StatusCode;
        if (GatewayProblems.IsQuota(problem))
        {
            problem.Status = StatusCodes.Status429TooManyRequests;
            http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            http.Response.Headers.RetryAfter = GatewayProblems.Seconds(GatewayProblems.RetryAfter(problem, clock));
        }
        problem.Title ??= Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        var anthropic = http.Request.Path.StartsWithSegments("/v1/messages", StringComparison.OrdinalIgnoreCase) ? Anthropic() : null;
        var body = anthropic is null ? OpenAIErrors.Body(problem) : anthropic.ErrorBody(problem);
        http.Response.ContentType = "application/json";
        http.Response.ContentLength = body.Length;
        await http.Response.Body.WriteAsync(body, http.RequestAborted);
    }

    IWireFormat? Anthropic()
    {
        if (Volatile.Read(ref _resolved) == 0)
        {
            _anthropic = services.GetServices<IWireFormat>().FirstOrDefault(w => w.Format == WireFormat.Anthropic);
            Volatile.Write(ref _resolved, 1);
        }
        return _anthropic;
    }
}
