using AiHub.Gateway.Completions;
using AiHub.Infrastructure.Configuration;
using AiHub.Organizations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace AiHub.Gateway.Calls;

/// <summary>The chat endpoints of <c>/v1</c> (OpenAI's Chat Completions and Anthropic's Messages) and the errors of every <c>/v1</c> path.</summary>
internal static class GatewayCallsExtensions
{
    public static void Add(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<GatewaySettings>(GatewaySettings.Section);
        services.AddSingleton<RouteCache>();
        services.AddSingleton<GatewayCalls>();
        services.AddSingleton<IWireFormat, OpenAIWire>();
        // First of the writers, so that it answers for /v1 before the default ones (it declines every other path).
        services.Insert(0, ServiceDescriptor.Singleton<IProblemDetailsWriter, GatewayProblemWriter>());
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        var limit = app.ServiceProvider.GetRequiredService<IOptions<GatewaySettings>>().Value.MaxRequestBytes;
        // The key is checked by the handler, so that a refusal is written in the caller's wire format.
        var v1 = app.MapGroup(GatewayProblems.Prefix).AllowAnonymous().WithMetadata(ApiKeysAllowedMetadata.Instance, new RequestSizeLimitAttribute(limit))
            .ExcludeFromDescription();
        v1.MapPost("/chat/completions", (HttpContext http, GatewayCalls calls) => calls.RunAsync(http, WireFormat.OpenAI));
        v1.MapPost("/messages", (HttpContext http, GatewayCalls calls) => calls.RunAsync(http, WireFormat.Anthropic));
    }
}
