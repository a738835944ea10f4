using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using AiHub.Chat.Engine;
using AiHub.Gateway.Completions;
using Microsoft.Extensions.AI;

namespace AiHub.Gateway.Translation;

/// <summary>Calls to a provider of the other wire format, through its <see cref="Microsoft.Extensions.AI.IChatClient"/>.</summary>
internal static class TranslatedCalls
{
    /// <summary>An attempt at a non-OpenAI provider (Anthropic), answered in OpenAI's Chat Completions format.</summary>
    public static IUpstreamCall ToOpenAI(GatewayChatRequest request, ModelTarget target, int maxOutputTokens) =>
        new TranslatedCall(request, target, maxOutputTokens, new OpenAIRendering(
            "chatcmpl-" + Guid.NewGuid().ToString("N"), TimeProvider.System.GetUtcNow().ToUnixTimeSeconds(), target.Model, request.IncludeUsage));

    /// <summary>An attempt at a non-Anthropic provider (OpenAI, Gemini, OpenAI-compatible), answered in Anthropic's Messages format.</summary>
    public static IUpstreamCall ToAnthropic(GatewayChatRequest request, ModelTarget target, int maxOutputTokens) =>
        new TranslatedCall(request, target, maxOutputTokens, new AnthropicRendering("msg_" + Guid.NewGuid().ToString("N"), target.Model));
}

/// <summary>How answers in Microsoft.Extensions.AI terms are written in one wire format.</summary>
internal interface IRendering
{
    /// <summary>A whole answer as the format's JSON.</summary>
    ReadOnlyMemory<byte> Whole(ChatResponse response);

    /// <summary>The events one streamed update makes, appended to <paramref name="output"/>; nothing for an update with nothing to say.</summary>
    void Update(ChatResponseUpdate update, IBufferWriter<byte> output);

    /// <summary>The format's finish reason for the one Microsoft.Extensions.AI reported.</summary>
    string FinishReason(ChatFinishReason reason);

    /// <summary>The events that end a finished stream, with the usage charged.</summary>
    ReadOnlyMemory<byte> Closing(long inputTokens, long outputTokens);
}

/// <summary>
/// One attempt through the provider's chat client, rendered in the client's format. The tools go as declarations, which
/// the client's function invocation never runs: their calls come back for the caller to run, as the wire formats promise.
/// </summary>
internal sealed class TranslatedCall(GatewayChatRequest request, ModelTarget target, int maxOutputTokens, IRendering rendering) : IUpstreamCall
{
    /// <summary>Where a request's end-user id (Anthropic's <c>metadata.user_id</c>) waits in the options for a provider that takes one.</summary>
    public const string EndUser = "user";

    readonly StringBuilder _delivered = new();

    public bool Finished { get; private set; }

    public string? FinishReason { get; private set; }

    public string DeliveredText => _delivered.ToString();

    public long? InputTokens { get; private set; }

    public long? OutputTokens { get; private set; }

    public async Task<UpstreamAnswer> CompleteAsync(CancellationToken ct)
    {
        var response = await target.Client.GetResponseAsync(request.Messages, Options(), ct);
        foreach (var message in response.Messages)
            foreach (var content in message.Contents)
                Deliver(content);
        Count(response.Usage);
        FinishReason = response.FinishReason is { } reason ? rendering.FinishReason(reason) : null;
        Finished = true;
        return new UpstreamAnswer(rendering.Whole(response), DeliveredText, InputTokens, OutputTokens, FinishReason);
    }

    public async IAsyncEnumerable<ReadOnlyMemory<byte>> StreamAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var output = new ArrayBufferWriter<byte>(1024);
        var started = false;
        var finish = (ChatFinishReason?)null;
        var updates = target.Client.GetStreamingResponseAsync(request.Messages, Options(), ct).GetAsyncEnumerator(ct);
        try
        {
            while (true)
            {
                bool more;
                try
                {
                    more = await updates.MoveNextAsync();
                }
                catch (Exception) when (started)
                {
                    // Once the client has content, a cut is not thrown: the call ends unfinished and the client gets an error event.
                    yield break;
                }
                if (!more)
                    break;
                var update = updates.Current;
                foreach (var content in update.Contents)
                    if (content is UsageContent usage)
                        Count(usage.Details);
                    else
                        Deliver(content);
                finish = update.FinishReason ?? finish;
                rendering.Update(update, output);
                if (output.WrittenCount == 0)
                    continue;
                started = true;
                yield return output.WrittenSpan.ToArray();
                output.ResetWrittenCount();
            }
        }
        finally
        {
            await DisposeQuietlyAsync(updates);
        }
        if (finish is { } reason)
        {
            FinishReason = rendering.FinishReason(reason);
            Finished = true;
        }
        else if (!started)
            throw new UpstreamFailedException($"{target.DisplayName} ended its stream without an answer.");
    }

    public ReadOnlyMemory<byte> Closing(long inputTokens, long outputTokens) => rendering.Closing(inputTokens, outputTokens);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The client's options for this model, with the output cap the call was held for.</summary>
    ChatOptions Options()
    {
        var options = request.Options.Clone();
        options.ModelId = target.Model;
        options.MaxOutputTokens = maxOutputTokens;
        if (options.AdditionalProperties?.TryGetValue(EndUser, out var value) == true && value is string user)
        {
            options.AdditionalProperties.Remove(EndUser);
            // OpenAI's end-user id is a field the abstraction does not model; an Anthropic client reads no such raw options.
            var earlier = options.RawRepresentationFactory;
            options.RawRepresentationFactory = client =>
            {
                var raw = earlier?.Invoke(client);
                if (client.GetService<OpenAI.Chat.ChatClient>() is null)
                    return raw;
                var completion = raw as OpenAI.Chat.ChatCompletionOptions ?? new OpenAI.Chat.ChatCompletionOptions();
                completion.EndUserId = user;
                return completion;
            };
        }
        return options;
    }

    void Deliver(AIContent content)
    {
        switch (content)
        {
            case TextContent text:
                _delivered.Append(text.Text);
                break;
            case FunctionCallContent call:
                _delivered.Append(call.Name).Append(' ').Append(Rendered.Arguments(call));
                break;
        }
    }

    void Count(UsageDetails? usage)
    {
        if (usage is null)
            return;
        // Added up as the chat engine does: a client that reports usage in parts reports each part once.
        if (usage.InputTokenCount is { } input)
            InputTokens = (InputTokens ?? 0) + input;
        if (usage.OutputTokenCount is { } output)
            OutputTokens = (OutputTokens ?? 0) + output;
    }

    static async ValueTask DisposeQuietlyAsync(IAsyncEnumerator<ChatResponseUpdate> updates)
    {
        try
        {
            await updates.DisposeAsync();
        }
        catch (Exception)
        {
            // A broken connection can throw again while it is torn down; the attempt's outcome is already decided.
        }
    }
}
