using AiHub.Infrastructure.Blobs;
using AiHub.Infrastructure.Caching;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Errors;
using AiHub.Infrastructure.Health;
using AiHub.Infrastructure.Hosting;
using AiHub.Infrastructure.Json;
using AiHub.Infrastructure.Logging;
using AiHub.Infrastructure.OpenApi;
using AiHub.Infrastructure.Outbound;
using AiHub.Infrastructure.RateLimiting;
using AiHub.Infrastructure.Realtime;
using AiHub.Infrastructure.Redis;
using AiHub.Infrastructure.Security;
using AiHub.Infrastructure.Telemetry;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Scalar.AspNetCore;

namespace AiHub.Infrastructure;

public static class InfrastructureExtensions
{
    /// <summary>Configuration sources, logs, telemetry, error responses, health, Redis, the outbound policy and the OpenAPI document.</summary>
    public static IHostApplicationBuilder AddInfrastructure(this IHostApplicationBuilder builder)
    {
        builder.Configuration.AddShippedSettings(builder.Environment.ContentRootPath);
        builder.Configuration.AddAiHubEnvironmentVariables();
        builder.Logging.AddAiHubConsole();
        builder.AddTelemetry();
        var services = builder.Services;
        services.TryAddSingleton(TimeProvider.System);
        services.AddSettings<SecuritySettings>(SecuritySettings.Section);
        services.AddSettings<PublicUrlSettings>(PublicUrlSettings.Section);
        services.AddApiJson();
        services.AddProblemResponses();
        services.AddRedis();
        services.AddOutbound();
        services.AddCaching();
        services.AddBlobs();
        builder.AddRealtime();
        services.AddSingleton<RateCounter>();
        services.AddHealth();
        services.AddApiDocument();
        return builder;
    }

    public static WebApplication UseInfrastructure(this WebApplication app)
    {
        app.UseForwardedHeadersWhenEnabled();
        app.UseRequestSummary();
        if (!app.Environment.IsDevelopment())
            app.UseHsts();
        app.UseSecurityHeaders();
        app.UseProblemResponses();
        // Routing after the status-code pages, so that a re-executed request (the not-found page) is routed again.
        app.UseRouting();
        app.UseNotFoundForUnknownPaths();
        app.UseRequestBodyLimits();
        app.UseWebSockets();
        app.UseAuthentication();
        app.UseCrossSiteRequestCheck();
        app.UseAuthorization();
        app.UsePrometheusWhenEnabled();
        return app;
    }

    public static IEndpointRouteBuilder MapInfrastructureEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapHealthEndpoints();
        app.MapOpenApi("/openapi/{documentName}.json");
        // Self-hosted means no calls home: no hosted fonts, AI agent, MCP upsell or telemetry from the reference UI.
        app.MapScalarApiReference("/docs", options => options
            .WithTitle("AiHub API")
            .DisableDefaultFonts()
            .DisableAgent()
            .DisableMcp()
            .DisableTelemetry()
            .HideDeveloperTools());
        return app;
    }
}
