namespace AiHub.Gateway.Anthropic;

/// <summary>Registers Anthropic's Messages format with the gateway, which serves it at <c>POST /v1/messages</c>.</summary>
internal static class GatewayAnthropic
{
    public static void Add(IHostApplicationBuilder builder)
    {
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddSingleton<IWireFormat, AnthropicWire>();
    }
}
