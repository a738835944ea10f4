namespace AiHub.Gateway;

public static class GatewayExtensions
{
    /// <summary>The OpenAI- and Anthropic-compatible <c>/v1</c> API over the same providers, keys and credits as Chat.</summary>
    public static IHostApplicationBuilder AddGateway(this IHostApplicationBuilder builder)
    {
        Calls.GatewayCallsExtensions.Add(builder);
        return builder;
    }

    public static IEndpointRouteBuilder MapGatewayEndpoints(this IEndpointRouteBuilder app)
    {
        Calls.GatewayCallsExtensions.Map(app);
        return app;
    }
}
