using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Gateway.Anthropic;

/// <summary>The pieces of Anthropic's wire format the gateway writes itself: server-sent events, the closing events and errors.</summary>
internal static class AnthropicEvents
{
    /// <summary>The version sent upstream when the client named none; the one every Anthropic SDK sends.</summary>
    public const string DefaultVersion = "2023-06-01";

    /// <summary>Writes <c>event: {name}\ndata: {json}\n\n</c>, the JSON written by <paramref name="data"/>.</summary>
    public static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> name, Action<Utf8JsonWriter> data)
    {
        output.Write("event: "u8);
        output.Write(name);
        output.Write("\ndata: "u8);
        using (var json = new Utf8JsonWriter(output, Translation.Rendered.Writer))
        {
            data(json);
        }
        output.Write("\n\n"u8);
    }

    /// <summary><c>message_delta</c> with the stop reason and the usage charged, then <c>message_stop</c>.</summary>
    public static ReadOnlyMemory<byte> Closing(string? stopReason, string? stopSequence, long inputTokens, long outputTokens)
    {
        var output = new ArrayBufferWriter<byte>(256);
        Write(output, "message_delta"u8, json =>
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "message_delta"u8);
            json.WriteStartObject("delta"u8);
            json.WriteString("stop_reason"u8, stopReason);
            json.WriteString("stop_sequence"u8, stopSequence);
            json.WriteEndObject();
            json.WriteStartObject("usage"u8);
            json.WriteNumber("input_tokens"u8, inputTokens);
            json.WriteNumber("output_tokens"u8, outputTokens);
            json.WriteEndObject();
            json.WriteEndObject();
        });
        output.Write("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"u8);
        return output.WrittenMemory;
    }

    /// <summary>Anthropic's error type for a status, as its API and SDKs name them.</summary>
    public static string ErrorType(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "invalid_request_error",
        StatusCodes.Status401Unauthorized => "authentication_error",
        StatusCodes.Status402PaymentRequired => "billing_error",
        StatusCodes.Status403Forbidden => "permission_error",
        StatusCodes.Status404NotFound => "not_found_error",
        StatusCodes.Status413PayloadTooLarge => "request_too_large",
        StatusCodes.Status429TooManyRequests => "rate_limit_error",
        StatusCodes.Status504GatewayTimeout => "timeout_error",
        529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    /// <summary><c>{"type":"error","error":{"type","message"}}</c>.</summary>
    public static void WriteError(Utf8JsonWriter json, ProblemDetails problem)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "error"u8);
        json.WriteStartObject("error"u8);
        json.WriteString("type"u8, ErrorType(problem.Status ?? StatusCodes.Status500InternalServerError));
        json.WriteString("message"u8, Message(problem));
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>The title says what happened, the detail what to do or which field: both, as one sentence for the SDK's exception.</summary>
    static string Message(ProblemDetails problem) => (problem.Title, problem.Detail) switch
    {
        (null or "", null or "") => "The request failed.",
        (null or "", { } detail) => detail,
        ({ } title, null or "") => title,
        ({ } title, { } detail) => $"{title} {detail}",
    };
}
