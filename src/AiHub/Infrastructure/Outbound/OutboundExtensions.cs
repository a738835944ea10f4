using AiHub.Infrastructure.Configuration;

namespace AiHub.Infrastructure.Outbound;

internal static class OutboundExtensions
{
    /// <summary>The outbound policy and its named client, <see cref="OutboundPolicy.ClientName"/>.</summary>
    public static IServiceCollection AddOutbound(this IServiceCollection services)
    {
        services.AddSettings<OutboundSettings>(OutboundSettings.Section);
        services.AddSingleton<OutboundNetwork>();
        services.AddSingleton<OutboundPolicy>();
        services.AddHttpClient(OutboundPolicy.ClientName).UseOutboundPolicy();
        return services;
    }

    /// <summary>Sends this client's requests through the outbound policy: for every URL a tenant supplies.</summary>
    public static IHttpClientBuilder UseOutboundPolicy(this IHttpClientBuilder builder) => builder
        .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<OutboundPolicy>().CreateHandler())
        .ConfigureHttpClient((sp, client) => sp.GetRequiredService<OutboundPolicy>().Configure(client));
}
