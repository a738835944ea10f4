using AiHub.Chat.Engine;
using AiHub.Infrastructure.Errors;

namespace AiHub.Gateway.Translation;

/// <summary>Calls to a provider of the other wire format, through its <see cref="Microsoft.Extensions.AI.IChatClient"/>.</summary>
internal static class TranslatedCalls
{
    /// <summary>An attempt at a non-OpenAI provider (Anthropic), answered in OpenAI's Chat Completions format.</summary>
    public static IUpstreamCall ToOpenAI(GatewayChatRequest request, ModelTarget target, int maxOutputTokens) =>
        throw new ProblemException(StatusCodes.Status501NotImplemented, "Not translated yet.", $"{target.Kind} through /v1/chat/completions");

    /// <summary>An attempt at a non-Anthropic provider (OpenAI, Gemini, OpenAI-compatible), answered in Anthropic's Messages format.</summary>
    public static IUpstreamCall ToAnthropic(GatewayChatRequest request, ModelTarget target, int maxOutputTokens) =>
        throw new ProblemException(StatusCodes.Status501NotImplemented, "Not translated yet.", $"{target.Kind} through /v1/messages");
}
