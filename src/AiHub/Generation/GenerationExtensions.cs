using AiHub.Generation.Catalog;
using AiHub.Generation.Jobs;
using AiHub.Generation.Providers;
using AiHub.Infrastructure.Configuration;
using AiHub.Infrastructure.Jobs;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;

namespace AiHub.Generation;

public static class GenerationExtensions
{
    /// <summary>Image and video generation: durable jobs against OpenAI-style providers, held and charged in credits, kept in the blob store.</summary>
    public static IHostApplicationBuilder AddGeneration(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSettings<GenerationSettings>(GenerationSettings.Section);
        services.AddScoped<GenerationPrices>();
        services.AddScoped<GenerationModels>();
        services.AddScoped<Generations>();
        services.AddScoped<GenerationCallbacks>();
        services.AddSingleton<GenerationProgress>();
        services.AddSingleton<GenerationThumbnails>();
        services.AddScoped<IWorkHandler, GenerationWork>();
        services.AddScoped<GenerationFinish>();
        services.AddScoped<IWorkHandler>(sp => sp.GetRequiredService<GenerationFinish>());
        services.AddHttpClient();
        services.AddSingleton<IConfigureOptions<HttpClientFactoryOptions>, GenerationHttpClients>();
        services.AddSingleton<IGenerationProvider, OpenAiVideoProvider>();
        services.AddSingleton<IGenerationProvider, OpenAiImageProvider>();
        return builder;
    }

    public static IEndpointRouteBuilder MapGenerationEndpoints(this IEndpointRouteBuilder app)
    {
        GenerationEndpoints.MapGenerationRoutes(app);
        GenerationPriceEndpoints.MapGenerationPriceRoutes(app);
        app.MapHub<GenerationHub>(GenerationHub.Path);
        return app;
    }
}
