using System.Text.Json.Nodes;
using AiHub.Chat.Engine;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.AI;

namespace AiHub.Gateway;

/// <summary>The two wire formats clients speak to <c>/v1</c>.</summary>
internal enum WireFormat
{
    /// <summary>OpenAI's Chat Completions: <c>POST /v1/chat/completions</c>.</summary>
    OpenAI,

    /// <summary>Anthropic's Messages: <c>POST /v1/messages</c>.</summary>
    Anthropic,
}

/// <summary>A chat request as one wire format sent it, parsed and validated.</summary>
internal sealed class GatewayChatRequest
{
    public required WireFormat Format { get; init; }

    /// <summary>The model as asked: <c>model</c> or <c>provider/model</c>.</summary>
    public required string Model { get; init; }

    public required bool Stream { get; init; }

    /// <summary>OpenAI's <c>stream_options.include_usage</c>; an Anthropic stream always carries its usage.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>The output cap the client asked for (<c>max_tokens</c>, <c>max_completion_tokens</c>); null when it set none.</summary>
    public int? MaxTokens { get; init; }

    /// <summary>The body as sent; a provider of the same format gets it as is, with the model and output cap replaced.</summary>
    public required JsonObject Body { get; init; }

    /// <summary>The same request in Microsoft.Extensions.AI terms: counted for the hold, and sent to a provider of the other format.</summary>
    public required IReadOnlyList<ChatMessage> Messages { get; init; }

    /// <summary>Sampling, tools, response format and stop sequences, for a provider of the other format.</summary>
    public required ChatOptions Options { get; init; }
}

/// <summary>A whole (not streamed) answer, already in the client's wire format.</summary>
/// <param name="Body">The JSON to send the client, UTF-8.</param>
/// <param name="Text">What the answer says (text and tool-call arguments), for counting when the provider reports no usage.</param>
/// <param name="InputTokens">The provider's count, or null when it reported none.</param>
/// <param name="OutputTokens">The provider's count, or null when it reported none.</param>
internal sealed record UpstreamAnswer(ReadOnlyMemory<byte> Body, string Text, long? InputTokens, long? OutputTokens, string? FinishReason);

/// <summary>
/// One attempt at one model, spoken in the client's wire format: the provider's own format passed through when the
/// two match, translated through <see cref="IChatClient"/> when they do not.
/// </summary>
/// <remarks>
/// A failure before anything came back (a refusal, an unreachable server, a first-token timeout) is thrown, so that the
/// next model of the chain can answer instead. Once events flow, the attempt never throws: it ends, and
/// <see cref="Finished"/> says whether the provider said it was done.
/// </remarks>
internal interface IUpstreamCall : IAsyncDisposable
{
    /// <summary>Sends the request without streaming and returns the answer.</summary>
    Task<UpstreamAnswer> CompleteAsync(CancellationToken ct);

    /// <summary>
    /// Streams the answer as server-sent events in the client's format, each item one or more whole events, ready to
    /// write. The events that close a stream (OpenAI's usage chunk and <c>data: [DONE]</c>; Anthropic's
    /// <c>message_delta</c> and <c>message_stop</c>) are held back: <see cref="Closing"/> writes them once the call is paid.
    /// </summary>
    IAsyncEnumerable<ReadOnlyMemory<byte>> StreamAsync(CancellationToken ct);

    /// <summary>After <see cref="StreamAsync"/>: whether the provider finished (a finish reason and a clean end), not cut or stopped.</summary>
    bool Finished { get; }

    /// <summary>After <see cref="StreamAsync"/>: the finish reason as the client's format names it (<c>stop</c>, <c>end_turn</c>…), if any.</summary>
    string? FinishReason { get; }

    /// <summary>What was delivered to the client so far: text and tool-call arguments, for counting a cut answer.</summary>
    string DeliveredText { get; }

    /// <summary>The provider's reported input tokens, once it said them.</summary>
    long? InputTokens { get; }

    /// <summary>The provider's reported output tokens, once it said them.</summary>
    long? OutputTokens { get; }

    /// <summary>The events that end a finished stream, with the usage charged.</summary>
    ReadOnlyMemory<byte> Closing(long inputTokens, long outputTokens);
}

/// <summary>One wire format: how its requests are read, how its models are called, and how its errors look.</summary>
internal interface IWireFormat
{
    WireFormat Format { get; }

    /// <summary>Reads and validates a request body; a 400 <see cref="Infrastructure.Errors.ProblemException"/> naming the field when it is not valid.</summary>
    GatewayChatRequest Parse(JsonObject body);

    /// <summary>An attempt at <paramref name="target"/>, asking for at most <paramref name="maxOutputTokens"/>.</summary>
    IUpstreamCall Open(GatewayChatRequest request, ModelTarget target, int maxOutputTokens);

    /// <summary>An error body in this format (OpenAI <c>{"error":{…}}</c>, Anthropic <c>{"type":"error","error":{…}}</c>).</summary>
    ReadOnlyMemory<byte> ErrorBody(ProblemDetails problem);

    /// <summary>An error as a server-sent event, ending a stream that was cut: clients raise it instead of returning a success.</summary>
    ReadOnlyMemory<byte> ErrorEvent(ProblemDetails problem);
}
