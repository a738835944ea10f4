using System.Buffers;
using System.Text.Json;
using AiHub.Infrastructure.Errors;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Gateway.Completions;

/// <summary>Problems in OpenAI's error shape, <c>{"error":{"message","type","param","code"}}</c>, which its SDKs map to their exceptions.</summary>
internal static class OpenAIErrors
{
    public static byte[] Body(ProblemDetails problem)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
            Write(json, problem);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A stream's last event: the SDKs raise an <c>error</c> member of a chunk as an exception.</summary>
    public static byte[] Event(ProblemDetails problem)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.Write("data: "u8);
        using (var json = new Utf8JsonWriter(buffer))
            Write(json, problem);
        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }

    static void Write(Utf8JsonWriter json, ProblemDetails problem)
    {
        var (type, code) = TypeAndCode(problem);
        json.WriteStartObject();
        json.WriteStartObject("error");
        json.WriteString("message", Message(problem));
        json.WriteString("type", type);
        if (Param(problem) is { } param)
            json.WriteString("param", param);
        else
            json.WriteNull("param");
        if (code is null)
            json.WriteNull("code");
        else
            json.WriteString("code", code);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    static string Message(ProblemDetails problem) => (problem.Title, problem.Detail) switch
    {
        ({ Length: > 0 } title, { Length: > 0 } detail) when detail != title => $"{title} {detail}",
        ({ Length: > 0 } title, _) => title,
        (_, { Length: > 0 } detail) => detail,
        _ => "The request failed.",
    };

    /// <summary>The field a validation problem names, as OpenAI's <c>param</c>.</summary>
    static string? Param(ProblemDetails problem) =>
        problem.Extensions.TryGetValue("errors", out var errors) && errors is IDictionary<string, string[]> fields && fields.Count > 0
            ? fields.Keys.First()
            : null;

    /// <summary>OpenAI's type for the status; a refusal for money or the plan's quota is its <c>insufficient_quota</c>.</summary>
    static (string Type, string? Code) TypeAndCode(ProblemDetails problem)
    {
        if (GatewayProblems.IsQuota(problem))
            return ("insufficient_quota", "insufficient_quota");
        var code = problem.Type is { } t && t.StartsWith(ProblemTypes.Prefix, StringComparison.Ordinal) ? t[ProblemTypes.Prefix.Length..].Replace('-', '_') : null;
        return problem.Status switch
        {
            StatusCodes.Status401Unauthorized => ("authentication_error", "invalid_api_key"),
            StatusCodes.Status403Forbidden => ("permission_error", code ?? "permission_denied"),
            StatusCodes.Status404NotFound => ("invalid_request_error", code ?? "not_found"),
            StatusCodes.Status413PayloadTooLarge => ("invalid_request_error", "request_too_large"),
            StatusCodes.Status429TooManyRequests => ("requests", "rate_limit_exceeded"),
            >= 500 => ("api_error", code ?? "server_error"),
            _ => ("invalid_request_error", code),
        };
    }
}
