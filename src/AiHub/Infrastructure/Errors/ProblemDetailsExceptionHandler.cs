using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Infrastructure.Errors;

/// <summary>The one place where exceptions become responses: known ones get their status and message, the rest a bare 500.</summary>
internal sealed partial class ProblemDetailsExceptionHandler(IProblemDetailsService problems, ILogger<ProblemDetailsExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken ct)
    {
        var (status, title, detail) = exception switch
        {
            BadHttpRequestException { InnerException: JsonException json } => (StatusCodes.Status400BadRequest, "The request body is not valid JSON.", json.Message),
            BadHttpRequestException bad => (bad.StatusCode, "The request is not valid.", bad.Message),
            JsonException json => (StatusCodes.Status400BadRequest, "The request body is not valid JSON.", json.Message),
            ProblemException known => (known.Status, known.Title, known.Detail),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested => (499, "The client closed the request.", null),
            _ => (StatusCodes.Status500InternalServerError, "An unexpected error occurred.", "The error was logged; quote the traceId when reporting it."),
        };
        LogOutcome(exception, status, context.Request);
        if (context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
            return true;
        context.Response.StatusCode = status;
        if (exception is ProblemException { RetryAfter: { } wait })
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = exception switch
            {
                ProblemException problem => problem.ToProblemDetails(),
                _ when JsonErrorOf(exception) is { Path: { Length: > 2 } path } json && json.Message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal) => FieldProblem(status, title, detail, path),
                _ => new ProblemDetails { Status = status, Title = title, Detail = detail },
            },
        });
    }

    static JsonException? JsonErrorOf(Exception exception) => exception as JsonException ?? exception.InnerException as JsonException;

    /// <summary>Names the field the body got wrong (<c>$.credits</c> → <c>credits</c>), as a validation problem does.</summary>
    static ProblemDetails FieldProblem(int status, string title, string? detail, string path)
    {
        var field = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = ProblemTypes.Validation };
        problem.Extensions["errors"] = new Dictionary<string, string[]> { [field] = [$"{field} does not have the type this field takes; a number is a JSON number, not a string."] };
        return problem;
    }

    /// <summary>A refusal we answered on purpose is one line without a stack; only what nobody expected is an error with its stack.</summary>
    void LogOutcome(Exception exception, int status, HttpRequest request)
    {
        switch (exception)
        {
            case ProblemException known when known.Status < 500 || known.Status == StatusCodes.Status503ServiceUnavailable:
                LogRefused(request.Method, request.Path, known.Status, known.Type, known.Title);
                break;
            case ProblemException known:
                LogFailed(request.Method, request.Path, known.Status, known.Type, known.Title);
                break;
            case BadHttpRequestException or JsonException:
                LogRefused(request.Method, request.Path, status, ProblemTypes.Validation, exception.GetType().Name);
                break;
            case OperationCanceledException when status == 499:
                break;
            default:
                LogUnhandled(exception, request.Method, request.Path);
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Path} refused with {Status} {ProblemType}: {Title}")]
    partial void LogRefused(string method, string path, int status, string? problemType, string title);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} failed with {Status} {ProblemType}: {Title}")]
    partial void LogFailed(string method, string path, int status, string? problemType, string title);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception on {Method} {Path}")]
    partial void LogUnhandled(Exception e, string method, string path);
}

/// <summary>An expected failure that features throw to answer with a specific ProblemDetails.</summary>
internal class ProblemException(int status, string title, string? detail = null, string? type = null) : Exception(detail ?? title)
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    public string? Detail { get; } = detail;

    public string? Type { get; } = type;

    /// <summary>Sent as the Retry-After header (429, a locked account).</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Field-level messages, sent as the <c>errors</c> extension like a validation problem.</summary>
    public IDictionary<string, string[]>? Errors { get; init; }

    /// <summary>More members of the ProblemDetails for clients to act on (a limit, when it resets, where to upgrade).</summary>
    public IDictionary<string, object?>? Extensions { get; init; }

    /// <summary>A 400 that names the one field at fault, for forms to show under it.</summary>
    /// <summary>The problem as a body, for a channel that is not an HTTP response (a stream's error event, a socket message).</summary>
    public ProblemDetails ToProblemDetails()
    {
        var problem = new ProblemDetails { Status = Status, Title = Title, Detail = Detail, Type = Type };
        foreach (var (name, value) in Extensions ?? new Dictionary<string, object?>())
            problem.Extensions[name] = value;
        if (Errors is not null)
            problem.Extensions["errors"] = Errors;
        return problem;
    }

    public static ProblemException Invalid(string field, string message) => Invalid(new Dictionary<string, string[]> { [field] = [message] });

    /// <summary>Every field's mistakes at once, so a form can mark them all.</summary>
    public static ProblemException Invalid(IDictionary<string, string[]> errors) =>
        new(StatusCodes.Status400BadRequest, "The request is not valid.", string.Join(" ", errors.Values.SelectMany(m => m)), ProblemTypes.Validation)
        {
            Errors = errors,
        };
}
