using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using AiHub.Chat.Engine;
using AiHub.Chat.Providers;
using AiHub.Gateway.Translation;
using Microsoft.AspNetCore.Mvc;

namespace AiHub.Gateway.Completions;

/// <summary>OpenAI's Chat Completions, <c>POST /v1/chat/completions</c>: passed through to providers that speak it, translated for the others.</summary>
internal sealed class OpenAIWire(IHttpClientFactory clients) : IWireFormat
{
    readonly ConcurrentDictionary<Uri, Uri> _endpoints = new();

    public WireFormat Format => WireFormat.OpenAI;

    public GatewayChatRequest Parse(JsonObject body) => OpenAIRequest.Parse(body);

    public IUpstreamCall Open(GatewayChatRequest request, ModelTarget target, int maxOutputTokens)
    {
        if (target.Kind is not (ProviderKinds.OpenAI or ProviderKinds.OpenAICompatible or ProviderKinds.Gemini) || target.Source is not { } source)
            return TranslatedCalls.ToOpenAI(request, target, maxOutputTokens);
        var body = Upstream(request, target, maxOutputTokens);
        var endpoint = _endpoints.GetOrAdd(source.BaseUrl, url => new Uri(url.AbsoluteUri.TrimEnd('/') + "/chat/completions"));
        return new OpenAIPassthrough(clients.CreateClient(source.ClientName), endpoint, source.ApiKey, body, request.Stream && request.IncludeUsage,
            target.DisplayName, target.TenantSupplied);
    }

    /// <summary>
    /// The client's body for <paramref name="target"/>: its model id, the output cap the hold covers (OpenAI's own API
    /// takes <c>max_completion_tokens</c>, the compatible servers <c>max_tokens</c>), and usage asked for on a stream so
    /// the call can be settled at the provider's count.
    /// </summary>
    static byte[] Upstream(GatewayChatRequest request, ModelTarget target, int maxOutputTokens)
    {
        var body = request.Body;
        body["model"] = target.Model;
        body.Remove("max_tokens");
        body.Remove("max_completion_tokens");
        body[target.Kind == ProviderKinds.OpenAI ? "max_completion_tokens" : "max_tokens"] = maxOutputTokens;
        if (request.Stream)
        {
            if (body["stream_options"] is JsonObject options)
                options["include_usage"] = true;
            else
                body["stream_options"] = new JsonObject { ["include_usage"] = true };
        }
        return JsonSerializer.SerializeToUtf8Bytes(body);
    }

    public ReadOnlyMemory<byte> ErrorBody(ProblemDetails problem) => OpenAIErrors.Body(problem);

    public ReadOnlyMemory<byte> ErrorEvent(ProblemDetails problem) => OpenAIErrors.Event(problem);
}
