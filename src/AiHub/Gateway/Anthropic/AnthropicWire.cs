using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Chat.Engine;
using AiHub.Chat.Providers;
using AiHub.Gateway.Translation;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Gateway.Anthropic;

/// <summary>Anthropic's Messages format: <c>POST /v1/messages</c>, to any provider.</summary>
internal sealed class AnthropicWire(IHttpClientFactory httpClients, IHttpContextAccessor context) : IWireFormat
{
    public WireFormat Format => WireFormat.Anthropic;

    public GatewayChatRequest Parse(JsonObject body) => AnthropicRequests.Parse(body);

    /// <summary>A Claude model gets the client's own body; any other provider is spoken to through its chat client and answered in Anthropic's shape.</summary>
    public IUpstreamCall Open(GatewayChatRequest request, ModelTarget target, int maxOutputTokens)
    {
        if (target.Kind != ProviderKinds.Anthropic || target.Source is not { } source)
            return TranslatedCalls.ToAnthropic(request, target, maxOutputTokens);
        // The client's API version and betas go up unchanged: the body it wrote may rely on them.
        var headers = context.HttpContext?.Request.Headers;
        return new AnthropicPassthroughCall(httpClients.CreateClient(source.ClientName), source, request.Body, target.Model, target.DisplayName, maxOutputTokens,
            Header(headers, "anthropic-version"), Header(headers, "anthropic-beta"));
    }

    public ReadOnlyMemory<byte> ErrorBody(ProblemDetails problem)
    {
        var output = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(output, Translation.Rendered.Writer))
        {
            AnthropicEvents.WriteError(json, problem);
        }
        return output.WrittenMemory;
    }

    /// <summary><c>event: error</c>, which the Anthropic SDKs raise as an exception instead of returning a message.</summary>
    public ReadOnlyMemory<byte> ErrorEvent(ProblemDetails problem)
    {
        var output = new ArrayBufferWriter<byte>(256);
        AnthropicEvents.Write(output, "error"u8, json => AnthropicEvents.WriteError(json, problem));
        return output.WrittenMemory;
    }

    static string? Header(IHeaderDictionary? headers, string name) =>
        headers is not null && headers.TryGetValue(name, out var value) && value.Count > 0 && !string.IsNullOrWhiteSpace(value[0]) ? value.ToString() : null;
}
